"""`auditbot run [--http] [--port N]`: the bot, Socket Mode when SLACK_APP_TOKEN is set, else HTTP."""

from __future__ import annotations

import argparse
import os

from bot.cli.env import CliEnv


async def command_run(args: argparse.Namespace, env: CliEnv) -> int:
    from bot.app import build_app
    from bot.server import serve

    env.settings.require_slack()
    app = build_app(env.settings, env.config, await env.database(), clock=env.clock)
    await serve(
        app,
        host=args.host,
        port=args.port or int(os.environ.get("PORT") or env.settings.port),
        socket_mode=bool(env.settings.slack_app_token) and not args.http,
        app_token=env.settings.slack_app_token or "",
        scheduler=not args.no_scheduler,
    )
    return 0
