"""The digest never silently leaves replies out, and "replies affected" tells the rate's story
(SQLite and PostgreSQL, the jobs running as the scheduler runs them, at the same moment).

Issue #20: with the default schedule (digest Monday 09:00, sample Monday 09:30) the frame covering
Friday to Sunday was drawn after the week's digest: a week of 350 replies was estimated from 200,
and the digest said 0 uncovered. And a group's "replies affected" used the chance of being drawn
while the rate divides by the items reviewed: with half the sample reviewed, half the rate's figure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig, DetectorsConfig
from bot.core.db import Database
from bot.core.models import SampleBatch, SampleItem
from bot.core.records import ReplyRecord
from bot.core.services import Services
from bot.core.settings import Settings
from bot.digest.post import compose, post_weekly_digest
from bot.ingest.store import Checks, ingest
from bot.review import verdicts as reviews
from bot.sample.draw import ensure_batch
from bot.sample.posting import run_daily_sample
from bot.scheduler import start_scheduler
from tests.bot.sample.test_posting import Sleeps
from tests.fakes.blockkit import all_text
from tests.fakes.slack_api import FakeSlack
from tests.waiting import until

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = "2026-W47"  # Mon 16 – Sun 22 Nov 2026
CHECKS = Checks.from_config(DetectorsConfig())


def berlin(day: int, hour: float = 0.0) -> dt.datetime:
    return (dt.datetime(2026, 11, day, tzinfo=BERLIN) + dt.timedelta(hours=hour)).astimezone(dt.UTC)


def services_at(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack, at: dt.datetime
) -> Services:
    client = AsyncWebClient(base_url=fake_slack.url, token=fake_slack.token)
    services = Services(settings, config, db, FrozenClock(at), client)
    services.extras["sleep"] = Sleeps()
    return services


async def a_week_of_replies(db: Database) -> None:
    """50 replies a day, Monday 16 to Sunday 22 November, each ingested an hour after it was written."""
    for day in range(16, 23):
        records = [
            ReplyRecord(
                id=f"R-{day}-{n}", ticket_id=f"T-{day}-{n}", created_at=berlin(day, 8 + n / 5), reply="Hi!"
            )
            for n in range(50)
        ]
        await ingest(db, records, checks=CHECKS, now=berlin(day, 20))


async def review_all(db: Database, batch_id: int, now: dt.datetime) -> None:
    async with db.session() as session:
        items = list(
            (await session.execute(sa.select(SampleItem.id).where(SampleItem.batch_id == batch_id))).scalars()
        )
    async with db.transaction() as session:
        for item in items:
            for reviewer in ("U0REV1", "U0REV2"):  # enough for calibration items too
                await reviews.record_verdict(
                    session=session, item_id=item, reviewer=reviewer, verdict="correct", now=now
                )


async def tuesday_to_friday(db: Database, config: AuditConfig) -> None:
    """The week's scheduled samples, each reviewed the same day."""
    for day in (17, 18, 19, 20):
        batch = await ensure_batch(db, config, dt.date(2026, 11, day), berlin(day, 9.5))
        await review_all(db, batch.id, berlin(day, 15))  # type: ignore[arg-type]


async def test_the_weekend_is_drawn_before_the_digest_and_shown_as_uncovered(
    database_url: str, db: Database, settings: Settings, config: AuditConfig, fake_slack: FakeSlack
) -> None:
    await a_week_of_replies(db)
    await tuesday_to_friday(db, config)
    # Monday: the digest job (09:00) and the sample job (09:30 — here at the same moment, on another
    # engine, as a second replica or a catch-up after a restart would run it)
    other = Database(database_url)
    try:
        digest_services = services_at(settings, config, db, fake_slack, berlin(23, 9))
        sample_services = services_at(settings, config, other, fake_slack, berlin(23, 9))
        post, _ = await asyncio.gather(
            post_weekly_digest(digest_services, WEEK), run_daily_sample(sample_services)
        )
    finally:
        await other.dispose()
    assert post is not None
    async with db.session() as session:
        monday = (
            await session.execute(sa.select(SampleBatch).where(SampleBatch.day == dt.date(2026, 11, 23)))
        ).scalar_one()
        batches = await session.scalar(sa.select(sa.func.count()).select_from(SampleBatch))
    assert batches == 5 and monday.population == 150  # one Monday frame: Friday to Sunday
    (message,) = [c for c in fake_slack.calls("chat.postMessage") if c.args["channel"] == "C0DIGEST"]
    text = all_text(message.args["blocks"])
    assert (
        "350 replies = 200 in the estimate + 150 uncovered (sampled, nobody reviewed yet) + 0 not yet sampled"
        in text
    )
    assert "≈ 0 of 200 replies" in text
    # once Monday's items are reviewed, the week's estimate covers all of it (the trend shows this)
    await review_all(db, monday.id, berlin(23, 15))  # type: ignore[arg-type]
    later = (await compose(db, config, WEEK, berlin(30, 9))).rollup
    assert (later.volume.ingested, later.volume.estimated, later.volume.uncovered) == (350, 350, 0)


async def test_without_a_monday_sample_the_rest_is_reported_not_yet_sampled(
    db: Database, settings: Settings, config: AuditConfig, fake_slack: FakeSlack
) -> None:
    config.sampling.days = ["tue", "wed", "thu", "fri"]
    await a_week_of_replies(db)
    await tuesday_to_friday(db, config)
    assert await post_weekly_digest(services_at(settings, config, db, fake_slack, berlin(23, 9)), WEEK)
    (message,) = [c for c in fake_slack.calls("chat.postMessage") if c.args["channel"] == "C0DIGEST"]
    text = all_text(message.args["blocks"])
    assert (
        "350 replies = 200 in the estimate + 0 uncovered (sampled, nobody reviewed yet) + 150 not yet sampled"
        in text
    )


async def test_replies_affected_weighs_each_caught_item_as_the_rate_does(
    database_url: str, db: Database, config: AuditConfig
) -> None:
    """20 replies, 4 drawn, 2 reviewed (at the same moment, by two reviewers on two engines), both
    defective and in one group: the rate says ≈ 20 defective replies, and so does the group."""
    config.sampling.size, config.review.double_review_share = 4, 0.0
    records = [
        ReplyRecord(
            id=f"R-{n}",
            ticket_id="T-1",
            created_at=berlin(17, 9 + n / 10),
            reply=f"Hi {n}",
            template_id="refund_v3",
        )
        for n in range(20)
    ]
    await ingest(db, records, checks=CHECKS, now=berlin(17, 20))
    batch = await ensure_batch(db, config, dt.date(2026, 11, 18), berlin(18, 9.5))
    async with db.session() as session:
        items = list(
            (await session.execute(sa.select(SampleItem.id).where(SampleItem.batch_id == batch.id))).scalars()
        )
    assert len(items) == 4
    found = reviews.DefectInput("wrong_information", "high", "Wrong refund window", None, False)

    async def defect(engine: Database, item: int, reviewer: str) -> None:
        async with engine.transaction() as session:
            await reviews.record_defect(
                session=session,
                item_id=item,
                reviewer=reviewer,
                defect=found,
                config=config,
                now=berlin(18, 11),
            )

    engines = [Database(database_url), Database(database_url)]
    try:
        await asyncio.gather(defect(engines[0], items[0], "U0REV1"), defect(engines[1], items[1], "U0REV2"))
    finally:
        for engine in engines:
            await engine.dispose()
    rollup = (await compose(db, config, WEEK, berlin(23, 9))).rollup
    assert rollup.rate.estimate.total == pytest.approx(20.0)
    (group,) = rollup.top_groups.rows
    assert group.occurrences == 2
    assert group.affected == pytest.approx(rollup.rate.estimate.total)  # 20, not Σ 1/π = 10
    (category,) = rollup.category_rates
    assert category.category == "wrong_information" and category.estimate.total == pytest.approx(20.0)


async def test_after_a_restart_on_monday_the_caught_up_jobs_post_the_weekend_as_uncovered(
    db: Database, settings: Settings, config: AuditConfig, fake_slack: FakeSlack
) -> None:
    """The scheduler starts at Monday 09:31: the digest (09:00) and the sample (09:30) both catch up at
    once; whichever runs first, one Monday frame is drawn and the digest accounts for it."""
    await a_week_of_replies(db)
    await tuesday_to_friday(db, config)
    handle = start_scheduler(services_at(settings, config, db, fake_slack, berlin(23, 9.52)))
    try:
        await until(lambda: {"digest", "sample"} <= {name for name, ran in handle.runs if ran}, "both jobs")
    finally:
        await handle.stop()
    async with db.session() as session:
        days = list((await session.execute(sa.select(SampleBatch.day).order_by(SampleBatch.day))).scalars())
    assert days == [dt.date(2026, 11, d) for d in (17, 18, 19, 20, 23)]
    (message,) = [c for c in fake_slack.calls("chat.postMessage") if c.args["channel"] == "C0DIGEST"]
    text = all_text(message.args["blocks"])
    assert (
        "350 replies = 200 in the estimate + 150 uncovered (sampled, nobody reviewed yet) + 0 not yet sampled"
        in text
    )
    assert len(fake_slack.messages("C0AUDIT")) == 1 + config.sampling.size  # Monday's sample, posted once
