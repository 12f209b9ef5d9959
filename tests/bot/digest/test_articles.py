"""Article health: per help-centre article, citing replies, confirmed defects, stale findings, age."""

from __future__ import annotations

import datetime as dt

from bot.core.db import Database
from bot.digest.articles import article_health
from tests.bot.export.defect_data import NOW, seed_defects


async def test_article_health_counts_citing_replies_defects_and_stale_findings(db: Database) -> None:
    await seed_defects(db)
    async with db.engine.connect() as conn:
        health = await article_health(conn, now=NOW)
        later = await article_health(conn, now=NOW, since=NOW + dt.timedelta(days=1))
    assert later == []
    old, fresh = health  # the one to fix first first
    assert (old.article, old.replies, old.defects, old.stale) == ("kb-12", 2, 2, 2)
    assert old.updated == dt.date(2025, 1, 2) and old.age_days == (NOW.date() - dt.date(2025, 1, 2)).days
    assert old.url == "https://help.example/kb-12" and old.needs_fixing
    # R-1 (defect) and R-3 (correct) cite kb-30; R-4's withdrawn defect cites nothing
    assert (fresh.article, fresh.replies, fresh.defects, fresh.stale, fresh.age_days) == (
        "kb-30",
        2,
        1,
        0,
        26,
    )
