"""The weekly rollup: volume, the estimated defect rate of all AI replies, defects, fixes, and reviewers.

Everything is aggregated in the database (GROUP BY), one query per figure; Python only combines
the few resulting rows. A week is an ISO week in the team's time zone (bot.weeks).

Definitions the digest relies on:
- *ingested*: replies whose `created_at` falls in the week.
- *the week's samples*: batches whose window starts in the week (Monday's batch covers Friday to
  Sunday, so it belongs to the week before). *sampled* counts their items (as drawn).
- *an item is reviewed* when it has at least one correct/defect verdict (only "not sure" verdicts
  do not count), and *defective* when at least as many of those verdicts say defect as say
  correct (a calibration tie counts as defective: someone saw a problem worth fixing).
  bot.reviews stores that outcome on the item, and the per-stratum counts on its batch, with
  every verdict in the same transaction.
  *pending* = sampled − reviewed. Verdicts count whenever they were given.
- *the rate*: bot.estimate over every (batch × stratum), weighted back to all replies; the *raw
  rate* is defective/reviewed items, which over-states the rate because flagged replies are
  over-sampled.
- *affected replies* of a root-cause group: Σ 1/inclusion probability over the distinct sampled
  replies in the group (Horvitz–Thompson), i.e. how many replies like the ones caught went out.
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
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot import weeks
from bot.estimate import Estimate, Stratum, estimate
from bot.models import Defect, DefectGroup, Reply, Review, SampleBatch, UTCDateTime
from bot.rollup_groups import (
    END,
    SEVERITY_RANK,
    START,
    WITHDRAWN,
    Catch,
    GroupLine,
    Listing,
    OwnerLoad,
    affected_replies,
    catch_of_the_week,
    count_if,
    group_lists,
    span,
    with_affected,
    within,
)

R, B, RV, D, G = (m.__table__ for m in (Reply, SampleBatch, Review, Defect, DefectGroup))
__all__ = ["Catch", "GroupLine", "Listing", "OwnerLoad", "ReviewerWeek", "Rollup", "Volume", "WeekRate"]

FLAGGED, UNFLAGGED = "flagged", "unflagged"
HIGH = ("high", "critical")
DEFECT = "defect"
DECISIVE = ("correct", DEFECT)
TIME_CAP = 600.0  # seconds: a verdict counts at most 10 minutes of someone's time
TREND_WEEKS = 8


@dataclass(frozen=True)
class Volume:
    ingested: int
    sampled: int
    reviewed: int
    pending: int

    @property
    def coverage(self) -> float | None:
        """Share of the week's replies that a reviewer looked at."""
        return self.reviewed / self.ingested if self.ingested else None


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

    @property
    def defects_filed(self) -> int:
        return sum(count for _, _, count in self.by_category)

    @property
    def agreement(self) -> float | None:
        pairs = sum(r.calibration_pairs for r in self.reviewers)
        return sum(r.calibration_agreed for r in self.reviewers) / pairs if pairs else None


@functools.cache
def _ingested_stmt() -> sa.Select:
    return sa.select(sa.func.count()).select_from(R).where(within(R.c.created_at, START, END))


async def count_ingested(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> int:
    return int((await session.execute(_ingested_stmt(), span(start, end))).scalar_one())


@functools.cache
def _rates_stmt() -> sa.Select:
    # Each batch keeps its reviewed/defective counts per stratum (bot.reviews, with every verdict),
    # so eight weeks of trend read one row per batch rather than every item and verdict; the
    # week's ingested replies ride along as a scalar subquery (one round trip, not two).
    counts = [
        B.c[f"{kind}_{figure}"]
        for kind in (FLAGGED, UNFLAGGED)
        for figure in ("population", "drawn", "reviewed", "defective")
    ]
    first, last = sa.bindparam("first", type_=UTCDateTime()), sa.bindparam("last", type_=UTCDateTime())
    return (
        sa.select(_ingested_stmt().scalar_subquery(), B.c.window_start, *counts)
        .where(within(B.c.window_start, first, last))
        .order_by(B.c.window_start, B.c.id)
    )


async def week_rates(
    session: AsyncSession, labels: list[str], tz: ZoneInfo, *, ingested: tuple[dt.datetime, dt.datetime]
) -> tuple[dict[str, WeekRate], int]:
    """The estimate for each week in `labels` (consecutive, oldest first), from the batches' rows,
    and the replies ingested in [`ingested`)."""
    first, _ = weeks.bounds(labels[0], tz)
    _, last = weeks.bounds(labels[-1], tz)
    params = {"first": first, "last": last, **span(*ingested)}
    rows = (await session.execute(_rates_stmt(), params)).all()
    strata: dict[str, list[Stratum]] = {label: [] for label in labels}
    totals: dict[str, list[int]] = {label: [0, 0, 0] for label in labels}
    for _, start, *figures in rows:
        label = weeks.week_of(start, tz)
        for kind, (population, sampled, done, bad) in ((FLAGGED, figures[0:4]), (UNFLAGGED, figures[4:8])):
            strata[label].append(Stratum(population, done, bad, kind))
            totals[label] = [a + b for a, b in zip(totals[label], (sampled, done, bad), strict=True)]
    rates = {label: WeekRate(label, estimate(strata[label]), *totals[label]) for label in labels}
    # no batch row to ride on: count on its own
    return rates, int(rows[0][0]) if rows else await count_ingested(session, *ingested)


async def defects_by_category(
    session: AsyncSession, start: dt.datetime, end: dt.datetime
) -> list[tuple[str, str, int]]:
    rows = [
        (c, s, int(n)) for c, s, n in (await session.execute(_by_category_stmt(), span(start, end))).all()
    ]
    return sorted(rows, key=lambda r: (-r[2], r[0], -SEVERITY_RANK.get(r[1], 0)))


@functools.cache
def _by_category_stmt() -> sa.Select:
    return (
        sa.select(D.c.category, D.c.severity, sa.func.count())
        .where(within(D.c.created_at, START, END), D.c.status != WITHDRAWN)
        .group_by(D.c.category, D.c.severity)
    )


async def reviewer_weeks(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, *, reviewer: str | None = None
) -> list[ReviewerWeek]:
    """Each reviewer's week: verdicts first given in it, plus earlier catches fixed in it (one query)."""
    params = {**span(start, end), "reviewer": reviewer}
    people: dict[str, ReviewerWeek] = {}
    for who, *figures in (await session.execute(_reviewers_stmt(reviewer is not None), params)).all():
        reviews, defects, high, seconds, pairs, agreed, fixed_catches = figures
        mine = people.get(who, ReviewerWeek(who))
        people[who] = ReviewerWeek(
            who,
            mine.reviews + int(reviews),
            mine.defects + int(defects),
            mine.high_critical + int(high),
            mine.fixed_catches + int(fixed_catches),
            mine.calibration_pairs + int(pairs),
            mine.calibration_agreed + int(agreed),
            mine.seconds + float(seconds),
        )
    return sorted(people.values(), key=lambda r: (-r.reviews, -r.defects, r.reviewer))


@functools.cache
def _reviewers_stmt(one_reviewer: bool) -> sa.CompoundSelect:
    wait = RV.c.wait_seconds  # stored with the verdict: item message to verdict
    capped = sa.case((wait > TIME_CAP, TIME_CAP), (wait < 0, 0.0), else_=wait)
    is_defect = RV.c.verdict == DEFECT
    zero = sa.literal(0)
    verdicts = (
        sa.select(
            RV.c.reviewer,
            sa.func.count(),
            count_if(is_defect),
            count_if(is_defect, RV.c.severity.in_(HIGH)),
            sa.func.coalesce(sa.func.sum(capped), 0.0),
            # each verdict's matches with the other reviewers, kept by bot.reviews on calibration items
            sa.func.coalesce(sa.func.sum(RV.c.calibration_pairs), 0),
            sa.func.coalesce(sa.func.sum(RV.c.calibration_agreed), 0),
            zero,
        )
        .where(within(RV.c.created_at, START, END))
        .group_by(RV.c.reviewer)
    )
    fixed = (
        sa.select(RV.c.reviewer, zero, zero, zero, sa.literal(0.0), zero, zero, sa.func.count())
        .select_from(D)
        .join(RV, RV.c.id == D.c.review_id)
        .join(G, G.c.id == D.c.group_id)
        .where(G.c.status == "fixed", within(G.c.fixed_at, START, END), D.c.status != WITHDRAWN)
        .group_by(RV.c.reviewer)
    )
    if one_reviewer:
        only = RV.c.reviewer == sa.bindparam("reviewer")
        verdicts, fixed = verdicts.where(only), fixed.where(only)
    return sa.union_all(verdicts, fixed)


async def compute_rollup(session: AsyncSession, *, week: str, tz: ZoneInfo, now: dt.datetime) -> Rollup:
    """Every figure of the weekly digest for `week` (e.g. "2026-W48"), in six round trips."""
    start, end = weeks.bounds(week, tz)
    labels = [weeks.shift(week, -back) for back in range(TREND_WEEKS - 1, -1, -1)]
    rates, ingested = await week_rates(session, labels, tz, ingested=(start, end))
    rate = rates[week]
    volume = Volume(ingested, rate.sampled, rate.reviewed, pending=rate.sampled - rate.reviewed)
    lists = await group_lists(session, start, end)
    catch = await catch_of_the_week(session, start, end)
    shown = {line.id for listing in (lists.top, lists.fixes, lists.still_open) for line in listing.rows}
    affected = await affected_replies(session, shown | ({catch.group.id} if catch else set()))
    if catch is not None:
        catch = replace(catch, group=replace(catch.group, affected=affected.get(catch.group.id, 0.0)))
    return Rollup(
        week=week,
        start=start,
        end=end,
        now=now,
        volume=volume,
        rate=rate,
        trend=[rates[label] for label in labels],
        by_category=await defects_by_category(session, start, end),
        top_groups=with_affected(lists.top, affected),
        fixes=with_affected(lists.fixes, affected),
        open_by_owner=lists.by_owner,
        open_groups=with_affected(lists.still_open, affected),
        reviewers=await reviewer_weeks(session, start, end),
        catch=catch,
    )
