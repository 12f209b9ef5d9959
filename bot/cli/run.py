"""`auditbot run [--http] [--port N]`: the bot, Socket Mode when SLACK_APP_TOKEN is set, else HTTP;
`auditbot worker`: the outbox and the schedule, without serving anything."""

from __future__ import annotations

import argparse
import os

from bot.cli.env import CliEnv

DB_PATIENCE_S = 300.0  # acknowledged work waits this long for a database that went away


async def command_run(args: argparse.Namespace, env: CliEnv) -> int:
    from bot.app import build_app
    from bot.core.services import build_client
    from bot.server import check_slack, serve

    env.settings.require_slack()
    socket_mode = bool(env.settings.slack_app_token) and not args.http
    client = build_client(env.settings)
    # A token Slack refuses stops here, with one line, before anything claims to be served.
    await check_slack(client, env.settings.slack_app_token if socket_mode else None)
    db = await env.database()
    db.patience = DB_PATIENCE_S
    app = build_app(env.settings, env.config, db, clock=env.clock, client=client)
    await serve(
        app,
        host=args.host,
        port=args.port or int(os.environ.get("PORT") or env.settings.port),
        socket_mode=socket_mode,
        app_token=env.settings.slack_app_token or "",
        scheduler=not args.no_scheduler,
    )
    return 0


async def command_worker(args: argparse.Namespace, env: CliEnv) -> int:
    from bot.server import check_slack, work

    services = await env.services(slack=True)
    assert services.client is not None
    await check_slack(services.client, None)  # a refused token stops here, with one line
    services.db.patience = DB_PATIENCE_S
    await work(services, scheduler=not args.no_scheduler)
    return 0
