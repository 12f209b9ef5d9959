"""`export articles`: article health (bot.digest.articles) as rows with stable columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from bot.core.db import Database
from bot.digest.articles import article_health

COLUMNS = ("article_id", "url", "updated_at", "age_days", "replies", "defects", "stale_findings")


async def article_rows(
    db: Database, since: dt.datetime | None, now: dt.datetime
) -> AsyncIterator[dict[str, Any]]:
    """One row per article cited by a reply created since `since`, the ones to fix first first."""
    async with db.engine.connect() as conn:
        health = await article_health(conn, now=now, since=since)
    for a in health:
        yield {
            "article_id": a.article,
            "url": a.url,
            "updated_at": a.updated.isoformat() if a.updated else None,
            "age_days": a.age_days,
            "replies": a.replies,
            "defects": a.defects,
            "stale_findings": a.stale,
        }
