"""Scheduler: jobs and triggers in the team's time zone, the leader lease, catch-up after a deploy."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.services import Services
from bot.core.settings import Settings
from bot.delivery.lease import holder_of as lease_holder
from bot.delivery.lease import release
from bot.scheduler import (
    CRON_GRACE,
    LEADER,
    LEADER_TTL,
    Job,
    is_leader,
    jobs_for,
    missed_runs,
    run_job,
    start_scheduler,
)

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_0931 = dt.datetime(2026, 11, 27, 9, 31, tzinfo=BERLIN)
CALLS: list[str] = []


async def record_call(services: Services) -> None:
    """A job target (not our code under test): records that the job ran."""
    CALLS.append(services.extras["holder"])  # type: ignore[arg-type]


RECORD = "tests.bot.test_scheduler:record_call"


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def services_for(
    settings: Settings, config: AuditConfig, db: Database, at: dt.datetime = FRIDAY_0931
) -> Services:
    return Services(settings, config, db, FrozenClock(at.astimezone(dt.UTC)))


def by_name(config: AuditConfig, settings: Settings, db: Database) -> dict[str, Job]:
    return {job.name: job for job in jobs_for(services_for(settings, config, db))}


def test_jobs_and_their_targets(config: AuditConfig, settings: Settings, db: Database) -> None:
    jobs = by_name(config, settings, db)
    assert {name: job.target for name, job in jobs.items()} == {
        "sample": "bot.sample.posting:run_daily_sample",
        "digest": "bot.digest.post:post_weekly_digest",
        "poll": "bot.ingest.polling:poll_sources",
        "outbox": "bot.defects.effects:deliver_pending",
        "status_sync": "bot.defects.status_sync:sync_tracker_status",
        "verify": "bot.defects.verification:check_fixes",
    }
    assert isinstance(jobs["poll"].trigger, IntervalTrigger)
    assert jobs["poll"].trigger.interval == dt.timedelta(minutes=config.sources.poll_minutes)
    assert jobs["outbox"].trigger.interval == dt.timedelta(minutes=1)  # type: ignore[attr-defined]
    assert jobs["status_sync"].trigger.interval == dt.timedelta(minutes=15)  # type: ignore[attr-defined]
    assert jobs["verify"].trigger.interval == dt.timedelta(minutes=15)  # type: ignore[attr-defined]


def test_sample_fires_at_0930_berlin_on_weekdays_only(
    config: AuditConfig, settings: Settings, db: Database
) -> None:
    trigger = by_name(config, settings, db)["sample"].trigger
    assert isinstance(trigger, CronTrigger)
    after_friday = trigger.get_next_fire_time(None, FRIDAY_0931)
    assert after_friday == dt.datetime(2026, 11, 30, 9, 30, tzinfo=BERLIN)  # Monday, not Saturday
    assert after_friday.astimezone(dt.UTC).hour == 8
    # summer time: still 09:30 on the wall clock
    june = trigger.get_next_fire_time(None, dt.datetime(2026, 6, 1, 0, 0, tzinfo=dt.UTC))
    assert june is not None and june.astimezone(dt.UTC) == dt.datetime(2026, 6, 1, 7, 30, tzinfo=dt.UTC)


def test_digest_fires_on_its_day_and_time(config: AuditConfig, settings: Settings, db: Database) -> None:
    trigger = by_name(config, settings, db)["digest"].trigger
    assert trigger.get_next_fire_time(None, FRIDAY_0931) == dt.datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)


def test_no_sample_job_without_sampling_days(config: AuditConfig, settings: Settings, db: Database) -> None:
    config.sampling.days = []
    assert "sample" not in by_name(config, settings, db)


@pytest.mark.parametrize(
    ("at", "missed"),
    [
        (FRIDAY_0931, {"sample"}),
        (dt.datetime(2026, 11, 27, 15, 29, tzinfo=BERLIN), {"sample"}),  # within the grace
        (dt.datetime(2026, 11, 27, 15, 31, tzinfo=BERLIN), set()),  # too late: tomorrow's run
        (dt.datetime(2026, 11, 27, 9, 29, tzinfo=BERLIN), set()),  # not due yet
        (dt.datetime(2026, 11, 28, 9, 31, tzinfo=BERLIN), set()),  # Saturday
        (dt.datetime(2026, 11, 30, 9, 31, tzinfo=BERLIN), {"sample", "digest"}),  # Monday
    ],
)
def test_missed_runs_within_the_grace(
    config: AuditConfig, settings: Settings, db: Database, at: dt.datetime, missed: set[str]
) -> None:
    assert dt.timedelta(hours=6) == CRON_GRACE
    jobs = list(by_name(config, settings, db).values())
    assert {job.name for job in missed_runs(jobs, at.astimezone(dt.UTC))} == missed


async def test_only_the_lease_holder_runs_jobs_and_a_dead_holder_is_replaced(
    database_url: str, config: AuditConfig, settings: Settings, db: Database
) -> None:
    job = Job("record", RECORD, IntervalTrigger(minutes=1))
    other_db = Database(database_url)
    try:
        first, second = services_for(settings, config, db), services_for(settings, config, other_db)
        first.extras["holder"], second.extras["holder"] = "first", "second"
        assert await run_job(first, job)
        assert not await run_job(second, job)
        assert CALLS == ["first"]
        # the first process dies: no heartbeat; once its lease expires the second takes over
        second.clock.advance(seconds=LEADER_TTL.total_seconds() + 1)  # type: ignore[attr-defined]
        assert await run_job(second, job)
        assert CALLS == ["first", "second"]
        assert await lease_holder(db, LEADER, second.clock.now()) == "second"
    finally:
        await other_db.dispose()


async def test_a_replica_taking_the_lease_over_catches_up_the_runs_the_leader_missed(
    database_url: str, config: AuditConfig, settings: Settings, db: Database
) -> None:
    """The leader stopped (or died) around 09:30, when the other replicas skipped the run: the one
    that takes the lease over, at its next heartbeat, runs the cron jobs missed within the grace."""
    other_db = Database(database_url)
    leader, replica = services_for(settings, config, db), services_for(settings, config, other_db)
    leader.extras["holder"], replica.extras["holder"] = "leader", "replica"
    assert await is_leader(leader)
    handle = start_scheduler(replica, catch_up=False)
    handle.jobs = [Job("record", RECORD, CronTrigger(day_of_week="fri", hour=9, minute=30, timezone=BERLIN))]
    try:
        await handle._heartbeat()
        assert handle.leading is False
        await release(db, LEADER, "leader")  # a clean stop hands the lease over
        await handle._heartbeat()
        assert handle.leading is True
        deadline = asyncio.get_running_loop().time() + 10
        while not handle.runs and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)  # the catch-up runs on the scheduler's own task
        assert handle.runs == [("record", True)]
        assert CALLS == ["replica"]
        await handle._heartbeat()  # still the leader: nothing more to catch up
        assert CALLS == ["replica"]
    finally:
        await handle.stop()
        await other_db.dispose()


async def test_a_stop_does_not_wait_for_a_database_that_is_away_to_release_the_lease(
    config: AuditConfig, settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = services_for(settings, config, db)
    handle = start_scheduler(services, catch_up=False)
    await handle._heartbeat()

    async def never(*_args: object) -> None:  # stands in for a connect that hangs
        await asyncio.Event().wait()

    monkeypatch.setattr("bot.scheduler.release", never)
    monkeypatch.setattr("bot.scheduler.RELEASE_TIMEOUT", 0.05)
    await asyncio.wait_for(handle.stop(), timeout=5)
    assert not handle.scheduler.running


async def test_a_job_whose_module_is_missing_is_skipped(
    config: AuditConfig, settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    job = Job("digest", "bot.no_such_module_yet:post", IntervalTrigger(minutes=1))
    with caplog.at_level(logging.INFO, logger="auditbot.scheduler"):
        assert not await run_job(services_for(settings, config, db), job)
    assert "bot.no_such_module_yet is not available" in caplog.text


async def test_an_import_error_inside_a_module_is_not_hidden(
    config: AuditConfig, settings: Settings, db: Database
) -> None:
    job = Job("broken", "tests.bot.no_such_package.module:run", IntervalTrigger(minutes=1))
    with pytest.raises(ModuleNotFoundError):
        await run_job(services_for(settings, config, db), job)


async def test_started_scheduler_registers_jobs_with_coalesce_one_instance_and_grace(
    config: AuditConfig, settings: Settings, db: Database
) -> None:
    at_night = dt.datetime(2026, 11, 27, 2, 0, tzinfo=BERLIN)  # nothing to catch up
    handle = start_scheduler(services_for(settings, config, db, at_night))
    try:
        jobs = {job.id: job for job in handle.scheduler.get_jobs()}
        assert set(jobs) == {"sample", "digest", "poll", "outbox", "status_sync", "verify", "heartbeat"}
        for name in ("sample", "digest", "poll", "outbox", "status_sync", "verify"):
            assert jobs[name].coalesce and jobs[name].max_instances == 1
        assert jobs["sample"].misfire_grace_time == 6 * 3600
        assert str(jobs["sample"].trigger.timezone) == "Europe/Berlin"
    finally:
        await handle.stop()
    assert not handle.scheduler.running


def test_the_judge_job_runs_only_in_mode_all(config: AuditConfig, settings: Settings, db: Database) -> None:
    assert "judge" not in by_name(config, settings, db)
    for mode, present in (("sample", False), ("all", True)):
        judged = config.model_copy(update={"judge": config.judge.model_copy(update={"mode": mode})})
        jobs = by_name(judged, settings, db)
        assert ("judge" in jobs) is present
    assert jobs["judge"].target == "bot.judge.runner:judge_pending"
    assert jobs["judge"].trigger.interval == dt.timedelta(minutes=10)  # type: ignore[attr-defined]
