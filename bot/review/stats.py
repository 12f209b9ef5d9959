"""Review figures for App Home and `/audit stats`: a reviewer's numbers, waiting items, the team's week."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import weeks
from bot.core.models import Defect, DefectGroup, Reply, Review, SampleItem
from bot.digest import rollup
from bot.digest.checks import check_precision
from bot.views.checks import CheckPrecision
from bot.views.home import ReviewerNumbers, TeamWeek, WaitingItem

WAITING_DAYS = 7  # older unreviewed items are no longer offered as "waiting"
ALL_TIME = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 1, 1, tzinfo=dt.UTC))
Span = tuple[dt.datetime, dt.datetime]


def this_week(now: dt.datetime, tz: ZoneInfo) -> Span:
    """The week `now` is in: local Monday 00:00 to the next, the digest's own definition (bot.core.weeks)."""
    return weeks.current(now, tz)


async def reviewer_numbers(session: AsyncSession, *, reviewer: str, week: Span) -> ReviewerNumbers:
    """How much `reviewer` reviewed in `week` and overall, and how many catches got fixed."""
    # the figures are the weekly digest's own (bot.digest.rollup), so the two never disagree
    found = await rollup.reviewer_weeks(session, *week, reviewer=reviewer)
    mine = found[0] if found else rollup.ReviewerWeek(reviewer)
    ever = await rollup.reviewer_weeks(session, *ALL_TIME, reviewer=reviewer)
    always = ever[0] if ever else rollup.ReviewerWeek(reviewer)
    fixed = sa.select(sa.func.count()).select_from(Defect)
    fixed = fixed.join(Review, Review.id == Defect.review_id).join(
        DefectGroup, DefectGroup.id == Defect.group_id
    )
    fixed = fixed.where(
        Review.reviewer == reviewer, DefectGroup.status == "fixed", Defect.status != "withdrawn"
    )
    fixed_catches = (await session.execute(fixed)).scalar_one()
    return ReviewerNumbers(
        mine.reviews,
        mine.defects,
        always.reviews,
        always.defects,
        int(fixed_catches),
        week_high=mine.high_critical,
        all_high=always.high_critical,
        week_pairs=mine.calibration_pairs,
        week_agreed=mine.calibration_agreed,
        all_pairs=always.calibration_pairs,
        all_agreed=always.calibration_agreed,
    )


async def team_week(session: AsyncSession, *, week: Span) -> TeamWeek:
    """The whole team in `week`: items posted and reviewed, verdicts, defects, active reviewers."""
    start, end = week
    posted = sa.select(sa.func.count()).select_from(SampleItem)
    posted = posted.where(SampleItem.posted_at >= start, SampleItem.posted_at < end)
    reviewed = sa.select(sa.func.count(sa.distinct(Review.item_id)))
    reviewed = reviewed.where(Review.created_at >= start, Review.created_at < end)
    people = [r for r in await rollup.reviewer_weeks(session, start, end) if r.reviews]
    return TeamWeek(
        posted=int((await session.execute(posted)).scalar_one()),
        reviewed=int((await session.execute(reviewed)).scalar_one()),
        verdicts=sum(r.reviews for r in people),
        defects=sum(r.defects for r in people),
        reviewers=len(people),
        high=sum(r.high_critical for r in people),
        pairs=sum(r.calibration_pairs for r in people),
        agreed=sum(r.calibration_agreed for r in people),
    )


async def waiting_items(
    session: AsyncSession, *, reviewer: str, now: dt.datetime, limit: int = 10
) -> tuple[list[WaitingItem], int]:
    """Recent posted items that still need a verdict and that `reviewer` has not given one; and how many."""
    counts = sa.select(Review.item_id, sa.func.count().label("n")).group_by(Review.item_id).subquery()
    mine = sa.select(Review.item_id).where(Review.reviewer == reviewer)
    needed = sa.case((SampleItem.double_review.is_(True), 2), else_=1)
    where = (
        SampleItem.message_ts.is_not(None),
        SampleItem.channel.is_not(None),
        SampleItem.posted_at >= now - dt.timedelta(days=WAITING_DAYS),
        SampleItem.id.not_in(mine),
        sa.func.coalesce(counts.c.n, 0) < needed,
    )
    base = sa.select(SampleItem, Reply.ticket_id, Reply.ticket_url).join(
        Reply, Reply.id == SampleItem.reply_id
    )
    base = base.outerjoin(counts, counts.c.item_id == SampleItem.id).where(*where)
    rows = await session.execute(base.order_by(SampleItem.posted_at, SampleItem.position).limit(limit))
    items = [
        WaitingItem(item.id, item.channel, item.message_ts, ticket_id, ticket_url, item.double_review)
        for item, ticket_id, ticket_url in rows.all()
    ]
    total = sa.select(sa.func.count()).select_from(SampleItem)
    total = total.outerjoin(counts, counts.c.item_id == SampleItem.id).where(*where)
    return items, int((await session.execute(total)).scalar_one())


@dataclass(frozen=True)
class HomeFigures:
    numbers: ReviewerNumbers
    waiting: list[WaitingItem]
    waiting_total: int
    team: TeamWeek
    checks: list[CheckPrecision] = field(default_factory=list)


async def home_figures(*, session: AsyncSession, reviewer: str, now: dt.datetime, week: Span) -> HomeFigures:
    """Everything App Home (and `/audit stats`) shows for `reviewer`, for `week` (see `this_week`)."""
    numbers = await reviewer_numbers(session, reviewer=reviewer, week=week)
    waiting, total = await waiting_items(session, reviewer=reviewer, now=now)
    checks = await check_precision(session, since=week[0], until=week[1])
    return HomeFigures(numbers, waiting, total, await team_week(session, week=week), checks)
