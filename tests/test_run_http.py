"""`auditbot run --http` as a real process against the fake Slack: challenge, signatures, health."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.core.db import Database
from tests.conftest import SIGNING_SECRET, fresh_database_url
from tests.fakes.signing import SlackSigner, block_actions_payload, url_verification
from tests.fakes.slack_api import FakeSlack
from tests.processes import Bot, free_port, run_cli
from tests.processes import bot_env as process_env


@pytest.fixture(scope="module")
def module_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def module_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture
def bot_env(fake_slack: FakeSlack, database_url: str) -> dict[str, str]:
    return process_env(fake_slack, database_url)


@pytest.fixture(scope="module")
def running_bot(
    module_slack: FakeSlack, module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One bot for the module, as `auditbot run --http`, its database migrated as the README says."""
    env = process_env(module_slack, module_db_url)
    tmp_path = tmp_path_factory.mktemp("run")
    upgraded = run_cli("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    env["PORT"] = str(free_port())
    bot = Bot(["run", "--http", "--host", "127.0.0.1", "--no-scheduler"], env, tmp_path)
    try:
        asyncio.run(bot.listening())
        yield bot.url
    finally:
        asyncio.run(bot.stop())
        assert "xoxb-" not in bot.log(), "a token was logged"
        assert SIGNING_SECRET not in bot.log(), "the signing secret was logged"


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
    result = run_cli("run", "--http", env=bot_env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SLACK_BOT_TOKEN" in lines[0] and "README" in lines[0]
