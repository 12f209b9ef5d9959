"""Seeded trials of the verification stratum (issue #15): does oversampling a fix's segment bias the
weekly estimate?

usage: python bench/verification_stratum.py [--weeks N] [--seeds S [S ...]] [--database-url URL]

Each seed runs tests/simulation.py with a fix verified the whole time: 10% of the replies are its
segment, defective at 16% (the other unflagged replies at 4%), and each daily sample draws up to
four of them besides its regular ten, so they are drawn several times as often as the rest. The
same seed is run again without the verification stratum (no fix being verified). Per run it prints
the mean error of the weekly estimate against the true rate of all the week's replies (with its
standard error), the root-mean-square error, and how often the 95% interval held the truth (with a
Wilson interval for that share). Exit 1 if, with the stratum, the mean error is more than three
standard errors from zero or the coverage over all seeds is outside 92–98%.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.honest_numbers import drop, scratch, spread
from bot.core.db import Database
from tests.simulation import Knobs, simulate


async def trial(url: str | None, knobs: Knobs) -> tuple[list[float], int, int, int]:
    """(weekly errors, weeks whose interval held the truth, weeks with an interval, verification items)."""
    made_url, made = await scratch(url)
    db = Database(made_url)
    try:
        await db.upgrade()
        outcome = await simulate(db, knobs)
    finally:
        await db.dispose()
        await drop(url, made)
    truth = outcome.true_rates()
    found = [f.rate - truth[w] for w, f in outcome.final.items() if f.rate is not None]
    held, total = outcome.coverage(outcome.final, truth)
    return found, held, total, outcome.verify_items


def line(label: str, errors: list[float], held: int, total: int) -> str:
    mean, se = statistics.fmean(errors), statistics.stdev(errors) / len(errors) ** 0.5
    rmse = statistics.fmean(e * e for e in errors) ** 0.5
    return (
        f"{label}: mean error {mean * 100:+.3f} pp (standard error {se * 100:.3f} pp, {mean / se:+.2f} SE), "
        f"RMSE {rmse * 100:.3f} pp, coverage {spread(held, total)}"
    )


async def run(args: argparse.Namespace) -> int:
    ok = True
    held_all = total_all = 0
    pooled: list[float] = []
    for seed in args.seeds:
        knobs = Knobs(weeks=args.weeks, seed=seed, segment_share=0.10, p_segment=0.16, verify_size=4)
        started = time.perf_counter()
        errors, held, total, items = await trial(args.database_url, knobs)
        plain, p_held, p_total, _ = await trial(args.database_url, replace(knobs, verify_size=0))
        seconds = time.perf_counter() - started
        held_all, total_all = held_all + held, total_all + total
        pooled += errors
        mean, se = statistics.fmean(errors), statistics.stdev(errors) / len(errors) ** 0.5
        ok = ok and abs(mean) <= 3 * se
        print(f"seed {seed} ({args.weeks} weeks, {items} verification items, {seconds:.0f} s)")
        print("  " + line("with the verification stratum", errors, held, total))
        print("  " + line("without it (same replies)     ", plain, p_held, p_total))
    coverage = held_all / max(total_all, 1)
    ok = ok and 0.92 <= coverage <= 0.98
    print("all seeds, " + line("with the stratum", pooled, held_all, total_all))
    print("result: " + ("unbiased, covers" if ok else "MISSES a target"))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weeks", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
