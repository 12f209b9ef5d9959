"""The digest's "Fixes verified": each fix whose verification ended in the week, or was still running
at its end (bot.defects.verification stores them in `fix_verifications`)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.core.models import DefectGroup, FixVerification
from bot.digest.rows import Executor
from bot.views.defect import link
from bot.views.verification import FixesSummary, FixLine, VerificationView

V, G = FixVerification.__table__, DefectGroup.__table__
ORDER = {"recurred": 0, "unverified": 1, "verified": 2, "verifying": 3}
TITLE_MAX = 120


async def fixes_of_week(
    session: Executor, *, start: dt.datetime, end: dt.datetime, min_reviews: int
) -> FixesSummary:
    """Verified / recurred / unverified in [start, end), and the windows still open at `end`."""
    stmt = (
        sa.select(V, G.c.title, G.c.tracker_url)
        .join(G, G.c.id == V.c.group_id)
        .where(
            V.c.status != "cancelled",
            V.c.started_at < end,
            sa.or_(V.c.decided_at.is_(None), V.c.decided_at >= start),
        )
        .order_by(V.c.id)
    )
    counts = dict.fromkeys(ORDER, 0)
    lines = []
    for row in (await session.execute(stmt)).mappings():
        decided = row["decided_at"] is not None and row["decided_at"] < end
        status = row["status"] if decided else "verifying"
        counts[status] += 1
        view = VerificationView(
            status, row["started_at"], row["ends_at"], row["segment"], min_reviews,
            row["traffic"], row["matches"], row["reviewed"], row["decided_at"] if decided else None,
        )  # fmt: skip
        title = row["title"][:TITLE_MAX]
        lines.append(FixLine(title, link(row["tracker_url"], title), view))
    lines.sort(key=lambda line: ORDER[line.verification.status])
    return FixesSummary(
        counts["verified"], counts["recurred"], counts["unverified"], counts["verifying"], lines
    )
