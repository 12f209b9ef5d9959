"""Defects and root-cause groups for the weekly rollup: the figures and how to read their rows.

The week's defects by category, the top groups, fixes, what is open (each list's first rows and
its length), the open load per owner, the catch of the week, and the affected replies of every
group shown. Each is a SELECT with named columns that bot.digest.rollup sends, with the digest's other
figures, as one statement (bot.digest.rows). See bot.digest.rollup for the definitions.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from bot.core.models import Defect, DefectGroup, FrameCell, Reply, Review, SampleItem, UTCDateTime
from bot.digest.rows import Figures

R, SI, FC, RV, D, G = (m.__table__ for m in (Reply, SampleItem, FrameCell, Review, Defect, DefectGroup))

# Statements are built once (functools.cache) with these parameters: building SQLAlchemy
# statements costs more than running most of these small queries.
START = sa.bindparam("start", type_=UTCDateTime())
END = sa.bindparam("end", type_=UTCDateTime())

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
WITHDRAWN = "withdrawn"
DEFECT = "defect"  # an item's outcome when its verdicts find it defective
LIST_LIMIT = 10
# the figures' names, which tag their rows in the digest's statement
CATCH, CATEGORY, TOP, FIXES, OPEN, OWNER = "catch", "category", "top", "fixes", "open", "owner"


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
    affected: float = 0.0  # estimated replies like these that went out (the rate's weights)

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


@dataclass(frozen=True)
class GroupFigures:
    by_category: list[tuple[str, str, int]]  # (category, severity, defects filed in the week)
    top: Listing  # groups with an occurrence in the week, most occurrences first
    fixes: Listing  # fixed in the week, in the order they were fixed
    still_open: Listing  # most occurrences, then the oldest
    by_owner: list[OwnerLoad]  # most open groups, then the oldest
    catch: Catch | None


def count_if(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0)), 0)


def within(column: sa.ColumnElement, start: dt.datetime, end: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(column >= start, column < end)


def span(start: dt.datetime, end: dt.datetime) -> dict[str, dt.datetime]:
    return {"start": start, "end": end}


# A row of a list or of the catch: these columns, then `n` (the group's occurrences this week, on
# the top groups' rows only), `total` (the length of the list) and `affected`.
_GROUP_COLUMNS = (
    G.c.id, G.c.title, G.c.category, G.c.severity, G.c.status, G.c.occurrences, G.c.owner,
    G.c.tracker_url, G.c.tracker_key, G.c.created_at, G.c.fixed_at,
)  # fmt: skip
_WIDTH = len(_GROUP_COLUMNS)
_NOT_COUNTED = sa.literal(0).label("n")


def _affected(group_id: sa.ColumnElement[int]) -> sa.Label:
    """Σ over the group's distinct reviewed items found defective of their cell's population/reviewed:
    each item's weight in the rate (bot.digest.estimate), so the two never tell different stories."""
    withdrawn, defect = (sa.literal(v, literal_execute=True) for v in (WITHDRAWN, DEFECT))  # see rollup
    caught = (
        sa.select(D.c.reply_id).where(D.c.group_id == group_id, D.c.status != withdrawn).correlate_except(D)
    )
    weight = sa.cast(FC.c.population, sa.Float) / FC.c.reviewed
    weights = (
        sa.select(sa.func.sum(weight))
        .select_from(SI)
        .join(FC, FC.c.id == SI.c.cell_id)
        .where(SI.c.reply_id.in_(caught), SI.c.outcome == defect, FC.c.reviewed > 0)
    )
    return weights.scalar_subquery().label("affected")


def _first_rows(query: sa.Select, *order: sa.ColumnElement) -> sa.Select:
    """The first LIST_LIMIT rows of `query` in `order`, each with the length of the whole list and
    its affected replies (computed for these rows only)."""
    first = query.add_columns(sa.func.count().over().label("total")).order_by(*order).limit(LIST_LIMIT)
    rows = first.subquery()
    return sa.select(*rows.c, _affected(rows.c.id))


@functools.cache
def figures() -> Figures:
    """The defect and group figures of the week [:start, :end), as (name, SELECT)."""
    in_week = sa.and_(within(D.c.created_at, START, END), D.c.status != WITHDRAWN)
    rank = sa.case(SEVERITY_RANK, value=D.c.severity, else_=0)
    # pick the defect first, then read its review and reply: two row lookups, not a join of the week
    best = (
        sa.select(D.c.id)
        .join(G, G.c.id == D.c.group_id)
        .where(in_week)
        .order_by(rank.desc(), G.c.occurrences.desc(), D.c.created_at, D.c.id)
        .limit(1)
        .scalar_subquery()
    )
    catch = (
        sa.select(
            *_GROUP_COLUMNS,
            _NOT_COUNTED,
            sa.literal(1).label("total"),
            _affected(G.c.id),
            RV.c.reviewer,
            D.c.category.label("defect_category"),
            D.c.severity.label("defect_severity"),
            RV.c.note,
            R.c.ticket_id,
        )
        .select_from(D)
        .join(RV, RV.c.id == D.c.review_id)
        .join(G, G.c.id == D.c.group_id)
        .join(R, R.c.id == D.c.reply_id)
        .where(D.c.id == best)
    )
    by_category = (
        sa.select(D.c.category, D.c.severity, sa.func.count().label("n"))
        .where(in_week)
        .group_by(D.c.category, D.c.severity)
    )
    week = (
        sa.select(D.c.group_id, sa.func.count().label("n")).where(in_week).group_by(D.c.group_id).subquery()
    )
    top = _first_rows(
        sa.select(*_GROUP_COLUMNS, week.c.n).join_from(week, G, G.c.id == week.c.group_id),
        G.c.occurrences.desc(), week.c.n.desc(), G.c.id,
    )  # fmt: skip
    fixed_now = sa.and_(G.c.status == "fixed", within(G.c.fixed_at, START, END))
    fixes = _first_rows(sa.select(*_GROUP_COLUMNS, _NOT_COUNTED).where(fixed_now), G.c.fixed_at, G.c.id)
    is_open = G.c.status == "open"
    still_open = _first_rows(
        sa.select(*_GROUP_COLUMNS, _NOT_COUNTED).where(is_open),
        G.c.occurrences.desc(),
        G.c.created_at,
        G.c.id,
    )
    owners = (
        sa.select(
            G.c.owner,
            sa.func.count().label("n"),
            sa.func.sum(G.c.occurrences).label("occurrences"),
            sa.func.min(G.c.created_at).label("created_at"),
        )
        .where(is_open)
        .group_by(G.c.owner)
    )
    return (
        (CATCH, catch), (CATEGORY, by_category), (TOP, top),
        (FIXES, fixes), (OPEN, still_open), (OWNER, owners),
    )  # fmt: skip


def _line(row: tuple) -> GroupLine:
    """A group line from a row of a group's columns, then its week occurrences and affected replies."""
    week_occurrences, affected = row[_WIDTH], row[_WIDTH + 2]
    return GroupLine(*row[:_WIDTH], week_occurrences=int(week_occurrences), affected=float(affected or 0.0))


def _listing(rows: list[tuple], key: Callable[[GroupLine], tuple]) -> Listing:
    """The statement limits each list; the order within it is set here."""
    return Listing(sorted(map(_line, rows), key=key), int(rows[0][_WIDTH + 1]) if rows else 0)


def group_figures(rows: dict[str, list[tuple]]) -> GroupFigures:
    """The defect and group figures, from their rows (bot.digest.rows.read over `figures()`)."""
    loads = [
        OwnerLoad(owner, int(n), int(occurrences), oldest) for owner, n, occurrences, oldest in rows[OWNER]
    ]
    catch = None
    for row in rows[CATCH]:
        catch = Catch(*row[_WIDTH + 3 :], _line(row))
    return GroupFigures(
        by_category=sorted(
            ((category, severity, int(n)) for category, severity, n in rows[CATEGORY]),
            key=lambda r: (-r[2], r[0], -SEVERITY_RANK.get(r[1], 0)),
        ),
        top=_listing(rows[TOP], key=lambda g: (-g.occurrences, -g.week_occurrences, g.id)),
        fixes=_listing(rows[FIXES], key=lambda g: (g.fixed_at, g.id)),
        still_open=_listing(rows[OPEN], key=lambda g: (-g.occurrences, g.created_at, g.id)),
        by_owner=sorted(loads, key=lambda load: (-load.groups, load.oldest)),
        catch=catch,
    )
