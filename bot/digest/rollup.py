"""The weekly rollup: volume, the estimated defect rate of all AI replies, defects, fixes, and reviewers.

Everything is aggregated in the database (GROUP BY), one SELECT per figure, and the digest sends
them all as one statement (bot.digest.rows); Python only combines the few resulting rows. A week
is an ISO week in the team's time zone (bot.core.weeks).

Definitions the digest relies on:
- *ingested*: replies whose `created_at` falls in the week.
- *the week's samples*: batches whose window starts in the week (Monday's batch covers Friday to
  Sunday, so it belongs to the week before). *sampled* counts their items (as drawn).
- *an item is reviewed* when it has at least one correct/defect verdict (only "not sure" verdicts
  do not count), and *defective* when at least as many of those verdicts say defect as say
  correct (a calibration tie counts as defective: someone saw a problem worth fixing).
  bot.review.verdicts stores that outcome on the item, and the per-stratum counts on its batch, with
  every verdict in the same transaction.
  *pending* = sampled − reviewed. Verdicts count whenever they were given.
- *the rate*: bot.digest.estimate over every (batch × stratum), weighted back to all replies; the *raw
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

import bisect
import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.core import weeks
from bot.core.models import Defect, DefectGroup, Reply, Review, SampleBatch, UTCDateTime
from bot.digest import groups as rollup_groups
from bot.digest import rows as rollup_rows
from bot.digest.estimate import Estimate, Stratum, estimate
from bot.digest.groups import (
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


FIRST = sa.bindparam("first", type_=UTCDateTime())  # the trend's weeks: [:first, :last)
LAST = sa.bindparam("last", type_=UTCDateTime())
INGESTED, BATCH, VERDICTS, FIXED_CATCHES = "ingested", "batch", "verdicts", "fixed_catches"
STRATUM_COUNTS = ("population", "drawn", "reviewed", "defective")


@functools.cache
def _rate_figures() -> Figures:
    """The week's ingested replies, and the rows of the trend's batches."""
    # Each batch keeps its reviewed/defective counts per stratum (bot.review.verdicts, with every verdict),
    # so eight weeks of trend read one row per batch rather than every item and verdict.
    counts = [B.c[f"{kind}_{figure}"] for kind in (FLAGGED, UNFLAGGED) for figure in STRATUM_COUNTS]
    ingested = sa.select(sa.func.count().label("n")).select_from(R).where(within(R.c.created_at, START, END))
    batches = sa.select(B.c.id, B.c.window_start, *counts).where(within(B.c.window_start, FIRST, LAST))
    return (INGESTED, ingested), (BATCH, batches)


def _week_rates(batches: list[tuple], labels: list[str], starts: list[dt.datetime]) -> dict[str, WeekRate]:
    """The estimate for each week in `labels` (consecutive, oldest first, beginning at `starts`)."""
    strata: dict[str, list[Stratum]] = {label: [] for label in labels}
    totals: dict[str, list[int]] = {label: [0, 0, 0] for label in labels}
    for _, start, *counts in sorted(batches, key=lambda row: (row[1], row[0])):  # window start, id
        label = labels[bisect.bisect_right(starts, start) - 1]  # the week the batch's window starts in
        sampled, done, bad = totals[label]
        for kind, figures in ((FLAGGED, counts[:4]), (UNFLAGGED, counts[4:])):
            population, drawn, reviewed, defective = figures
            strata[label].append(Stratum(population, reviewed, defective, kind))
            sampled, done, bad = sampled + drawn, done + reviewed, bad + defective
        totals[label] = [sampled, done, bad]
    return {label: WeekRate(label, estimate(strata[label]), *totals[label]) for label in labels}


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


def digest_params(week: str, tz: ZoneInfo) -> dict[str, dt.datetime]:
    """The parameters of `digest_figures()`: the week, and the trend's eight weeks."""
    start, end = weeks.bounds(week, tz)
    first, _ = weeks.bounds(weeks.shift(week, 1 - TREND_WEEKS), tz)
    return {"first": first, "last": end, **span(start, end)}


async def compute_rollup(session: Executor, *, week: str, tz: ZoneInfo, now: dt.datetime) -> Rollup:
    """Every figure of the weekly digest for `week` (e.g. "2026-W48"), from one statement."""
    labels = [weeks.shift(week, -back) for back in range(TREND_WEEKS - 1, -1, -1)]
    starts = [weeks.bounds(label, tz)[0] for label in labels]
    params = digest_params(week, tz)
    rows = await rollup_rows.read(session, digest_figures(), params)
    rates = _week_rates(rows[BATCH], labels, starts)
    rate = rates[week]
    groups = rollup_groups.group_figures(rows)
    ((ingested,),) = rows[INGESTED]
    return Rollup(
        week=week,
        start=params["start"],
        end=params["end"],
        now=now,
        volume=Volume(int(ingested), rate.sampled, rate.reviewed, pending=rate.sampled - rate.reviewed),
        rate=rate,
        trend=[rates[label] for label in labels],
        by_category=groups.by_category,
        top_groups=groups.top,
        fixes=groups.fixes,
        open_by_owner=groups.by_owner,
        open_groups=groups.still_open,
        reviewers=_reviewer_weeks(rows),
        catch=groups.catch,
    )
