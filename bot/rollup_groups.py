"""Root-cause groups for the weekly rollup: the week's top groups, fixes, what is open, the catch.

See bot.rollup for the definitions; every function here is one grouped query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Defect, DefectGroup, Reply, Review, SampleItem

R, SI, RV, D, G = (m.__table__ for m in (Reply, SampleItem, Review, Defect, DefectGroup))

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
WITHDRAWN = "withdrawn"
LIST_LIMIT = 10


@dataclass(frozen=True)
class GroupLine:
    id: int
    title: str
    category: str
    severity: str
    status: str
    occurrences: int
    owner: str | None
    tracker_url: str | None
    tracker_key: str | None
    created_at: dt.datetime
    fixed_at: dt.datetime | None
    week_occurrences: int = 0
    affected: float = 0.0  # estimated replies like these that went out

    @property
    def time_to_fix(self) -> dt.timedelta | None:
        return self.fixed_at - self.created_at if self.fixed_at else None


@dataclass(frozen=True)
class OwnerLoad:
    owner: str | None
    groups: int
    occurrences: int
    oldest: dt.datetime


@dataclass(frozen=True)
class Catch:
    reviewer: str
    category: str
    severity: str
    note: str | None
    ticket_id: str
    group: GroupLine


@dataclass(frozen=True)
class Listing:
    """The first rows of a list and how many there are in all."""

    rows: list[GroupLine] = field(default_factory=list)
    total: int = 0


def count_if(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0)), 0)


def within(column: sa.ColumnElement, start: dt.datetime, end: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(column >= start, column < end)


_GROUP_COLUMNS = (
    G.c.id, G.c.title, G.c.category, G.c.severity, G.c.status, G.c.occurrences, G.c.owner,
    G.c.tracker_url, G.c.tracker_key, G.c.created_at, G.c.fixed_at,
)  # fmt: skip


def _line(row: sa.Row, **extra: object) -> GroupLine:
    return GroupLine(*row[: len(_GROUP_COLUMNS)], **extra)  # type: ignore[arg-type]


async def _listing(session: AsyncSession, stmt: sa.Select, *extra: str) -> Listing:
    """Rows of `stmt` (group columns, then `extra` columns, then the total) as a Listing."""
    rows = (await session.execute(stmt.add_columns(sa.func.count().over()).limit(LIST_LIMIT))).all()
    lines = [_line(row, **dict(zip(extra, row[len(_GROUP_COLUMNS) : -1], strict=True))) for row in rows]
    return Listing(lines, int(rows[0][-1]) if rows else 0)


async def top_groups(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> Listing:
    """Root-cause groups with an occurrence this week, most occurrences first."""
    week = (
        sa.select(D.c.group_id, sa.func.count().label("n"))
        .where(within(D.c.created_at, start, end), D.c.status != WITHDRAWN)
        .group_by(D.c.group_id)
        .subquery()
    )
    stmt = sa.select(*_GROUP_COLUMNS, week.c.n).join(week, week.c.group_id == G.c.id)
    stmt = stmt.order_by(G.c.occurrences.desc(), week.c.n.desc(), G.c.id)
    return await _listing(session, stmt, "week_occurrences")


async def fixes(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> Listing:
    """Groups fixed this week, in the order they were fixed."""
    stmt = sa.select(*_GROUP_COLUMNS).where(G.c.status == "fixed", within(G.c.fixed_at, start, end))
    return await _listing(session, stmt.order_by(G.c.fixed_at, G.c.id))


async def open_groups(session: AsyncSession) -> Listing:
    """Open groups, most occurrences first, then the oldest."""
    stmt = sa.select(*_GROUP_COLUMNS).where(G.c.status == "open")
    return await _listing(session, stmt.order_by(G.c.occurrences.desc(), G.c.created_at, G.c.id))


async def open_by_owner(session: AsyncSession) -> list[OwnerLoad]:
    stmt = (
        sa.select(G.c.owner, sa.func.count(), sa.func.sum(G.c.occurrences), sa.func.min(G.c.created_at))
        .where(G.c.status == "open")
        .group_by(G.c.owner)
    )
    rows = (await session.execute(stmt)).all()
    loads = [OwnerLoad(owner, int(n), int(occ or 0), _aware(oldest)) for owner, n, occ, oldest in rows]
    return sorted(loads, key=lambda load: (-load.groups, load.oldest))


async def affected_replies(session: AsyncSession, group_ids: set[int]) -> dict[int, float]:
    """Estimated replies like the ones caught, per group: Σ 1/π over its distinct sampled replies."""
    if not group_ids:
        return {}
    pairs = (
        sa.select(D.c.group_id, D.c.reply_id)
        .where(D.c.group_id.in_(sorted(group_ids)), D.c.status != WITHDRAWN)
        .distinct()
        .subquery()
    )
    weight = sa.func.sum(sa.literal(1.0) / SI.c.inclusion_prob)
    stmt = sa.select(pairs.c.group_id, weight).join(SI, SI.c.reply_id == pairs.c.reply_id)
    rows = await session.execute(stmt.group_by(pairs.c.group_id))
    return {group_id: float(total or 0.0) for group_id, total in rows.all()}


async def catch_of_the_week(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> Catch | None:
    rank = sa.case(SEVERITY_RANK, value=D.c.severity, else_=0)
    stmt = (
        sa.select(*_GROUP_COLUMNS, RV.c.reviewer, D.c.category, D.c.severity, RV.c.note, R.c.ticket_id)
        .select_from(D)
        .join(RV, RV.c.id == D.c.review_id)
        .join(G, G.c.id == D.c.group_id)
        .join(R, R.c.id == D.c.reply_id)
        .where(within(D.c.created_at, start, end), D.c.status != WITHDRAWN)
        .order_by(rank.desc(), G.c.occurrences.desc(), D.c.created_at, D.c.id)
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    reviewer, category, severity, note, ticket_id = row[len(_GROUP_COLUMNS) :]
    return Catch(reviewer, category, severity, note, ticket_id, _line(row))


def _aware(value: dt.datetime) -> dt.datetime:
    # aggregates (min) bypass the column type on SQLite and come back naive or as text
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
