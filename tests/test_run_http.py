"""`auditbot run --http` as a real process against the fake Slack: challenge, signatures, health."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.core.db import Database
from tests.conftest import REPO, SIGNING_SECRET, fresh_database_url
from tests.fakes.signing import SlackSigner, block_actions_payload, url_verification
from tests.fakes.slack_api import FakeSlack

STARTUP_DEADLINE_S = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _auditbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def module_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def module_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database_url(tmp_path_factory.mktemp("db"))


def _bot_env(fake_slack: FakeSlack, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AUDITBOT_"))}
    env.update(
        SLACK_API_URL=fake_slack.url,
        SLACK_BOT_TOKEN=fake_slack.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        DATABASE_URL=database_url,
        PYTHONPATH=str(REPO),
    )
    return env


@pytest.fixture
def bot_env(fake_slack: FakeSlack, database_url: str) -> dict[str, str]:
    return _bot_env(fake_slack, database_url)


@pytest.fixture(scope="module")
def running_bot(
    module_slack: FakeSlack, module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One bot for the module, as `auditbot run --http`, its database migrated as the README says."""
    bot_env = _bot_env(module_slack, module_db_url)
    tmp_path = tmp_path_factory.mktemp("run")
    upgraded = _auditbot("db", "upgrade", env=bot_env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    port = _free_port()
    bot_env["PORT"] = str(port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--http", "--host", "127.0.0.1", "--no-scheduler"],
        env=bot_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(base, proc)
        yield base
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
        assert "xoxb-" not in output, "a token was logged"
        assert SIGNING_SECRET not in output, "the signing secret was logged"


def _wait_until_listening(base: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"auditbot exited {proc.returncode}: {proc.stdout.read()}")  # type: ignore[union-attr]
        try:
            httpx.get(base + "/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)  # waiting for the port to open, not for a result
    raise AssertionError("auditbot did not start listening")


async def _row_counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.session() as session:
            counts = {}
            for table in ("reviews", "seen_events", "outbox", "replies"):
                counts[table] = (await session.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()
            return counts
    finally:
        await db.dispose()


async def test_url_verification_challenge(running_bot: str) -> None:
    response = await SlackSigner(running_bot).event(url_verification("c-hallenge-42"))
    assert response.status_code == 200
    assert "c-hallenge-42" in response.text


async def test_healthz(running_bot: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(running_bot + "/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "reachable"


@pytest.mark.parametrize(
    "options",
    [
        {"signature": ""},  # missing
        {"signature": "v0=" + "0" * 64},  # wrong
        {"timestamp": int(time.time()) - 6 * 60},  # six minutes old
    ],
    ids=["missing", "wrong", "stale"],
)
async def test_bad_signature_is_refused_and_writes_nothing(
    running_bot: str, module_slack: FakeSlack, module_db_url: str, options: dict
) -> None:
    before = await _row_counts(module_db_url)
    calls_before = len(module_slack.calls())
    signer = SlackSigner(running_bot)
    click = block_actions_payload(action_id="verdict_correct", value="1", user_id="U0REV1")
    for response in await asyncio.gather(
        signer.interaction(click, **options),
        signer.event(url_verification("nope"), **options),
    ):
        assert response.status_code == 401
        assert "nope" not in response.text
    assert await _row_counts(module_db_url) == before
    assert len(module_slack.calls()) == calls_before


def test_missing_token_stops_run_with_one_line(bot_env: dict[str, str], tmp_path: Path) -> None:
    del bot_env["SLACK_BOT_TOKEN"]
    result = _auditbot("run", "--http", env=bot_env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SLACK_BOT_TOKEN" in lines[0] and "README" in lines[0]
