"""`auditbot export KIND [--since D] [--format csv|jsonl|promptfoo] [-o FILE] [--raw]`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from contextlib import ExitStack

from bot.cli.env import CliEnv, UsageError
from bot.export import regressions
from bot.export.tables import DEFAULT_FORMAT, write

REGRESSIONS = "regressions"


def _format(args: argparse.Namespace) -> str:
    """The format asked for, or the kind's default; promptfoo is for regressions, CSV is not."""
    if args.kind == REGRESSIONS:
        fmt = args.format or "promptfoo"
        if fmt not in regressions.FORMATS:
            raise UsageError(f"--format {fmt}: regressions are written as {' or '.join(regressions.FORMATS)}")
        return str(fmt)
    if args.format == "promptfoo":
        raise UsageError(f"--format promptfoo: only for `export {REGRESSIONS}`")
    return str(args.format or DEFAULT_FORMAT.get(args.kind, "csv"))


async def command_export(args: argparse.Namespace, env: CliEnv) -> int:
    fmt = _format(args)
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
        # `| head`: see bot.cli.main
        if args.kind == REGRESSIONS:
            count = await regressions.write(db, out, fmt, since)
        else:
            count = await write(db, args.kind, out, fmt, since, raw=args.raw, now=env.clock.now())
    print(f"exported {count} {args.kind}", file=sys.stderr)
    return 0
