"""Serving the Bolt app: over HTTP (uvicorn) or Socket Mode, with the scheduler beside it."""

from __future__ import annotations

import logging

import uvicorn
from slack_bolt.async_app import AsyncApp

from bot.app import services_of
from bot.scheduler import start_scheduler
from bot.web.app import build_web

log = logging.getLogger("auditbot")


async def serve(
    app: AsyncApp, *, host: str, port: int, socket_mode: bool, app_token: str = "", scheduler: bool = True
) -> None:
    """Serve until stopped: /slack/events (HTTP mode), /ingest, /webhooks/* and /healthz."""
    web = build_web(app)
    server = uvicorn.Server(uvicorn.Config(web, host=host, port=port, log_level="warning", access_log=False))
    jobs = start_scheduler(services_of(app)) if scheduler else None
    try:
        if socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            handler = AsyncSocketModeHandler(app, app_token)
            log.info("auditbot: Socket Mode; /ingest and /healthz on port %s", port)
            await handler.connect_async()
            try:
                await server.serve()
            finally:
                await handler.close_async()
        else:
            log.info("auditbot: HTTP on %s:%s (Slack request URL: /slack/events)", host, port)
            await server.serve()
    finally:
        if jobs is not None:
            await jobs.stop()
