"""`auditbot db upgrade|current` and `auditbot config check`."""

from __future__ import annotations

import argparse
import json
import sys

from bot.cli.env import CliEnv
from bot.core.config import effective, load_config


async def command_db(args: argparse.Namespace, env: CliEnv) -> int:
    from bot.core.db import Database

    db = Database(env.settings.database_url)
    try:
        if args.action == "upgrade":
            await db.upgrade()
            print(f"database at revision {await db.current_revision()}")
        else:
            print(await db.current_revision() or "(empty)")
    finally:
        await db.dispose()
    return 0


async def command_config(args: argparse.Namespace, env: CliEnv) -> int:
    from bot.judge.client import config_problems
    from bot.judge.criteria import criteria_for

    config = load_config(env.settings, args.file)
    print(json.dumps(effective(env.settings, config), indent=2, default=str))
    problems = config_problems(config.judge, config.path or "(defaults)", bool(criteria_for(config)))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 2
    print("config ok", file=sys.stderr)
    return 0
