"""`auditbot checks [--days N] [--format text|jsonl]`: each check's volume and measured precision."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import orjson

from bot.cli.env import CliEnv
from bot.digest.checks import check_precision
from bot.views.checks import percent

HEADER = ("kind", "findings", "all time", "judged", "confirmed", "precision", "95% CI", "")


async def command_checks(args: argparse.Namespace, env: CliEnv) -> int:
    db = await env.database()
    since = env.clock.now() - dt.timedelta(days=args.days)
    async with db.session() as session:
        recent = await check_precision(session, since=since, detectors=env.config.detectors)
        ever = {p.kind: p.findings for p in await check_precision(session)}
    if args.format == "jsonl":
        for p in recent:
            row = {
                "kind": p.kind,
                "findings": p.findings,
                "findings_all_time": ever.get(p.kind, 0),
                "judged": p.judged,
                "confirmed": p.confirmed,
                "precision": p.precision,
                "low": p.low,
                "high": p.high,
                "muted": p.muted,
            }
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
        return 0
    print(
        f"Automatic checks: findings in the last {args.days} days and all time;"
        " precision = confirmed / judged"
    )
    rows = [HEADER]
    for p in recent:
        interval = f"{percent(p.low)}–{percent(p.high)}" if p.judged else "–"
        rows.append(
            (
                p.kind,
                f"{p.findings:,}",
                f"{ever.get(p.kind, 0):,}",
                str(p.judged),
                str(p.confirmed),
                percent(p.precision),
                interval,
                "muted" if p.muted else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for r in rows:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    return 0
