"""Root-cause groups for the weekly rollup: the week's top groups, fixes, what is open, the catch.

See bot.rollup for the definitions; every function here is one grouped query.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Defect, DefectGroup, Reply, Review, SampleItem, UTCDateTime

R, SI, RV, D, G = (m.__table__ for m in (Reply, SampleItem, Review, Defect, DefectGroup))

# Statements are built once (functools.cache) with these parameters: building SQLAlchemy
# statements costs more than running most of these small queries.
START = sa.bindparam("start", type_=UTCDateTime())
END = sa.bindparam("end", type_=UTCDateTime())

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


@dataclass(frozen=True)
class GroupLists:
    """The week's top groups, its fixes, what is still open, and the open load per owner."""

    top: Listing
    fixes: Listing
    still_open: Listing
    by_owner: list[OwnerLoad]


def _first(lines: list[GroupLine]) -> Listing:
    return Listing(lines[:LIST_LIMIT], len(lines))


def span(start: dt.datetime, end: dt.datetime) -> dict[str, dt.datetime]:
    return {"start": start, "end": end}


@functools.cache
def _group_lists_stmt() -> sa.Select:
    week = (
        sa.select(D.c.group_id, sa.func.count().label("n"))
        .where(within(D.c.created_at, START, END), D.c.status != WITHDRAWN)
        .group_by(D.c.group_id)
        .subquery()
    )
    fixed_now = sa.and_(G.c.status == "fixed", within(G.c.fixed_at, START, END))
    return (
        sa.select(*_GROUP_COLUMNS, week.c.n)
        .outerjoin(week, week.c.group_id == G.c.id)
        .where(sa.or_(week.c.n.is_not(None), G.c.status == "open", fixed_now))
    )


async def group_lists(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> GroupLists:
    """Every group the digest lists, from one query.

    Those with an occurrence this week (most occurrences first), those fixed this week (in the
    order they were fixed), the open ones (most occurrences, then the oldest), and the open load
    per owner (most open groups, then the oldest).
    """
    rows = [
        (_line(row), int(row[-1] or 0))
        for row in (await session.execute(_group_lists_stmt(), span(start, end))).all()
    ]
    top = sorted(((line, n) for line, n in rows if n), key=lambda r: (-r[0].occurrences, -r[1], r[0].id))
    fixed = [line for line, _ in rows if line.status == "fixed" and start <= (line.fixed_at or end) < end]
    still_open = [line for line, _ in rows if line.status == "open"]
    owners: dict[str | None, list[GroupLine]] = {}
    for line in still_open:
        owners.setdefault(line.owner, []).append(line)
    loads = [
        OwnerLoad(owner, len(lines), sum(g.occurrences for g in lines), min(g.created_at for g in lines))
        for owner, lines in owners.items()
    ]
    return GroupLists(
        top=Listing([replace(line, week_occurrences=n) for line, n in top[:LIST_LIMIT]], len(top)),
        fixes=_first(sorted(fixed, key=lambda g: (g.fixed_at, g.id))),
        still_open=_first(sorted(still_open, key=lambda g: (-g.occurrences, g.created_at, g.id))),
        by_owner=sorted(loads, key=lambda load: (-load.groups, load.oldest)),
    )


async def affected_replies(session: AsyncSession, group_ids: set[int]) -> dict[int, float]:
    """Estimated replies like the ones caught, per group: Σ 1/π over its distinct sampled replies."""
    if not group_ids:
        return {}
    rows = await session.execute(_affected_stmt(), {"ids": sorted(group_ids)})
    return {group_id: float(total or 0.0) for group_id, total in rows.all()}


@functools.cache
def _affected_stmt() -> sa.Select:
    pairs = (
        sa.select(D.c.group_id, D.c.reply_id)
        .where(D.c.group_id.in_(sa.bindparam("ids", expanding=True)), D.c.status != WITHDRAWN)
        .distinct()
        .subquery()
    )
    # one index lookup per caught reply (a join would make PostgreSQL hash every sampled item)
    weight = sa.select(sa.literal(1.0) / SI.c.inclusion_prob).where(SI.c.reply_id == pairs.c.reply_id)
    return sa.select(pairs.c.group_id, sa.func.sum(weight.scalar_subquery())).group_by(pairs.c.group_id)


def with_affected(listing: Listing, affected: dict[int, float]) -> Listing:
    rows = [replace(line, affected=affected.get(line.id, 0.0)) for line in listing.rows]
    return Listing(rows, listing.total)


async def catch_of_the_week(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> Catch | None:
    row = (await session.execute(_catch_stmt(), span(start, end))).first()
    if row is None:
        return None
    reviewer, category, severity, note, ticket_id = row[len(_GROUP_COLUMNS) :]
    return Catch(reviewer, category, severity, note, ticket_id, _line(row))


@functools.cache
def _catch_stmt() -> sa.Select:
    rank = sa.case(SEVERITY_RANK, value=D.c.severity, else_=0)
    # pick the defect first, then read its review and reply: two row lookups, not a join of the week
    best = (
        sa.select(D.c.id)
        .join(G, G.c.id == D.c.group_id)
        .where(within(D.c.created_at, START, END), D.c.status != WITHDRAWN)
        .order_by(rank.desc(), G.c.occurrences.desc(), D.c.created_at, D.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return (
        sa.select(*_GROUP_COLUMNS, RV.c.reviewer, D.c.category, D.c.severity, RV.c.note, R.c.ticket_id)
        .select_from(D)
        .join(RV, RV.c.id == D.c.review_id)
        .join(G, G.c.id == D.c.group_id)
        .join(R, R.c.id == D.c.reply_id)
        .where(D.c.id == best)
    )
