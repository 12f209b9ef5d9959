"""`auditbot report segments [--week W] [--by DIMENSION] [--format text|jsonl]`: where the AI fails."""

from __future__ import annotations

import argparse
import sys

import orjson

from bot.cli.env import CliEnv
from bot.core import weeks
from bot.digest.segments import DIMENSIONS, Segment, week_segments
from bot.digest.text import pct as percent

HEADER = ("by", "segment", "reviewed", "defective", "est. replies", "rate", "95% CI", "")


def segment_row(s: Segment) -> dict[str, object]:
    e = s.estimate
    return {
        "by": s.dimension,
        "segment": s.value,
        "reviewed": s.reviewed,
        "defective": s.defective,
        "replies": round(e.population),
        "defective_replies": round(e.total),
        "rate": e.rate,
        "low": e.low,
        "high": e.high,
        "small_n": s.small,
    }


def table(segments: list[Segment]) -> list[tuple[str, ...]]:
    rows = [HEADER]
    for s in segments:
        e = s.estimate
        rows.append(
            (
                s.dimension,
                s.value,
                str(s.reviewed),
                str(s.defective),
                f"≈ {round(e.total):,} of {round(e.population):,}",
                percent(e.rate),
                f"{percent(e.low)}–{percent(e.high)}" if e.low is not None else "–",
                "small n" if s.small else "",
            )
        )
    return rows


async def command_report(args: argparse.Namespace, env: CliEnv) -> int:
    week = args.week or weeks.last_complete(env.clock.now(), env.config.slack.tz)
    dimensions = [args.by] if args.by else list(DIMENSIONS)
    db = await env.database()
    async with db.session() as session:
        segments = await week_segments(session, week, dimensions)
    segments.sort(key=lambda s: dimensions.index(s.dimension))  # stable: worst first within each
    if args.format == "jsonl":
        for s in segments:
            sys.stdout.write(orjson.dumps({"week": week, **segment_row(s)}).decode() + "\n")
        return 0
    print(
        f"Segments of {week}: estimated defect rate of the week's replies per segment, from the reviewed "
        "sample (small n: fewer than 30 reviewed)"
    )
    if not segments:
        print("No reviewed items in this week's samples.")
        return 0
    rows = table(segments)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for r in rows:
        cells = (c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        print("  ".join(cells).rstrip())
    return 0
