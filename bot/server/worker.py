"""`work`: a worker process, for deployments that run web processes and workers apart.

A worker serves nothing: it drains the outbox and runs the schedule. Every worker drains the
outbox, so N workers share it: each row is claimed by one of them (on PostgreSQL the claim skips
rows another worker is claiming, `FOR UPDATE SKIP LOCKED`, then moves the row to `delivering`
with a conditional UPDATE), and none delivers a row another has. Only the worker holding the
leader lease runs the scheduled jobs; another takes them over once the lease is free (and first
runs the cron jobs missed within their grace).

On SIGTERM or SIGINT: no new outbox row or job is taken, the delivery and the jobs under way
finish (the drain is registered with the jobs in `services.inflight`), the leader lease is
released, and the process exits 0; at most STOP_TIMEOUT seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.core.db import fail_fast, is_unavailable
from bot.core.services import Services
from bot.defects.effects import deliver_pending
from bot.scheduler import start_scheduler
from bot.server.run import STOP_TIMEOUT, finish, on_signals

log = logging.getLogger("auditbot")

DRAIN_EVERY = 2.0  # seconds between looks at the outbox when it is empty
BATCH = 100  # rows looked at per pass (each claimed on its own)


async def work(services: Services, *, scheduler: bool = True, drain_every: float = DRAIN_EVERY) -> None:
    """Drain the outbox and run the schedule until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    on_signals(stop)
    # The leader's scheduled outbox pass would only repeat this process's own drain.
    jobs = start_scheduler(services, without=("outbox",)) if scheduler else None
    log.info("auditbot: worker started (outbox every %.0f s%s)", drain_every, ", schedule" if jobs else "")
    # The drain is work in flight like any other: a stop lets it finish the row it is delivering.
    services.inflight.add(asyncio.create_task(_drain(services, stop, drain_every)))
    try:
        await stop.wait()
    finally:
        deadline = asyncio.get_running_loop().time() + STOP_TIMEOUT
        services.inflight.stopping = True
        log.info("auditbot: stopping; no new work taken, %d task(s) to finish", len(services.inflight))
        if jobs is not None:
            jobs.pause()
        await finish(services.inflight, jobs, deadline)


async def _drain(services: Services, stop: asyncio.Event, every: float) -> None:
    """Deliver due rows until `stop`; after an empty pass, wait `every` seconds (or the stop).

    The drain does not wait out an unreachable database (the scheduled jobs do): the rows wait in
    the outbox, and a row claimed when the database went away is delivered again, looking first,
    once its lease runs out. So a stop is never held by an outage."""
    away = False
    while not stop.is_set():
        try:
            with fail_fast():
                report = await deliver_pending(services, limit=BATCH, stop=stop)
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("outbox pass failed; trying again in %.0f s", every)
            elif not away:
                log.warning("outbox: the database cannot be reached; trying every %.0f s", every)
            away, report = is_unavailable(exc), None
        else:
            if away:
                log.info("outbox: the database is back")
            away = False
        if report is not None and (report.delivered or report.retried or report.dead):
            counts = report.delivered, report.retried, report.dead
            log.info("outbox: delivered %d, retrying later %d, dead %d", *counts)
            continue  # more may be due already
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
