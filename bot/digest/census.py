"""The census: what the automatic checks found on *all* replies of each week, per kind, with its trend.

Unlike the defect rate (estimated from the reviewed sample), these are counts over every reply
created in the week (team time zone): replies with a finding of each kind, replies with any
finding, and all replies, for the digest's week and the TREND_WEEKS - 1 before it. A finding is
what a check matched, not a confirmed defect: bot.digest.checks says how often reviewers confirmed
each kind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.core import weeks
from bot.core.detectors import DETECTOR_KINDS
from bot.core.models import Finding, Reply

R, F = Reply.__table__, Finding.__table__
TREND_WEEKS = 8


@dataclass(frozen=True)
class KindCount:
    kind: str
    counts: list[int]  # replies with a finding of this kind, per week of Census.weeks


@dataclass(frozen=True)
class Census:
    weeks: list[str]  # oldest first, ending with the digest's week
    replies: list[int]  # all replies created in each week
    flagged: list[int]  # replies with at least one finding
    kinds: list[KindCount]  # the five checks, then team rules seen; most found this week first

    @property
    def week_replies(self) -> int:
        return self.replies[-1]

    def share(self, counts: list[int], index: int = -1) -> float | None:
        """counts[index] as a share of that week's replies."""
        return counts[index] / self.replies[index] if self.replies[index] else None


def _week_index(created: sa.ColumnElement, edges: list[dt.datetime]) -> sa.ColumnElement[int]:
    """0 for the first week, … TREND_WEEKS - 1 for the last, by the week's [start, end) in UTC."""
    whens = [(created < edge, i) for i, edge in enumerate(edges[1:-1])]
    return sa.case(*whens, else_=len(edges) - 2)


async def week_census(
    session: AsyncSession | AsyncConnection, week: str, tz: ZoneInfo, trend_weeks: int = TREND_WEEKS
) -> Census:
    """The census of `week` and the weeks before it.

    Replies are counted week by week, each a range of the `created_at` index (one statement); the
    findings through the flagged replies only (every reply with a finding is flagged, and `flagged`
    is in that index), so neither reads the rows of the eight weeks' replies.
    """
    labels = [weeks.shift(week, -back) for back in range(trend_weeks - 1, -1, -1)]
    edges = [weeks.bounds(label, tz)[0] for label in labels] + [weeks.bounds(week, tz)[1]]
    per_week = sa.union_all(
        *(
            sa.select(sa.literal(i).label("i"), sa.func.count().label("n"))
            .select_from(R)
            .where(R.c.created_at >= edges[i], R.c.created_at < edges[i + 1])
            for i in range(len(labels))
        )
    )
    replies = [0] * len(labels)
    for i, count in (await session.execute(per_week)).all():
        replies[int(i)] = int(count)
    index = _week_index(R.c.created_at, edges).label("i")
    flagged_in_range = sa.and_(R.c.flagged.is_(True), R.c.created_at >= edges[0], R.c.created_at < edges[-1])
    found = (
        sa.select(index, F.c.kind, sa.func.count())
        .select_from(R.join(F, F.c.reply_id == R.c.id))
        .where(flagged_in_range)
        .group_by(index, F.c.kind)
    )
    per_kind: dict[str, list[int]] = {kind: [0] * len(labels) for kind in DETECTOR_KINDS}
    for i, kind, count in (await session.execute(found)).all():
        per_kind.setdefault(kind, [0] * len(labels))[int(i)] = int(count)
    any_finding = (
        sa.select(index, sa.func.count(sa.distinct(F.c.reply_id)))
        .select_from(R.join(F, F.c.reply_id == R.c.id))
        .where(flagged_in_range)
        .group_by(index)
    )
    flagged = [0] * len(labels)
    for i, count in (await session.execute(any_finding)).all():
        flagged[int(i)] = int(count)
    builtin = {kind: n for n, kind in enumerate(DETECTOR_KINDS)}
    kinds = sorted(
        (KindCount(kind, counts) for kind, counts in per_kind.items()),
        key=lambda k: (-k.counts[-1], builtin.get(k.kind, len(builtin)), k.kind),
    )
    return Census(labels, replies, flagged, kinds)
