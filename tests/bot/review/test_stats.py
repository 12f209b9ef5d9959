"""Figures for App Home and /audit stats, against a real database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.core import weeks
from bot.core.models import DefectGroup
from bot.digest.rollup import reviewer_weeks
from bot.review import stats as review_stats
from bot.review import verdicts as reviews
from tests.bot.seed_reviews import seed_items

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
BERLIN = ZoneInfo("Europe/Berlin")


async def give(db, item: int, reviewer: str, verdict: str, at: dt.datetime = NOW, config=None) -> None:  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        if verdict == "defect":
            defect = reviews.DefectInput("tone", "low", "rude", None, False)
            await reviews.record_defect(
                session=session, item_id=item, reviewer=reviewer, defect=defect, config=config, now=at
            )
        else:
            await reviews.record_verdict(
                session=session, item_id=item, reviewer=reviewer, verdict=verdict, now=at
            )


def test_week_starts_on_monday_midnight_in_the_team_zone() -> None:
    start, end = review_stats.this_week(NOW, BERLIN)
    assert (start, end) == (
        dt.datetime(2026, 11, 22, 23, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 29, 23, tzinfo=dt.UTC),
    )
    sunday_night = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)  # already Monday in Berlin
    assert review_stats.this_week(sunday_night, BERLIN)[0] == dt.datetime(2026, 11, 29, 23, 0, tzinfo=dt.UTC)
    # the week the clocks go back (Sun 25 Oct 2026) is 169 hours; it ends at local Monday midnight
    autumn = review_stats.this_week(dt.datetime(2026, 10, 21, 12, tzinfo=dt.UTC), BERLIN)
    assert autumn == (
        dt.datetime(2026, 10, 18, 22, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 23, tzinfo=dt.UTC),
    )
    assert autumn == weeks.bounds("2026-W43", BERLIN)  # the digest's own week


async def test_a_verdict_late_on_the_sunday_of_a_dst_week_counts_in_that_week(db) -> None:  # type: ignore[no-untyped-def]
    """The week the clocks go back is 169 hours long: Sunday 23:30 is still in it, for App Home,
    `/audit stats` and the digest alike (a week of start + 7 days lost that verdict)."""
    [item] = await seed_items(db, 1)
    sunday_2330 = dt.datetime(2026, 10, 25, 23, 30, tzinfo=BERLIN).astimezone(dt.UTC)
    await give(db, item, "U0REV1", "correct", at=sunday_2330)
    week = review_stats.this_week(sunday_2330, BERLIN)
    assert week[0] + dt.timedelta(days=7) <= sunday_2330 < week[1]  # past start + 7 days, still this week
    async with db.session() as session:
        mine = await review_stats.reviewer_numbers(session, reviewer="U0REV1", week=week)
        team = await review_stats.team_week(session, week=week)
        digest = await reviewer_weeks(session, *weeks.bounds("2026-W43", BERLIN))
        following = await review_stats.reviewer_numbers(
            session, reviewer="U0REV1", week=review_stats.this_week(week[1], BERLIN)
        )
    assert (mine.week, team.verdicts, team.reviewers) == (1, 1, 1)
    assert [(r.reviewer, r.reviews) for r in digest] == [("U0REV1", 1)]
    assert following.week == 0  # and in exactly one week


async def test_reviewer_numbers_team_week_and_waiting_items(db, config) -> None:  # type: ignore[no-untyped-def]
    a, b, c, d = await seed_items(db, 4)
    [calibration] = await seed_items(db, 1, double_review=True, day=dt.date(2026, 11, 25))
    old = NOW - dt.timedelta(days=30)
    await give(db, a, "U0REV1", "defect", config=config)
    await give(db, b, "U0REV1", "correct")
    await give(db, c, "U0REV1", "correct", at=old)
    await give(db, d, "U0REV2", "unsure")
    await give(db, calibration, "U0REV2", "correct")
    async with db.transaction() as session:
        await session.execute(sa.update(DefectGroup).values(status="fixed"))
    week = review_stats.this_week(NOW, BERLIN)
    async with db.session() as session:
        mine = await review_stats.reviewer_numbers(session, reviewer="U0REV1", week=week)
        team = await review_stats.team_week(session, week=week)
        waiting, total = await review_stats.waiting_items(session, reviewer="U0REV1", now=NOW)
        theirs, their_total = await review_stats.waiting_items(session, reviewer="U0REV2", now=NOW)
    assert mine == review_stats.ReviewerNumbers(
        week=2, week_defects=1, all_time=3, all_defects=1, fixed_catches=1
    )
    assert team == review_stats.TeamWeek(posted=5, reviewed=4, verdicts=4, defects=1, reviewers=2)
    # d has a verdict and needs one; the calibration item still needs a second, but not from U0REV2
    assert ([w.item_id for w in waiting], total) == ([calibration], 1)
    assert (theirs, their_total) == ([], 0)
    assert waiting[0].double_review and waiting[0].message_ts


async def test_waiting_items_are_limited_and_counted(db) -> None:  # type: ignore[no-untyped-def]
    await seed_items(db, 12)
    async with db.session() as session:
        waiting, total = await review_stats.waiting_items(session, reviewer="U0REV1", now=NOW, limit=10)
        later, none = await review_stats.waiting_items(
            session, reviewer="U0REV1", now=NOW + dt.timedelta(days=9)
        )
    assert (len(waiting), total) == (10, 12)
    assert [w.item_id for w in waiting] == sorted(w.item_id for w in waiting)
    assert (later, none) == ([], 0)  # older than a week: no longer offered


async def test_high_catches_and_calibration_agreement_come_from_the_rollup(db, config) -> None:  # type: ignore[no-untyped-def]
    [agreed, split] = await seed_items(db, 2, double_review=True)
    for item in (agreed, split):
        await give(db, item, "U0REV1", "correct")
    await give(db, agreed, "U0REV2", "correct")
    async with db.transaction() as session:
        defect = reviews.DefectInput("tone", "critical", "rude", None, False)
        await reviews.record_defect(
            session=session, item_id=split, reviewer="U0REV2", defect=defect, config=config, now=NOW
        )
    week = review_stats.this_week(NOW, BERLIN)
    async with db.session() as session:
        first = await review_stats.reviewer_numbers(session, reviewer="U0REV1", week=week)
        second = await review_stats.reviewer_numbers(session, reviewer="U0REV2", week=week)
        team = await review_stats.team_week(session, week=week)
        later = await review_stats.reviewer_numbers(
            session, reviewer="U0REV2", week=review_stats.this_week(week[1], BERLIN)
        )
    assert (first.week_pairs, first.week_agreed, first.all_pairs, first.all_agreed) == (2, 1, 2, 1)
    assert (second.week_high, second.all_high, second.week_pairs, second.week_agreed) == (1, 1, 2, 1)
    assert (team.high, team.pairs, team.agreed) == (1, 4, 2)
    assert (later.week, later.week_high, later.week_pairs, later.all_high, later.all_pairs) == (0, 0, 0, 1, 2)
