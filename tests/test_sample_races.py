"""One sample, whatever the trigger: real processes racing to post the same day's sample.

`auditbot run` (Socket Mode, scheduler on) catches up the day's scheduled run as it starts;
meanwhile two admins send `/audit sample`, Slack delivers one of those envelopes twice, and an
`auditbot sample` runs in a second process. Every message goes out once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from bot.core.config import DetectorsConfig
from bot.core.db import Database
from bot.core.records import ReplyRecord
from bot.ingest.store import Checks, ingest
from bot.sample.posting import HEADER_EVENT, ITEM_EVENT
from tests.fakes.signing import slash_command_form
from tests.fakes.slack_api import FakeSlack
from tests.processes import TEAM_CONFIG, Bot, bot_env, free_port, run_cli, write_config

SIZE = 3


def config_due_now() -> str:
    """Sampled every day at a time two minutes ago (UTC): the scheduler catches it up at start.

    The weekly digest is due tomorrow, so a run on the digest's own day does not catch it up too.
    """
    now = dt.datetime.now(dt.UTC)
    due = now - dt.timedelta(minutes=2)
    days = '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'
    tomorrow = (now + dt.timedelta(days=1)).strftime("%a").lower()
    return (
        TEAM_CONFIG
        + f'\n[sampling]\nsize = {SIZE}\ndays = {days}\nat = "{due:%H:%M}"\n'
        + f'\n[digest]\nday = "{tomorrow}"\n'
    )


async def yesterdays_replies(database_url: str, count: int = 12) -> None:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    records = [
        ReplyRecord(
            id=f"race-{n}", ticket_id=f"T-{n}", created_at=today - dt.timedelta(hours=6), reply=f"Hi {n}"
        )
        for n in range(count)
    ]
    db = Database(database_url)
    try:
        await ingest(db, records, checks=Checks.from_config(DetectorsConfig()), now=today)
    finally:
        await db.dispose()


async def test_every_trigger_at_once_posts_one_sample(
    fake_slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    env = bot_env(fake_slack, database_url, PORT=str(free_port()), SLACK_APP_TOKEN=fake_slack.app_token)
    env["AUDITBOT_CONFIG"] = write_config(tmp_path, config_due_now())
    assert run_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    await yesterdays_replies(database_url)
    bot = Bot(["run", "--host", "127.0.0.1"], env, tmp_path)
    try:
        await bot.logged("connected to Slack over Socket Mode")
        first = slash_command_form("/audit", "sample", user_id="U0ADMIN")
        second = slash_command_form("/audit", "sample", user_id="U0ADMIN2")
        cli = asyncio.create_task(asyncio.to_thread(run_cli, "sample", env=env, cwd=tmp_path))
        acks = await asyncio.gather(
            fake_slack.socket.deliver(
                "slash_commands", first, envelope_id="env-sample-1", accepts_response_payload=True
            ),
            fake_slack.socket.deliver("slash_commands", second, accepts_response_payload=True),
            fake_slack.socket.deliver(
                "slash_commands", first, envelope_id="env-sample-1", accepts_response_payload=True
            ),
        )
        other = await cli
        await bot.until(lambda: len(fake_slack.ephemerals("C0AUDIT")) >= 2, "both admins' confirmations")
        await bot.logged("job sample missed its last run: running it now")
    finally:
        await bot.stop()  # a clean stop lets the scheduler's run finish, if it is still going
    assert other.returncode == 0, other.stdout + other.stderr
    answered = [bool(a.payload and "Drawing" in a.payload.get("text", "")) for a in acks]
    assert sum(answered) == 2  # the repeated envelope was acknowledged and dropped
    posts = [c for c in fake_slack.calls("chat.postMessage") if c.ok]
    kinds = [
        (c.args["metadata"]["event_type"], tuple(c.args["metadata"]["event_payload"].values())) for c in posts
    ]
    assert sorted(k for k, _ in kinds) == sorted([HEADER_EVENT] + [ITEM_EVENT] * SIZE), (
        bot.log() + other.stdout + other.stderr
    )
    assert len(set(kinds)) == len(kinds) == SIZE + 1  # each message once
    assert len(fake_slack.messages("C0AUDIT")) == SIZE + 1
    assert {e["user"] for e in fake_slack.ephemerals("C0AUDIT")} == {"U0ADMIN", "U0ADMIN2"}
