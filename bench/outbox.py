"""A delivery pass with a backlog held back in one sequence, against a floor, in the same run.

usage: python bench/outbox.py [--database-url URL] [--sizes 1000,10000] [--history 20000] [--rounds 3]

For each size N, a new database (or the SQLite file named, its outbox emptied) holds, in id
order: `--history` delivered rows of one sequence (a defect group's thread, long lived), N rows of
that sequence still waiting, the first of them waiting for a retry in an hour (so it holds the
others back), then 100 unsequenced rows that are due. A pass (`bot.delivery.outbox._due`, the
query each `auditbot deliver` pass and worker runs) must pass over the N held rows to list those
100; it is checked that it lists exactly them.

The floor is the least such a pass must read: every waiting, due row (the N + 100 rows, read once
and counted), with no held-back check. The ratio printed is the median of each round's pass time
over that round's floor time. A held-back check that costs the same for every row keeps the ratio
flat as N grows; one that reads each row's earlier rows (as before migration 0008) makes it grow
with N (the growth from the smallest size to the largest is printed; fixed costs per query make it
up to about 2x here even when each row costs the same). Exit 1 if the ratio at the largest size
exceeds TARGET_RATIO; exit 2 if a pass lists the wrong rows.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path
from statistics import median
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import sqlalchemy as sa
from _harness import scratch_database

from bot.core.db import Database
from bot.core.models import OutboxItem
from bot.delivery import outbox

FREE = 100  # unsequenced due rows after the backlog: what the pass must find
TARGET_RATIO = 20.0
NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
INSERT_ROWS = 2000


def rows(history: int, waiting: int) -> list[dict[str, object]]:
    def row(key: str, sequence: str | None, status: str, due: dt.datetime) -> dict[str, object]:
        return {
            "kind": "slack.thread_post",
            "idempotency_key": key,
            "payload": {},
            "sequence": sequence,
            "status": status,
            "attempts": 1 if status == "done" else 0,
            "next_attempt_at": due,
            "created_at": NOW,
        }

    later = NOW + dt.timedelta(hours=1)
    return [
        *(row(f"done:{i}", "slack.thread:g1", "done", NOW) for i in range(history)),
        *(row(f"held:{i}", "slack.thread:g1", "pending", later if i == 0 else NOW) for i in range(waiting)),
        *(row(f"free:{i}", None, "pending", NOW) for i in range(FREE)),
    ]


async def measure(url: str, history: int, waiting: int, rounds: int) -> tuple[float, float, float]:
    """(median ratio, median pass seconds, median floor seconds) for one size."""
    db = Database(url)
    try:
        await db.upgrade()
        async with db.transaction() as session:
            await session.execute(sa.delete(OutboxItem))  # a database named by --database-url is reused
            made = rows(history, waiting)
            for start in range(0, len(made), INSERT_ROWS):
                await session.execute(sa.insert(OutboxItem), made[start : start + INSERT_ROWS])
        async with db.transaction() as session:
            free = set(
                (
                    await session.execute(sa.select(OutboxItem.id).where(OutboxItem.sequence.is_(None)))
                ).scalars()
            )
            if db.engine.dialect.name == "postgresql":
                await session.execute(sa.text("ANALYZE outbox"))
        services = SimpleNamespace(db=db)
        floor_stmt = sa.select(sa.func.count()).where(
            OutboxItem.status.in_(("pending", "delivering")), OutboxItem.next_attempt_at <= NOW
        )
        passes, floors, ratios = [], [], []
        for _ in range(rounds + 1):  # the first round warms the caches and is not counted
            started = time.perf_counter()
            listed = await outbox._due(services, NOW, FREE, None)  # type: ignore[arg-type]
            took = time.perf_counter() - started
            if set(listed) != free:
                print(
                    f"the pass listed {len(listed)} rows, not the {FREE} due unsequenced ones",
                    file=sys.stderr,
                )
                raise SystemExit(2)
            started = time.perf_counter()
            async with db.session() as session:
                read = (await session.execute(floor_stmt)).scalar_one()
            floor = time.perf_counter() - started
            assert read == waiting - 1 + FREE
            passes.append(took)
            floors.append(floor)
            ratios.append(took / floor)
        return median(ratios[1:]), median(passes[1:]), median(floors[1:])
    finally:
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument(
        "--sizes", default="1000,10000", help="rows held back in the sequence, comma-separated"
    )
    parser.add_argument("--history", type=int, default=20_000, help="delivered rows of the sequence")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    results = []
    for size in sizes:
        with scratch_database(args.database_url) as url:
            ratio, took, floor = asyncio.run(measure(url, args.history, size, args.rounds))
        results.append(ratio)
        print(
            f"held back {size:>7,}   pass {took * 1000:8.1f} ms   floor {floor * 1000:7.1f} ms"
            f"   ratio {ratio:5.1f}x   (history {args.history:,} delivered rows, {FREE} due rows found)"
        )
    growth = results[-1] / results[0]
    print(f"ratio at {sizes[-1]:,}: {results[-1]:.1f}x (target <= {TARGET_RATIO:.0f}x)")
    print(f"growth    {growth:.2f}x from {sizes[0]:,} to {sizes[-1]:,} rows")
    ok = results[-1] <= TARGET_RATIO
    print("result    OK" if ok else "result    MISSES a target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
