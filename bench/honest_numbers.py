"""The long version of the seeded audit simulation (tests/simulation.py): many weeks, several seeds.

usage: python bench/honest_numbers.py [--weeks N] [--seeds S [S ...]] [--size K] [--database-url URL]

Each seed runs its own timeline on a fresh database (a temporary SQLite file by default; with a
PostgreSQL URL, a scratch database next to it, dropped afterwards): replies around the clock, 10%
ingested hours late, the real cron order (digest Monday 09:00, samples Monday–Friday 09:30), one
weekday a week missed and caught up or back-filled, reviewers answering 70% of the items. It
prints, per seed and in all: weeks where ingested ≠ estimated + uncovered + not yet sampled (must
be none), and how often the 95% interval held the true rate, with a binomial 95% interval for that
coverage itself: for the digest as posted (Monday 09:00: the weekend's frame drawn but not reviewed
yet), against the true rate of the replies it describes (those in the estimate) and, for
information, of the whole week; and for each week computed again once every frame covering it was
reviewed, against the true rate of the whole week. Exit 1 if the identity broke, if the overall
coverage once reviewed is outside 93–97%, or if the digest as posted held its truth in fewer than
93% of the weeks (from about four days of reviews its interval errs on the wide side).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.digest import drop_postgres, scratch_postgres
from bot.core.db import Database
from tests.simulation import Knobs, simulate, summary


def spread(held: int, total: int) -> str:
    """`95.1% (93.8–96.2%)`: the share and its Wilson 95% interval."""
    if not total:
        return "–"
    p, z = held / total, 1.96
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return f"{p:.1%} ({centre - half:.1%}–{centre + half:.1%})"


async def scratch(url: str | None) -> tuple[str, str]:
    """A fresh database: a temporary SQLite file, or a scratch PostgreSQL database next to `url`."""
    if url is None:
        directory = tempfile.mkdtemp(prefix="auditbot-sim-")
        return f"sqlite:///{directory}/sim.db", directory
    return await scratch_postgres(url)


async def drop(url: str | None, made: str) -> None:
    if url is None:
        shutil.rmtree(made, ignore_errors=True)
    else:
        await drop_postgres(url, made)


async def run(args: argparse.Namespace) -> int:
    kinds = ("as posted", "as posted, of the whole week", "once reviewed")
    totals = {kind: [0, 0] for kind in kinds}
    broken = 0
    for seed in args.seeds:
        url, made = await scratch(args.database_url)
        db = Database(url)
        started = time.perf_counter()
        try:
            await db.upgrade()
            outcome = await simulate(db, Knobs(weeks=args.weeks, seed=seed, size=args.size))
        finally:
            await db.dispose()
            await drop(args.database_url, made)
        figures = summary(outcome)
        truth = outcome.true_rates()
        found = {
            kinds[0]: outcome.coverage(outcome.posted),  # the rate of the replies it describes
            kinds[1]: outcome.coverage(outcome.posted, truth),
            kinds[2]: outcome.coverage(outcome.final, truth),
        }
        for kind, (held, total) in found.items():
            totals[kind][0] += held
            totals[kind][1] += total
        broken += len(figures["identity_broken"])  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        print(
            f"seed {seed}: {figures['weeks']} weeks in {seconds:.0f} s; identity broken in "
            f"{len(figures['identity_broken'])} (must be 0); "  # type: ignore[arg-type]
            + "; ".join(f"coverage {kind} {spread(*found[kind])}" for kind in kinds)
            + f"; {figures['late_framed']} replies framed late, {figures['catch_ups']} catch-ups,"
            f" {figures['backfills']} back-fills"
        )
    print(
        "all: "
        + "; ".join(f"coverage {kind} {spread(*totals[kind])}" for kind in kinds)
        + f"; identity broken {broken}"
    )
    (posted_held, posted_n), (final_held, final_n) = totals[kinds[0]], totals[kinds[2]]
    ok = broken == 0 and 0.93 <= final_held / max(final_n, 1) <= 0.97 and posted_held >= 0.93 * posted_n
    print("result: " + ("meets the targets" if ok else "MISSES a target"))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weeks", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--size", type=int, default=10, help="sample size a day")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
