"""`auditbot export KIND [--since D] [--format csv|jsonl] [-o FILE] [--raw]`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from contextlib import ExitStack

from bot.cli.env import CliEnv, UsageError
from bot.export.tables import DEFAULT_FORMAT, write


async def command_export(args: argparse.Namespace, env: CliEnv) -> int:
    fmt = args.format or DEFAULT_FORMAT.get(args.kind, "csv")
    since = None
    if args.since is not None:
        midnight = dt.datetime.combine(args.since, dt.time(), tzinfo=env.config.slack.tz)
        since = midnight.astimezone(dt.UTC)
    db = await env.database()
    with ExitStack() as stack:
        out = sys.stdout
        if args.output and args.output != "-":
            try:
                out = stack.enter_context(open(args.output, "w", encoding="utf-8", newline=""))
            except OSError as exc:
                raise UsageError(f"{args.output}: cannot write: {exc.strerror or exc}") from exc
        count = await write(db, args.kind, out, fmt, since, raw=args.raw)  # `| head`: see bot.cli.main
    print(f"exported {count} {args.kind}", file=sys.stderr)
    return 0
