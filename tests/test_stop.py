"""Stopping `auditbot run` (a real process): acknowledged work is finished, the lease released.

Twenty clicks are acknowledged, then the signal comes at once: the verdicts are recorded after
the ack, so most of them are still to be written when it arrives. And a token Slack refuses
stops the run before anything is served, with one line.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from bot.views import ids
from tests.fakes.signing import SlackSigner, block_actions_payload
from tests.fakes.slack_api import FakeSlack
from tests.processes import (
    STARTUP_DEADLINE_S,
    STOP_DEADLINE_S,
    Bot,
    bot_env,
    count_rows,
    free_port,
    message_ts,
    posted_items,
    run_cli,
    write_config,
)

CLICKS = 20
SLOW_EDIT_S = 0.3  # each verdict's message edit: the twenty take a few seconds after their acks


async def start(
    fake: FakeSlack, database_url: str, cwd: Path, *, socket_mode: bool, scheduler: bool = True
) -> Bot:
    env = bot_env(fake, database_url, PORT=str(free_port()), AUDITBOT_CONFIG=write_config(cwd))
    if socket_mode:
        env["SLACK_APP_TOKEN"] = fake.app_token
    assert run_cli("db", "upgrade", env=env, cwd=cwd).returncode == 0
    args = ["run", "--host", "127.0.0.1"] + ([] if scheduler else ["--no-scheduler"])
    bot = Bot(args, env, cwd)
    await bot.logged("connected to Slack over Socket Mode" if socket_mode else "listening on")
    return bot


async def lease_held(database_url: str) -> bool:
    return await count_rows(database_url, "leader_lease", "name = 'scheduler'") == 1


@pytest.mark.parametrize(
    ("mode", "signum"),
    [("socket", signal.SIGTERM), ("http", signal.SIGTERM), ("http", signal.SIGINT)],
    ids=["Socket Mode SIGTERM", "HTTP SIGTERM", "HTTP SIGINT"],
)
async def test_a_stop_finishes_twenty_acknowledged_clicks(
    fake_slack: FakeSlack, database_url: str, tmp_path: Path, mode: str, signum: int
) -> None:
    bot = await start(fake_slack, database_url, tmp_path, socket_mode=mode == "socket")
    try:
        items = await posted_items(fake_slack, database_url, CLICKS)
        await _until_lease(bot, database_url)
        fake_slack.slow_down("chat.update", SLOW_EDIT_S)
        stamps = [await message_ts(database_url, item) for item in items]
        clicks = [
            block_actions_payload(ids.VERDICT_CORRECT, str(item), message_ts=ts)
            for item, ts in zip(items, stamps, strict=True)
        ]
        if mode == "socket":
            acks = await asyncio.gather(*(fake_slack.socket.deliver("interactive", c) for c in clicks))
            assert all(ack.seconds < 3 for ack in acks)
        else:
            signer = SlackSigner(bot.url)
            answers = await asyncio.gather(*(signer.interaction(c) for c in clicks))
            assert [a.status_code for a in answers] == [200] * CLICKS
        took = await bot.stop(signum)
    finally:
        bot.kill()
    assert bot.proc.returncode == 0, bot.log()
    assert took < STOP_DEADLINE_S
    assert await count_rows(database_url, "reviews") == CLICKS
    assert not await lease_held(database_url), "the scheduler lease was left held"
    assert "stopping; no new work taken" in bot.log() and "stopped" in bot.lines[-1]


async def _until_lease(bot: Bot, database_url: str) -> None:
    """The scheduler takes the leader lease at start; wait for it (so the release is tested)."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while not await lease_held(database_url):
        assert bot.proc.poll() is None, bot.log()
        assert time.monotonic() < deadline, "the scheduler never took the leader lease"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("token", ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"])
def test_a_token_slack_refuses_stops_the_run_with_one_line(
    fake_slack: FakeSlack, database_url: str, tmp_path: Path, token: str
) -> None:
    env = bot_env(fake_slack, database_url, PORT=str(free_port()), SLACK_APP_TOKEN=fake_slack.app_token)
    env[token] = "xoxb-wrong" if token == "SLACK_BOT_TOKEN" else "xapp-1-wrong"
    result = run_cli("run", "--host", "127.0.0.1", env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert token in lines[0] and "invalid_auth" in lines[0] and "README" in lines[0]
    assert "xoxb-wrong" not in lines[0] and "xapp-1-wrong" not in lines[0]
    assert fake_slack.calls("apps.connections.open" if token == "SLACK_APP_TOKEN" else "auth.test")
