"""Scheduled jobs in the configured time zone, run only by the replica holding the leader lease.

APScheduler keeps jobs in memory, so a process that starts just after 09:30 would not know the
day's run was missed: at start, every cron job whose last fire time lies within its misfire grace
runs once (the jobs are idempotent, so a run that already happened does nothing).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.db import fail_fast
from bot.delivery.lease import acquire_or_renew, process_holder, release

if TYPE_CHECKING:
    from bot.core.services import Services

log = logging.getLogger("auditbot.scheduler")

LEADER = "scheduler"
LEADER_TTL = dt.timedelta(seconds=60)
HEARTBEAT = dt.timedelta(seconds=20)  # renew well before the lease runs out
CRON_GRACE = dt.timedelta(hours=6)  # a deploy (or an outage) at 09:30 still gets the day's run
INTERVAL_GRACE = dt.timedelta(minutes=5)
RELEASE_TIMEOUT = 2.0  # seconds a stop gives the lease's release


@dataclass(frozen=True)
class Job:
    name: str
    target: str  # "module:function", imported when the job runs
    trigger: BaseTrigger


def jobs_for(services: Services) -> list[Job]:
    """Every scheduled job, its target and trigger, from the team config."""
    config = services.config
    tz = config.slack.tz
    jobs = []
    if config.sampling.days:
        hour, minute = _hour_minute(config.sampling.at)
        days = ",".join(config.sampling.days)
        trigger = CronTrigger(day_of_week=days, hour=hour, minute=minute, timezone=tz)
        jobs.append(Job("sample", "bot.sample.posting:run_daily_sample", trigger))
    hour, minute = _hour_minute(config.digest.at)
    digest = CronTrigger(day_of_week=config.digest.day, hour=hour, minute=minute, timezone=tz)
    jobs += [
        Job("digest", "bot.digest.post:post_weekly_digest", digest),
        Job(
            "poll",
            "bot.ingest.polling:poll_sources",
            IntervalTrigger(minutes=config.sources.poll_minutes, timezone=tz),
        ),
        Job("outbox", "bot.defects.effects:deliver_pending", IntervalTrigger(minutes=1, timezone=tz)),
        Job(
            "status_sync",
            "bot.defects.status_sync:sync_tracker_status",
            IntervalTrigger(minutes=15, timezone=tz),
        ),
        Job("verify", "bot.defects.verification:check_fixes", IntervalTrigger(minutes=15, timezone=tz)),
    ]
    if config.judge.mode == "all":  # judge new replies as they come, within the daily budget
        jobs.append(Job("judge", "bot.judge.runner:judge_pending", IntervalTrigger(minutes=10, timezone=tz)))
    return jobs


def _hour_minute(at: str) -> tuple[int, int]:
    time = dt.time.fromisoformat(at)
    return time.hour, time.minute


async def is_leader(services: Services) -> bool:
    """Take or renew the leader lease; False if another live replica holds it."""
    return await acquire_or_renew(
        services.db, LEADER, process_holder(services), LEADER_TTL, services.clock.now()
    )


async def run_job(services: Services, job: Job) -> bool:
    """Run `job` if this process leads; a target whose module is not there yet is skipped."""
    if not await is_leader(services):
        log.debug("job %s: another replica holds the lease", job.name)
        return False
    module_name, function_name = job.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        log.info("job %s skipped: %s is not available", job.name, module_name)
        return False
    await getattr(module, function_name)(services)
    return True


def missed_runs(jobs: list[Job], now: dt.datetime, grace: dt.timedelta = CRON_GRACE) -> list[Job]:
    """Cron jobs whose latest fire time before `now` lies within `grace`."""
    missed = []
    for job in jobs:
        if isinstance(job.trigger, CronTrigger):
            fire = job.trigger.get_next_fire_time(None, now - grace)
            if fire is not None and fire <= now:
                missed.append(job)
    return missed


@dataclass
class SchedulerHandle:
    """A started scheduler; `runs` records (job, ran) for each finished job, newest last."""

    services: Services
    scheduler: AsyncIOScheduler
    jobs: list[Job] = field(default_factory=list)
    runs: list[tuple[str, bool]] = field(default_factory=list)
    leading: bool | None = None  # as of the last heartbeat; None before the first

    async def _run(self, job: Job) -> None:
        self.services.inflight.add()  # a stop lets a running job finish
        try:
            ran = await run_job(self.services, job)
        except Exception:  # one failed run must not stop the schedule; the next run retries
            log.exception("job %s failed", job.name)
            ran = False
        self.runs.append((job.name, ran))

    async def _heartbeat(self) -> None:
        """Renew the lease; on taking it over from another replica, catch up the cron runs it may
        have missed while it stopped or died (they are idempotent: a run that happened does nothing)."""
        try:
            leading = await is_leader(self.services)
        except Exception as exc:  # the database away: the next heartbeat tries again
            log.warning("leader lease not renewed: %s: %s", type(exc).__name__, exc)
            return
        if leading and self.leading is False:
            self._catch_up("taken over from another replica")
        self.leading = leading

    def _catch_up(self, why: str) -> None:
        for job in missed_runs(self.jobs, self.services.clock.now()):
            log.info("job %s missed its last run: running it now (%s)", job.name, why)
            self.scheduler.add_job(
                self._run, DateTrigger(), args=[job], id=f"{job.name}-catch-up", replace_existing=True
            )

    def pause(self) -> None:
        """Start no new job run; the running ones go on (`services.inflight` knows them)."""
        if self.scheduler.running:
            self.scheduler.pause()

    async def stop(self) -> None:
        """Stop scheduling and hand the lease to another replica at once (cancels a running job:
        a server stop first `pause`s and lets the running ones finish)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        try:  # a database that is away must not hold the exit: the lease then runs out by itself
            with fail_fast():
                await asyncio.wait_for(
                    release(self.services.db, LEADER, process_holder(self.services)), RELEASE_TIMEOUT
                )
        except Exception as exc:
            log.warning("leader lease not released (it expires within %s): %s", LEADER_TTL, exc)


def start_scheduler(
    services: Services, *, catch_up: bool = True, without: Collection[str] = ()
) -> SchedulerHandle:
    """Start the jobs (but those named in `without`) on the running event loop; returns a handle
    to stop them."""
    scheduler = AsyncIOScheduler(timezone=services.config.slack.tz)
    jobs = [job for job in jobs_for(services) if job.name not in without]
    handle = SchedulerHandle(services, scheduler, jobs)
    for job in jobs:
        cron = isinstance(job.trigger, CronTrigger)
        scheduler.add_job(
            handle._run,
            job.trigger,
            args=[job],
            id=job.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int((CRON_GRACE if cron else INTERVAL_GRACE).total_seconds()),
        )
    scheduler.add_job(
        handle._heartbeat,
        IntervalTrigger(seconds=HEARTBEAT.total_seconds()),
        id="heartbeat",
        coalesce=True,
        max_instances=1,
        next_run_time=dt.datetime.now(dt.UTC),
    )
    if catch_up:
        handle._catch_up("at start")
    scheduler.start()
    return handle
