"""`auditbot sample`: the dry run needs no token and stores nothing; a real run posts; bad input exits 2."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from bot.cli.main import main
from bot.core.db import Database
from bot.views.sample import BUILDER_URL
from tests.bot.sample.test_draw import add_replies
from tests.conftest import REPO
from tests.fakes.slack_api import FakeSlack

CONFIG = """
[slack]
audit_channel = "C0AUDIT"
reviewers = ["U0REV1"]
timezone = "Europe/Berlin"

[sampling]
size = {size}
"""


async def _prepare(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    await add_replies(db, dt.date(2026, 11, 26), 12)
    await db.dispose()


async def _count(url: str, table: str) -> int:
    db = Database(url)
    try:
        async with db.session() as session:
            return (await session.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()
    finally:
        await db.dispose()


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The CLI on a migrated database with 12 replies on Thu 26 Nov; no Slack token set."""
    asyncio.run(_prepare(database_url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "AUDIT_CHANNEL"):
        monkeypatch.delenv(name, raising=False)

    def configure(size: int = 5) -> None:
        path = tmp_path / "auditbot.toml"
        path.write_text(CONFIG.replace("{size}", str(size)))
        monkeypatch.setenv("AUDITBOT_CONFIG", str(path))

    configure()
    return configure


def messages_of(out: str) -> list[tuple[str, dict, dict]]:
    """(title, printed JSON, JSON decoded from the Builder link) for each printed message."""
    found = []
    for chunk in out.strip().split("\n\n"):
        title, rest = chunk.split("\n", 1)
        body, link = rest.rsplit("\nBlock Kit Builder: ", 1)
        assert link.startswith(BUILDER_URL)
        found.append((title, json.loads(body), json.loads(unquote(link.removeprefix(BUILDER_URL)))))
    return found


def test_dry_run_prints_block_kit_and_builder_links_and_stores_nothing(
    cli_env, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sample", "--date", "2026-11-27", "--dry-run", "--seed", "5"]) == 0
    printed = messages_of(capsys.readouterr().out)
    assert [title for title, _, _ in printed] == ["# header (dry run: not stored, seed 5)"] + [
        f"# item {n} of 5" for n in range(1, 6)
    ]
    for _, body, from_link in printed:
        assert body == from_link and body["blocks"]
    assert "5 of 12 AI replies from Thu 26 Nov" in json.dumps(printed[0][1], ensure_ascii=False)
    assert asyncio.run(_count(database_url, "sample_batches")) == 0
    # the same seed previews the same draw
    assert main(["sample", "--date", "2026-11-27", "--dry-run", "--seed", "5"]) == 0
    assert messages_of(capsys.readouterr().out) == printed


def test_dry_run_without_any_configuration_previews_anyway(
    cli_env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AUDITBOT_CONFIG")  # no auditbot.toml, no AUDIT_CHANNEL, no token
    Path("auditbot.toml").unlink()
    assert main(["sample", "--date", "2026-11-27", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "no audit channel configured" in captured.err
    printed = messages_of(captured.out)
    header = json.dumps(printed[0][1], ensure_ascii=False)
    # the default time zone is UTC: 11 replies on Thu 26 Nov, and the first frame also takes the
    # one created before (23:00 UTC on the 25th), which no sample covered
    assert "12 of 12 AI replies from Thu 26 Nov (incl. 1 created earlier, not sampled before)" in header
    assert len(printed) == 1 + 12  # default size 20
    assert main(["sample", "--date", "2026-11-27"]) == 2  # a real run still needs Slack


def test_a_reader_that_stops_early_is_not_a_failure(cli_env) -> None:  # type: ignore[no-untyped-def]
    """`auditbot sample --dry-run | head`: the pipe closes before the output is written."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sample", "--date", "2026-11-27", "--dry-run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before anything was printed
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_bad_seed_exits_2(cli_env, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "--dry-run", "--seed", str(2**31)]) == 2
    assert "--seed" in capsys.readouterr().err


def test_real_run_without_a_token_exits_2(cli_env, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "--date", "2026-11-27"]) == 2
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err


def test_real_run_posts_then_dry_run_shows_the_stored_batch(
    cli_env, database_url: str, fake_slack_env: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(size=1)  # header + one item: a single one-second pacing wait
    assert main(["sample", "--date", "2026-11-27", "--seed", "9"]) == 0
    out = capsys.readouterr().out
    assert "sample 2026-11-27 in C0AUDIT: 1 of 12 replies" in out and "1 posted" in out and "seed 9" in out
    assert len(fake_slack_env.messages("C0AUDIT")) == 2
    assert main(["sample", "--date", "2026-11-27"]) == 0  # already posted: nothing twice
    assert len(fake_slack_env.calls("chat.postMessage")) == 2
    capsys.readouterr()
    assert main(["sample", "--date", "2026-11-27", "--dry-run"]) == 0
    printed = messages_of(capsys.readouterr().out)
    assert printed[0][0].startswith("# header (stored batch") and len(printed) == 2
