"""The weekly rollup: volume, the estimated defect rate of all AI replies, defects, fixes, and reviewers.

Everything is aggregated in the database (GROUP BY), one SELECT per figure, and the digest sends
them all as one statement (bot.digest.rows); Python only combines the few resulting rows. A week
is an ISO week in the team's time zone (bot.core.weeks).

Definitions the digest relies on:
- *ingested*: replies whose `created_at` falls in the week (team time zone); every reply counts in
  the week it was created, whenever it arrived.
- *frames and cells*: each reply is in exactly one sample frame once a draw covers it
  (bot.sample.frames); a frame's replies are split into cells by stratum and week of creation, so a
  frame spanning two weeks (Monday's covers Friday to Sunday) counts in both. *The week's cells*
  are those of its week; *sampled* counts their items (as drawn).
- ingested = *estimated* (replies in cells with a reviewed item: the rate describes them)
  + *uncovered* (in cells drawn, but none of their items reviewed yet)
  + *not yet sampled* (in no frame yet: created after the last draw's cutoff, or arrived since).
- *an item is reviewed* when it has at least one correct/defect verdict (only "not sure" verdicts
  do not count), and *defective* when at least as many of those verdicts say defect as say
  correct (a calibration tie counts as defective: someone saw a problem worth fixing).
  bot.review.verdicts stores that outcome on the item, and the per-stratum counts on its batch, with
  every verdict in the same transaction.
  *pending* = sampled − reviewed. Verdicts count whenever they were given.
- *the rate*: bot.digest.estimate over the week's cells (each a stratum: its population, its items
  reviewed and defective), weighted back to all replies; the *raw rate* is defective/reviewed
  items, which over-states the rate because flagged replies are over-sampled.
- *per category*: the same estimator, counting as defective the items with a defect of that
  category (an item with defects of two categories counts in both).
- *affected replies* of a root-cause group: Σ over the distinct reviewed items found defective in
  the group of their cell's population/reviewed — the weight each such item has in the rate, so a
  group holding every defect of a week affects exactly the week's estimated defective replies.
- *per reviewer*, for verdicts first given in the week: reviews, defects caught, high/critical
  catches, catches (of any week) whose group was fixed this week, calibration agreement (on
  double-review items, the share of their decisive verdicts that match the other reviewer's), and
  time given: Σ over verdicts of min(verdict time − item posted time, 10 minutes).
- *catch of the week*: the most severe defect filed in the week, ties broken by the group's
  occurrences, then the earliest.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.core import weeks
from bot.core.models import (
    Defect,
    DefectGroup,
    FrameCell,
    Reply,
    Review,
    SampleItem,
)
from bot.digest import groups as rollup_groups
from bot.digest import rows as rollup_rows
from bot.digest.estimate import Estimate, Stratum, estimate
from bot.digest.groups import (
    DEFECT,
    END,
    START,
    WITHDRAWN,
    Catch,
    GroupLine,
    Listing,
    OwnerLoad,
    count_if,
    span,
    within,
)
from bot.digest.rows import Executor, Figures

R, FC, SI, RV, D, G = (m.__table__ for m in (Reply, FrameCell, SampleItem, Review, Defect, DefectGroup))
__all__ = [
    "Catch", "CategoryRate", "GroupLine", "Listing", "OwnerLoad", "ReviewerWeek", "Rollup", "Volume",
    "WeekRate",
]  # fmt: skip

HIGH = ("high", "critical")
DECISIVE = ("correct", DEFECT)
TIME_CAP = 600.0  # seconds: a verdict counts at most 10 minutes of someone's time
TREND_WEEKS = 8


@dataclass(frozen=True)
class Volume:
    ingested: int
    sampled: int
    reviewed: int
    pending: int
    estimated: int = 0  # replies the rate describes (cells with a reviewed item)
    uncovered: int = 0  # replies in drawn cells none of whose items is reviewed yet
    not_sampled: int = 0  # replies in no frame yet

    @property
    def coverage(self) -> float | None:
        """Share of the week's replies that a reviewer looked at."""
        return self.reviewed / self.ingested if self.ingested else None


@dataclass(frozen=True)
class CategoryRate:
    """The estimated share of the week's replies with a defect of `category`."""

    category: str
    estimate: Estimate
    found: int  # reviewed items of the week with such a defect


@dataclass(frozen=True)
class WeekRate:
    week: str
    estimate: Estimate
    sampled: int = 0
    reviewed: int = 0
    defective: int = 0

    @property
    def raw_rate(self) -> float | None:
        return self.defective / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class ReviewerWeek:
    reviewer: str
    reviews: int = 0
    defects: int = 0
    high_critical: int = 0
    fixed_catches: int = 0
    calibration_pairs: int = 0
    calibration_agreed: int = 0
    seconds: float = 0.0

    @property
    def agreement(self) -> float | None:
        return self.calibration_agreed / self.calibration_pairs if self.calibration_pairs else None


@dataclass(frozen=True)
class Rollup:
    week: str
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime
    volume: Volume
    rate: WeekRate
    trend: list[WeekRate]  # oldest first, ending with this week
    by_category: list[tuple[str, str, int]]  # (category, severity, defects filed this week)
    top_groups: Listing
    fixes: Listing
    open_by_owner: list[OwnerLoad]
    open_groups: Listing
    reviewers: list[ReviewerWeek]
    catch: Catch | None
    category_rates: list[CategoryRate] = field(default_factory=list)  # the week's replies, most first

    @property
    def defects_filed(self) -> int:
        return sum(count for _, _, count in self.by_category)

    @property
    def agreement(self) -> float | None:
        pairs = sum(r.calibration_pairs for r in self.reviewers)
        return sum(r.calibration_agreed for r in self.reviewers) / pairs if pairs else None


log = logging.getLogger("auditbot.digest")
# Constants written into the statement, not bound: PostgreSQL's generic plan for a prepared statement
# cannot see how selective a bound `status <> $1` is, and chose to read every defect.
_DEFECT = sa.literal(DEFECT, literal_execute=True)
_WITHDRAWN = sa.literal(WITHDRAWN, literal_execute=True)
FIRST_WEEK = sa.bindparam("first_week", type_=sa.String())  # the trend's weeks: [:first_week, :week]
WEEK = sa.bindparam("week", type_=sa.String())
INGESTED, CELLS, CAUGHT, VERDICTS, FIXED_CATCHES = "ingested", "cells", "caught", "verdicts", "fixed_catches"


@functools.cache
def _rate_figures() -> Figures:
    """The week's replies, the trend's cells, and the week's defect categories per cell."""
    # Each cell keeps its reviewed/defective counts (bot.review.outcomes, with every verdict), so
    # eight weeks of trend read a few rows per frame rather than every item and verdict.
    # ISO week labels sort like the weeks they name ("2025-W52" < "2026-W01").
    ingested = sa.select(sa.func.count().label("n")).select_from(R).where(within(R.c.created_at, START, END))
    cells = sa.select(
        FC.c.id, FC.c.week, FC.c.stratum, FC.c.population, FC.c.drawn, FC.c.reviewed, FC.c.defective
    ).where(FC.c.week >= FIRST_WEEK, FC.c.week <= WEEK)
    caught = (
        sa.select(SI.c.cell_id, D.c.category, sa.func.count(sa.distinct(SI.c.id)).label("items"))
        .select_from(FC)
        .join(SI, SI.c.cell_id == FC.c.id)
        .join(D, D.c.reply_id == SI.c.reply_id)
        .where(FC.c.week == WEEK, SI.c.outcome == _DEFECT, D.c.status != _WITHDRAWN)
        .group_by(SI.c.cell_id, D.c.category)
    )
    return (INGESTED, ingested), (CELLS, cells), (CAUGHT, caught)


def _week_rates(cells: list[tuple], labels: list[str]) -> dict[str, WeekRate]:
    """The estimate for each week in `labels` from its cells."""
    strata: dict[str, list[Stratum]] = {label: [] for label in labels}
    totals: dict[str, list[int]] = {label: [0, 0, 0] for label in labels}
    for _, week, stratum, population, drawn, reviewed, defective in sorted(cells):
        if week not in strata:
            continue
        strata[week].append(Stratum(population, reviewed, defective, stratum))
        sampled, done, bad = totals[week]
        totals[week] = [sampled + drawn, done + reviewed, bad + defective]
    return {label: WeekRate(label, estimate(strata[label]), *totals[label]) for label in labels}


def _category_rates(cells: list[tuple], caught: list[tuple], week: str) -> list[CategoryRate]:
    """The rate's estimator per defect category: a cell's defective items are those of the category."""
    mine = sorted(cell for cell in cells if cell[1] == week)
    hits: dict[str, dict[int, int]] = {}
    for cell_id, category, items in caught:
        hits.setdefault(category, {})[cell_id] = int(items)
    rates = []
    for category, per_cell in hits.items():
        strata = [
            Stratum(population, reviewed, per_cell.get(cell_id, 0), stratum)
            for cell_id, _, stratum, population, _, reviewed, _ in mine
        ]
        rates.append(CategoryRate(category, estimate(strata), sum(per_cell.values())))
    return sorted(rates, key=lambda r: (-r.estimate.total, r.category))


async def reviewer_weeks(
    session: Executor, start: dt.datetime, end: dt.datetime, *, reviewer: str | None = None
) -> list[ReviewerWeek]:
    """Each reviewer's week: verdicts first given in it, plus earlier catches fixed in it (one query)."""
    params = {**span(start, end), "reviewer": reviewer}
    return _reviewer_weeks(await rollup_rows.read(session, _reviewer_figures(reviewer is not None), params))


def _reviewer_weeks(rows: dict[str, list[tuple]]) -> list[ReviewerWeek]:
    fixed = {who: int(catches) for who, catches in rows[FIXED_CATCHES]}
    people = [
        ReviewerWeek(
            who,
            reviews=int(reviews),
            defects=int(defects),
            high_critical=int(high),
            fixed_catches=fixed.pop(who, 0),
            calibration_pairs=int(pairs),
            calibration_agreed=int(agreed),
            seconds=float(seconds),
        )
        for who, reviews, defects, high, seconds, pairs, agreed in rows[VERDICTS]
    ]
    # what is left: catches fixed this week, by reviewers who gave no verdict in it
    people += [ReviewerWeek(who, fixed_catches=catches) for who, catches in fixed.items()]
    return sorted(people, key=lambda r: (-r.reviews, -r.defects, r.reviewer))


@functools.cache
def _reviewer_figures(one_reviewer: bool) -> Figures:
    wait = RV.c.wait_seconds  # stored with the verdict: item message to verdict
    capped = sa.case((wait > TIME_CAP, TIME_CAP), (wait < 0, 0.0), else_=wait)
    is_defect = RV.c.verdict == DEFECT
    verdicts = (
        sa.select(
            RV.c.reviewer,
            sa.func.count().label("reviews"),
            count_if(is_defect).label("defects"),
            count_if(is_defect, RV.c.severity.in_(HIGH)).label("high_critical"),
            sa.func.coalesce(sa.func.sum(capped), 0.0).label("seconds"),
            # each verdict's matches with the other reviewers, kept by bot.review.verdicts
            sa.func.coalesce(sa.func.sum(RV.c.calibration_pairs), 0).label("calibration_pairs"),
            sa.func.coalesce(sa.func.sum(RV.c.calibration_agreed), 0).label("calibration_agreed"),
        )
        .where(within(RV.c.created_at, START, END))
        .group_by(RV.c.reviewer)
    )
    fixed = (
        sa.select(RV.c.reviewer, sa.func.count().label("fixed_catches"))
        .select_from(D)
        .join(RV, RV.c.id == D.c.review_id)
        .join(G, G.c.id == D.c.group_id)
        .where(G.c.status == "fixed", within(G.c.fixed_at, START, END), D.c.status != WITHDRAWN)
        .group_by(RV.c.reviewer)
    )
    if one_reviewer:
        only = RV.c.reviewer == sa.bindparam("reviewer")
        verdicts, fixed = verdicts.where(only), fixed.where(only)
    return (VERDICTS, verdicts), (FIXED_CATCHES, fixed)


@functools.cache
def digest_figures() -> Figures:
    """Every figure of the digest, which compute_rollup sends as one statement."""
    return (*_rate_figures(), *rollup_groups.figures(), *_reviewer_figures(False))


def digest_params(week: str, tz: ZoneInfo) -> dict[str, object]:
    """The parameters of `digest_figures()`: the week, and the trend's eight weeks."""
    start, end = weeks.bounds(week, tz)
    return {"week": week, "first_week": weeks.shift(week, 1 - TREND_WEEKS), **span(start, end)}


def not_yet_sampled(week: str, ingested: int, found: Estimate) -> int:
    """The week's replies in no frame yet: every reply in a frame is in exactly one cell of the week it
    was created in (bot.sample.frames), so what the cells do not hold is not sampled yet. (The
    simulation in tests/simulation.py checks this against a count of the unframed replies.)"""
    rest = ingested - found.population - found.uncovered
    if rest < 0:  # only if the team's time zone changed since some of the week's frames were drawn
        log.warning("week %s: its cells hold %d replies more than it has", week, -rest)
    return max(rest, 0)


async def compute_rollup(session: Executor, *, week: str, tz: ZoneInfo, now: dt.datetime) -> Rollup:
    """Every figure of the weekly digest for `week` (e.g. "2026-W48"), from one statement."""
    labels = [weeks.shift(week, -back) for back in range(TREND_WEEKS - 1, -1, -1)]
    params = digest_params(week, tz)
    rows = await rollup_rows.read(session, digest_figures(), params)
    rates = _week_rates(rows[CELLS], labels)
    rate = rates[week]
    groups = rollup_groups.group_figures(rows)
    ((ingested,),) = rows[INGESTED]
    found = rate.estimate
    volume = Volume(
        int(ingested),
        rate.sampled,
        rate.reviewed,
        pending=rate.sampled - rate.reviewed,
        estimated=found.population,
        uncovered=found.uncovered,
        not_sampled=not_yet_sampled(week, int(ingested), found),
    )
    return Rollup(
        week=week,
        start=params["start"],  # type: ignore[arg-type]
        end=params["end"],  # type: ignore[arg-type]
        now=now,
        volume=volume,
        rate=rate,
        trend=[rates[label] for label in labels],
        by_category=groups.by_category,
        category_rates=_category_rates(rows[CELLS], rows[CAUGHT], week),
        top_groups=groups.top,
        fixes=groups.fixes,
        open_by_owner=groups.by_owner,
        open_groups=groups.still_open,
        reviewers=_reviewer_weeks(rows),
        catch=groups.catch,
    )
