"""`auditbot checks`: each kind's volume and measured precision, as a table or JSON lines."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.core.db import Database


async def _migrate(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    await db.dispose()


def test_lists_every_kind_and_says_which_are_muted(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_migrate(database_url))
    config = tmp_path / "auditbot.toml"
    config.write_text('[detectors]\nmute = ["plan_mismatch"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AUDITBOT_CONFIG", str(config))
    assert main(["checks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:4] == ["kind", "findings", "all", "time"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"placeholder_leak", "duplicate_reply", "name_mismatch", "plan_mismatch", "stale_kb"}
    assert rows["plan_mismatch"].endswith("muted") and not rows["stale_kb"].endswith("muted")
    assert main(["checks", "--format", "jsonl", "--days", "30"]) == 0
    rows_json = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows_json[0] == {
        "kind": "placeholder_leak",
        "findings": 0,
        "findings_all_time": 0,
        "judged": 0,
        "confirmed": 0,
        "precision": None,
        "low": None,
        "high": None,
        "muted": False,
    }
