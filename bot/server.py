"""`auditbot run`: the Bolt app over HTTP (uvicorn) or Socket Mode, plus the scheduler."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

import uvicorn

from bot.app import build_app, services_of
from bot.web import build_web

log = logging.getLogger("auditbot")


async def command_run(args: argparse.Namespace, env) -> int:  # type: ignore[no-untyped-def]
    env.settings.require_slack()
    config = env.config
    db = await env.database()
    app = build_app(env.settings, config, db, clock=env.clock)
    web = build_web(app)
    port = args.port or int(os.environ.get("PORT") or env.settings.port)
    server = uvicorn.Server(
        uvicorn.Config(web, host=args.host, port=port, log_level="warning", access_log=False)
    )
    scheduler = None if args.no_scheduler else _start_scheduler(app)
    socket_mode = bool(env.settings.slack_app_token) and not args.http
    try:
        if socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            handler = AsyncSocketModeHandler(app, env.settings.slack_app_token)
            log.info("auditbot: Socket Mode; /ingest and /healthz on port %s", port)
            await handler.connect_async()
            try:
                await server.serve()
            finally:
                await handler.close_async()
        else:
            log.info("auditbot: HTTP on %s:%s (Slack request URL: /slack/events)", args.host, port)
            await server.serve()
    finally:
        if scheduler is not None:
            await scheduler.stop()
    return 0


def _start_scheduler(app):  # type: ignore[no-untyped-def]
    try:
        from bot.scheduler import start_scheduler
    except ImportError:  # the scheduler module is optional until sampling lands
        return None
    return start_scheduler(services_of(app))


async def serve_forever() -> None:  # pragma: no cover - used by Socket Mode only deployments
    await asyncio.Event().wait()
