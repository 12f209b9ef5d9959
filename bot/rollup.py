"""The weekly rollup: volume, the estimated defect rate of all AI replies, defects, fixes, and reviewers.

Everything is aggregated in the database (GROUP BY), one query per figure; Python only combines
the few resulting rows. A week is an ISO week in the team's time zone (bot.weeks).

Definitions the digest relies on:
- *ingested*: replies whose `created_at` falls in the week.
- *the week's samples*: batches whose window starts in the week (Monday's batch covers Friday to
  Sunday, so it belongs to the week before). *sampled* counts their items.
- *an item is reviewed* when it has at least one correct/defect verdict (only "not sure" verdicts
  do not count), and *defective* when at least as many of those verdicts say defect as say
  correct (a calibration tie counts as defective: someone saw a problem worth fixing).
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
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot import weeks
from bot.estimate import Estimate, Stratum, estimate
from bot.models import Defect, DefectGroup, Reply, Review, SampleBatch, SampleItem
from bot.rollup_groups import (
    SEVERITY_RANK,
    WITHDRAWN,
    Catch,
    GroupLine,
    Listing,
    OwnerLoad,
    affected_replies,
    catch_of_the_week,
    count_if,
    fixes,
    open_by_owner,
    open_groups,
    top_groups,
    within,
)

R, B, SI, RV, D, G = (m.__table__ for m in (Reply, SampleBatch, SampleItem, Review, Defect, DefectGroup))
__all__ = ["Catch", "GroupLine", "Listing", "OwnerLoad", "ReviewerWeek", "Rollup", "Volume", "WeekRate"]

FLAGGED, UNFLAGGED = "flagged", "unflagged"
HIGH = ("high", "critical")
DECISIVE = ("correct", "defect")
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


async def count_ingested(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> int:
    stmt = sa.select(sa.func.count()).select_from(R).where(within(R.c.created_at, start, end))
    return int((await session.execute(stmt)).scalar_one())


async def week_rates(session: AsyncSession, labels: list[str], tz: ZoneInfo) -> dict[str, WeekRate]:
    """The estimate for each week in `labels` (consecutive, oldest first), from one grouped query."""
    first, _ = weeks.bounds(labels[0], tz)
    _, last = weeks.bounds(labels[-1], tz)
    in_range = within(B.c.window_start, first, last)
    batch_ids = sa.select(B.c.id).where(in_range)
    defect_votes = count_if(RV.c.verdict == "defect")
    correct_votes = count_if(RV.c.verdict == "correct")
    items = (
        sa.select(SI.c.id, SI.c.batch_id, SI.c.stratum, defect_votes.label("dv"), correct_votes.label("cv"))
        .outerjoin(RV, RV.c.item_id == SI.c.id)
        .where(SI.c.batch_id.in_(batch_ids))
        .group_by(SI.c.id, SI.c.batch_id, SI.c.stratum)
        .subquery()
    )
    reviewed = items.c.dv + items.c.cv > 0
    defective = sa.and_(items.c.dv > 0, items.c.dv >= items.c.cv)
    columns = []
    for kind in (FLAGGED, UNFLAGGED):
        is_kind = items.c.stratum == kind
        columns += [count_if(is_kind), count_if(is_kind, reviewed), count_if(is_kind, defective)]
    # aggregate down to one row per batch before joining the batches, so the join is tiny
    per_batch = sa.select(items.c.batch_id, *columns).group_by(items.c.batch_id).subquery()
    figures = [column for column in per_batch.c if column.name != "batch_id"]
    stmt = (
        sa.select(B.c.window_start, B.c.flagged_population, B.c.unflagged_population, *figures)
        .outerjoin(per_batch, per_batch.c.batch_id == B.c.id)
        .where(in_range)
    )
    strata: dict[str, list[Stratum]] = {label: [] for label in labels}
    counts: dict[str, list[int]] = {label: [0, 0, 0] for label in labels}
    for start, n_flagged, n_unflagged, *counted in (await session.execute(stmt)).all():
        label = weeks.week_of(start, tz)
        counted = [int(value or 0) for value in counted]  # NULL: a batch without items
        for kind, population, (sampled, done, bad) in (
            (FLAGGED, n_flagged, counted[0:3]),
            (UNFLAGGED, n_unflagged, counted[3:6]),
        ):
            strata[label].append(Stratum(int(population), int(done), int(bad), kind))
            counts[label] = [a + int(b) for a, b in zip(counts[label], (sampled, done, bad), strict=True)]
    return {label: WeekRate(label, estimate(strata[label]), *counts[label]) for label in labels}


async def defects_by_category(
    session: AsyncSession, start: dt.datetime, end: dt.datetime
) -> list[tuple[str, str, int]]:
    stmt = (
        sa.select(D.c.category, D.c.severity, sa.func.count())
        .where(within(D.c.created_at, start, end), D.c.status != WITHDRAWN)
        .group_by(D.c.category, D.c.severity)
    )
    rows = [(c, s, int(n)) for c, s, n in (await session.execute(stmt)).all()]
    return sorted(rows, key=lambda r: (-r[2], r[0], -SEVERITY_RANK.get(r[1], 0)))


def _seconds(dialect: str, later: sa.ColumnElement, earlier: sa.ColumnElement) -> sa.ColumnElement[float]:
    if dialect == "sqlite":
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0
    return sa.extract("epoch", later - earlier)


async def reviewer_weeks(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, *, reviewer: str | None = None
) -> list[ReviewerWeek]:
    """Each reviewer's week: verdicts first given in it, plus earlier catches fixed in it."""
    dialect = session.get_bind().dialect.name
    wait = _seconds(dialect, RV.c.created_at, SI.c.posted_at)
    capped = sa.case((wait > TIME_CAP, TIME_CAP), (wait < 0, 0.0), else_=wait)
    is_defect = RV.c.verdict == "defect"
    stmt = (
        sa.select(
            RV.c.reviewer,
            sa.func.count(),
            count_if(is_defect),
            count_if(is_defect, RV.c.severity.in_(HIGH)),
            sa.func.coalesce(sa.func.sum(capped), 0.0),
        )
        .join(SI, SI.c.id == RV.c.item_id)
        .where(within(RV.c.created_at, start, end))
        .group_by(RV.c.reviewer)
    )
    fixed = (
        sa.select(RV.c.reviewer, sa.func.count())
        .select_from(D)
        .join(RV, RV.c.id == D.c.review_id)
        .join(G, G.c.id == D.c.group_id)
        .where(G.c.status == "fixed", within(G.c.fixed_at, start, end), D.c.status != WITHDRAWN)
        .group_by(RV.c.reviewer)
    )
    mine, other = RV.alias("mine"), RV.alias("other")
    calibration = (
        sa.select(mine.c.reviewer, sa.func.count(), count_if(mine.c.verdict == other.c.verdict))
        .select_from(mine)
        .join(other, sa.and_(other.c.item_id == mine.c.item_id, other.c.reviewer != mine.c.reviewer))
        .join(SI, sa.and_(SI.c.id == mine.c.item_id, SI.c.double_review.is_(True)))
        .where(
            within(mine.c.created_at, start, end), mine.c.verdict.in_(DECISIVE), other.c.verdict.in_(DECISIVE)
        )
        .group_by(mine.c.reviewer)
    )
    if reviewer is not None:
        stmt, fixed = stmt.where(RV.c.reviewer == reviewer), fixed.where(RV.c.reviewer == reviewer)
        calibration = calibration.where(mine.c.reviewer == reviewer)
    people: dict[str, ReviewerWeek] = {}
    for who, reviews, defects, high, seconds in (await session.execute(stmt)).all():
        people[who] = ReviewerWeek(who, int(reviews), int(defects), int(high), seconds=float(seconds))
    for who, count in (await session.execute(fixed)).all():
        people[who] = replace(people.get(who, ReviewerWeek(who)), fixed_catches=int(count))
    for who, pairs, agreed in (await session.execute(calibration)).all():
        people[who] = replace(
            people.get(who, ReviewerWeek(who)), calibration_pairs=int(pairs), calibration_agreed=int(agreed)
        )
    return sorted(people.values(), key=lambda r: (-r.reviews, -r.defects, r.reviewer))


async def compute_rollup(session: AsyncSession, *, week: str, tz: ZoneInfo, now: dt.datetime) -> Rollup:
    """Every figure of the weekly digest for `week` (e.g. "2026-W48")."""
    start, end = weeks.bounds(week, tz)
    labels = [weeks.shift(week, -back) for back in range(TREND_WEEKS - 1, -1, -1)]
    rates = await week_rates(session, labels, tz)
    rate = rates[week]
    volume = Volume(
        ingested=await count_ingested(session, start, end),
        sampled=rate.sampled,
        reviewed=rate.reviewed,
        pending=rate.sampled - rate.reviewed,
    )
    top, fixed, still_open = (
        await top_groups(session, start, end),
        await fixes(session, start, end),
        await open_groups(session),
    )
    catch = await catch_of_the_week(session, start, end)
    ids = {line.id for listing in (top, fixed, still_open) for line in listing.rows}
    ids |= {catch.group.id} if catch else set()
    affected = await affected_replies(session, ids)

    def with_affected(listing: Listing) -> Listing:
        return Listing(
            [replace(line, affected=affected.get(line.id, 0.0)) for line in listing.rows], listing.total
        )

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
        top_groups=with_affected(top),
        fixes=with_affected(fixed),
        open_by_owner=await open_by_owner(session),
        open_groups=with_affected(still_open),
        reviewers=await reviewer_weeks(session, start, end),
        catch=catch,
    )
