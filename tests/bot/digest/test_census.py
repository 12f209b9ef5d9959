"""The census: what the checks found on every reply, per kind and week, in the team's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.core.config import DetectorsConfig
from bot.core.db import Database
from bot.digest.census import week_census
from bot.ingest.store import Checks, ingest
from tests.bot.replies import record, stale_article

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
# W48 runs from Sun 22 Nov 23:00 UTC (Berlin midnight) to Sun 29 Nov 23:00 UTC
W48 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


async def test_counts_per_kind_and_week_with_replies_and_flagged(db: Database) -> None:
    def at(moment: dt.datetime) -> float:
        return (moment - dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)).total_seconds() / 60

    leak = "Hi {{first_name}}, done."
    records = [
        record("A-1", ticket="T-1", minutes=at(W48), reply=leak),
        record(
            "A-2",
            ticket="T-2",
            minutes=at(W48 + dt.timedelta(days=1)),
            reply=leak,
            kb_articles=stale_article(),
        ),
        record("A-3", ticket="T-3", minutes=at(W48 + dt.timedelta(days=2))),
        # Sunday 29 Nov 23:30 UTC is Monday in Berlin: week 49, outside
        record("A-4", ticket="T-4", minutes=at(dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)), reply=leak),
        # Sunday 22 Nov 22:30 UTC is still Sunday in Berlin: week 47
        record("A-5", ticket="T-5", minutes=at(dt.datetime(2026, 11, 22, 22, 30, tzinfo=dt.UTC)), reply=leak),
    ]
    await ingest(db, records, checks=Checks.from_config(DetectorsConfig()), now=NOW)
    async with db.session() as session:
        census = await week_census(session, "2026-W48", BERLIN)
    assert census.weeks[-2:] == ["2026-W47", "2026-W48"] and len(census.weeks) == 8
    assert census.replies[-2:] == [1, 3] and census.flagged[-2:] == [1, 2]
    kinds = {k.kind: k.counts for k in census.kinds}
    assert kinds["placeholder_leak"][-2:] == [1, 2] and kinds["stale_kb"][-2:] == [0, 1]
    assert kinds["name_mismatch"] == [0] * 8  # every check is listed, found or not
    assert census.kinds[0].kind == "placeholder_leak"  # most found this week first
    assert census.share(kinds["placeholder_leak"]) == 2 / 3
