"""`auditbot report segments`: the week's segments as a table or JSON lines."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.core.db import Database
from bot.core.models import Reply
from tests.bot.digest_data import WEEK, Seeder


async def _seed(url: str) -> None:
    """W47: flagged cell N=40 (2 billing items, 1 defective), unflagged N=960 (billing ok, shipping bad)."""
    db = Database(url)
    await db.upgrade()
    async with db.transaction() as session:
        s = Seeder(session)
        mon = await s.batch(0, flagged=40, unflagged=960, drawn=(2, 2))
        items = [await s.item(mon, "flagged", prob=0.05) for _ in range(2)]
        items += [await s.item(mon, "unflagged", prob=2 / 960) for _ in range(2)]
        for item, intent in zip(items, ["billing", "billing", "billing", "shipping"], strict=True):
            reply = await session.get(Reply, item.reply_id)
            reply.intent = intent  # type: ignore[union-attr]
        await s.review(items[0], "U0REV1", "defect", severity="high", category="template_error")
        await s.review(items[1], "U0REV1", "correct")
        await s.review(items[2], "U0REV1", "correct")
        await s.review(items[3], "U0REV1", "defect", severity="low", category="tone")
    await db.dispose()


def test_report_segments_by_intent_prints_the_table(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_seed(database_url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AUDITBOT_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text('[slack]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    assert main(["report", "segments", "--week", WEEK, "--by", "intent"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Segments of {WEEK}")
    assert lines[1].split()[:4] == ["by", "segment", "reviewed", "defective"]
    rows = {line.split()[1]: line.split() for line in lines[2:]}
    assert set(rows) == {"billing", "shipping"}
    # shipping: its one unflagged item (weight 480) is defective: ≈ 480 of 480 replies, 100%
    assert rows["shipping"][:8] == ["intent", "shipping", "1", "1", "≈", "480", "of", "480"]
    assert "100.0%" in rows["shipping"] and rows["shipping"][-2:] == ["small", "n"]
    # billing: 20 of 40 flagged (weight 20 each) + 0 of 480 unflagged: 20 / 520
    assert rows["billing"][2:4] == ["3", "1"] and "3.8%" in rows["billing"]
    assert lines[2].split()[1] == "shipping"  # worst first

    assert main(["report", "segments", "--week", WEEK, "--format", "jsonl"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["by"] for row in out} == {"intent", "template", "channel", "article", "language"}
    billing = next(r for r in out if r["by"] == "intent" and r["segment"] == "billing")
    assert billing["rate"] == pytest.approx(20 / 520) and billing["small_n"] is True
    assert billing["low"] < billing["rate"] < billing["high"]


def test_report_needs_a_known_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", "segments", "--by", "colour"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err
