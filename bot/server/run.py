"""`serve`: HTTP (uvicorn) and optionally Socket Mode, the scheduler beside them, and a clean stop.

On SIGTERM or SIGINT (every deploy): no new Slack envelope or scheduled job is taken, the
envelopes being dispatched send their ack, the HTTP server stops accepting and answers what it
has, then every acknowledged piece of work (listeners after their ack, the deliveries they
started, running jobs) is finished; only what is still running at the deadline is cancelled.
The leader lease is released last, so another replica takes the jobs over at once. The whole
stop takes at most STOP_TIMEOUT seconds. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator

import uvicorn
from slack_bolt.async_app import AsyncApp

from bot.app import services_of
from bot.core.inflight import Inflight
from bot.scheduler import SchedulerHandle, start_scheduler
from bot.server.socket_mode import SocketMode
from bot.web.app import build_web

log = logging.getLogger("auditbot")

STOP_TIMEOUT = 25.0  # seconds from the signal to the exit (platforms allow about 30)
ACK_GRACE = 4.0  # an envelope being dispatched has 3 s to be acknowledged
HTTP_GRACE = 5.0  # uvicorn: requests in progress
CLEANUP_RESERVE = 3.0  # kept for releasing the lease and closing the database
STARTUP_TIMEOUT = 30.0


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: `serve` owns SIGTERM/SIGINT (uvicorn would re-raise
    them after its own shutdown, killing the process before the acknowledged work is done)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass


async def serve(
    app: AsyncApp, *, host: str, port: int, socket_mode: bool, app_token: str = "", scheduler: bool = True
) -> None:
    """Serve until SIGTERM/SIGINT: /slack/events (HTTP mode), /ingest, /webhooks/* and /healthz."""
    services = services_of(app)
    stop = asyncio.Event()
    on_signals(stop)
    config = uvicorn.Config(
        build_web(app),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(HTTP_GRACE),
    )
    server = _Server(config)
    http = asyncio.create_task(server.serve())
    socket: SocketMode | None = None
    jobs: SchedulerHandle | None = None
    try:
        if not await _started(server, http, stop):
            return
        paths = "/slack/events, " if not socket_mode else ""
        log.info("auditbot: listening on http://%s:%s (%s/ingest, /webhooks/*, /healthz)", host, port, paths)
        if socket_mode:
            socket = SocketMode(app, app_token, services.inflight)
            if not await _first(socket.connect_async(), stop):
                return
            log.info("auditbot: connected to Slack over Socket Mode")
        jobs = start_scheduler(services) if scheduler else None
        await _first(http, stop)
        if http.done() and not stop.is_set():
            http.result()  # uvicorn stopped on its own: say why
            raise RuntimeError("the HTTP server stopped")
    finally:
        await _stop(services.inflight, server, http, socket, jobs)


async def _stop(
    inflight: Inflight,
    server: _Server,
    http: asyncio.Task[None],
    socket: SocketMode | None,
    jobs: SchedulerHandle | None,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STOP_TIMEOUT
    inflight.stopping = True
    log.info("auditbot: stopping; no new work taken, %d acknowledged task(s) to finish", len(inflight))
    if jobs is not None:
        jobs.pause()
    if socket is not None:
        await socket.finish_acks(ACK_GRACE)
        await socket.close_async()
    server.should_exit = True
    if not http.done():
        await asyncio.wait({http}, timeout=HTTP_GRACE + 1)
    await finish(inflight, jobs, deadline)


async def finish(inflight: Inflight, jobs: SchedulerHandle | None, deadline: float) -> None:
    """The end of every stop: the work in flight finished (or cancelled at `deadline`, less the
    time kept for cleaning up), then the schedule stopped and its lease released."""
    loop = asyncio.get_running_loop()
    cancelled = await inflight.drain(max(deadline - loop.time() - CLEANUP_RESERVE, 0.0))
    if jobs is not None:
        await jobs.stop()
    log.info("auditbot: stopped%s", f" ({cancelled} unfinished task(s) cancelled)" if cancelled else "")


def on_signals(stop: asyncio.Event) -> None:
    """Set `stop` on the first SIGTERM/SIGINT; exit at once on the second."""
    loop = asyncio.get_running_loop()

    def received(signum: int) -> None:
        if stop.is_set():
            log.warning("auditbot: second %s: exiting now", signal.Signals(signum).name)
            os._exit(1)
        log.info("auditbot: %s received", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signum, received, signum)


async def _first(work: object, stop: asyncio.Event) -> bool:
    """Run `work` (a coroutine or task) until it ends or `stop` is set; True if it ended first."""
    task = work if isinstance(work, asyncio.Task) else asyncio.ensure_future(work)  # type: ignore[arg-type]
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        task.result()
        return True
    if not isinstance(work, asyncio.Task):
        task.cancel()
    return False


async def _started(server: _Server, http: asyncio.Task[None], stop: asyncio.Event) -> bool:
    """Wait until uvicorn listens; False if a stop came first. Raises if it could not start."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while not server.started:
        if http.done():
            http.result()
            raise RuntimeError(f"could not listen on {server.config.host}:{server.config.port}")
        if stop.is_set():
            return False
        if loop.time() > deadline:
            raise RuntimeError("the HTTP server did not start")
        await asyncio.sleep(0.02)  # uvicorn has no started event to wait on
    return True
