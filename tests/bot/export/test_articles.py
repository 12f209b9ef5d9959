"""`export articles`: article health per help-centre article, as CSV (defused) and JSONL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from bot.core.db import Database
from bot.core.models import Reply
from bot.export.tables import COLUMNS, write
from tests.bot.export.defect_data import NOW, seed_defects


async def test_export_articles_as_csv_and_jsonl(db: Database) -> None:
    await seed_defects(db)
    out = io.StringIO()
    assert await write(db, "articles", out, "csv", now=NOW) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == COLUMNS["articles"]
    assert rows[0] == {
        "article_id": "kb-12", "url": "https://help.example/kb-12", "updated_at": "2025-01-02",
        "age_days": str((NOW.date() - dt.date(2025, 1, 2)).days), "replies": "2", "defects": "2",
        "stale_findings": "2",
    }  # fmt: skip
    out = io.StringIO()
    await write(db, "articles", out, "jsonl", now=NOW)
    second = json.loads(out.getvalue().splitlines()[1])
    assert second["article_id"] == "kb-30" and second["defects"] == 1 and second["stale_findings"] == 0


async def test_a_formula_like_article_id_is_defused_in_csv(db: Database) -> None:
    await seed_defects(db)
    async with db.transaction() as session:
        reply = await session.get(Reply, 3)
        reply.kb_articles = [{"id": '=HYPERLINK("http://x")', "url": None}]  # type: ignore[union-attr]
    out = io.StringIO()
    await write(db, "articles", out, "csv", now=NOW)
    last = list(csv.reader(io.StringIO(out.getvalue())))[-1]
    assert last[0] == '\'=HYPERLINK("http://x")'  # read as text by a spreadsheet, not run
