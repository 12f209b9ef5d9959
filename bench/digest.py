"""The weekly rollup on a big database, against a floor of one hand-written SQL aggregate.

usage: python bench/digest.py [--database-url URL] [--replies N] [--reviews N] [--defects N] [--repeat K]

Generates 8 weeks (2026-W40..W47, Europe/Berlin) of data: replies (default 1,000,000, made by
the database itself from a number series), one sample batch per day, sample items with reviews
(default 20,000; 10% of items double-reviewed), defects (default 2,000) in 200 root-cause groups.
Then times `compute_rollup` for W47 and the floor (replies in the week + the week's reviews by
verdict, one statement) on the same connection pool, and prints both and the ratio (target ≤ 2×).
Default database: a temporary SQLite file, removed at the end. With a PostgreSQL URL, a scratch
database is created next to the one named and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bot.core import weeks
from bot.core.db import Database, create_engine
from bot.core.models import Defect, DefectGroup, FrameCell, Review, SampleBatch, SampleItem
from bot.digest import rollup
from bot.digest import rows as rollup_rows
from bot.digest.breakdown import compute_breakdown
from bot.digest.rollup import compute_rollup
from bot.review.outcomes import item_outcome

TZ = ZoneInfo("Europe/Berlin")
WEEK = "2026-W47"
FIRST_WEEK = "2026-W40"
NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
REVIEWERS = [f"U0REV{i:02d}" for i in range(12)]
OWNERS = ["U0OWN1", "U0OWN2", "S0CONTENT", None]
CATEGORIES = [
    "wrong_information",
    "template_error",
    "duplicate_reply",
    "personalization",
    "outdated_kb",
    "tone",
]
SEVERITIES = ["low", "medium", "high", "critical"]
FLAG_EVERY = 13  # reply n is flagged when n % 13 == 0 (~7.7%)
CHUNK = 5000
STRATUM_FIGURES = ("population", "drawn", "reviewed", "defective")


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


async def generate_replies(db: Database, count: int, start: dt.datetime, seconds: float) -> None:
    """`count` replies spread evenly over `seconds` from `start`, generated inside the database."""
    step = seconds / count
    base = _naive(start)
    if db.engine.dialect.name == "sqlite":
        offset = f"'+' || CAST(n * {step} AS INTEGER) || ' seconds'"
        # the text form SQLAlchemy stores, so range comparisons on the column stay exact
        stamp = f"strftime('%Y-%m-%d %H:%M:%S', '{base:%Y-%m-%d %H:%M:%S}', {offset}) || '.000000'"
        series = f"WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < {count - 1}) "
    else:
        stamp = f"timestamp '{base:%Y-%m-%d %H:%M:%S}' + make_interval(secs => floor(n * {step}))"
        series = f"WITH seq(n) AS (SELECT generate_series(0, {count - 1})) "
    sql = (
        series
        + "INSERT INTO replies (id, source, external_id, ticket_id, created_at, reply, flagged, ingested_at) "
        f"SELECT n + 1, 'bench', 'R-' || n, 'T-' || (n / 3), {stamp}, 'Hi, here is your answer.', "
        f"(n % {FLAG_EVERY} = 0), {stamp} FROM seq"
    )
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(sql))
        if db.engine.dialect.name == "postgresql":
            await conn.execute(sa.text("SELECT setval('replies_id_seq', :n)"), {"n": count})


async def insert(db: Database, table: sa.Table, rows: list[dict]) -> None:
    async with db.engine.begin() as conn:
        for i in range(0, len(rows), CHUNK):
            await conn.execute(table.insert(), rows[i : i + CHUNK])


async def generate_audit(db: Database, replies: int, reviews: int, defects: int, seed: int = 1) -> None:
    """Batches, items, reviews, groups and defects over the same 8 weeks."""
    rng = random.Random(seed)
    start, _ = weeks.bounds(FIRST_WEEK, TZ)
    days = 56
    per_day = replies / days
    items_per_day = max(1, round(reviews / 1.1 / days))
    batches, items, review_rows = [], [], []
    item_id = review_id = 0
    for day in range(days):
        day_start = start + dt.timedelta(days=day)
        first, last = round(day * per_day) + 1, round((day + 1) * per_day)
        population = last - first + 1
        flagged = len(range(first - 1 + (-(first - 1)) % FLAG_EVERY, last, FLAG_EVERY))
        n_flagged = min(flagged, round(items_per_day * 0.3))
        posted = day_start + dt.timedelta(days=1, hours=8, minutes=30)
        batches.append({
            "id": day + 1, "channel": "C0AUDIT", "day": (day_start + dt.timedelta(days=1, hours=2)).date(),
            "window_start": day_start, "window_end": day_start + dt.timedelta(days=1), "seed": day,
            "population": population, "flagged_population": flagged,
            "unflagged_population": population - flagged,
            "flagged_drawn": n_flagged, "unflagged_drawn": items_per_day - n_flagged, "status": "posted",
            "flagged_reviewed": 0, "flagged_defective": 0, "unflagged_reviewed": 0, "unflagged_defective": 0,
            "created_at": posted, "posted_at": posted,
        })  # fmt: skip
        flagged_ids = rng.sample(range(first + (-(first - 1)) % FLAG_EVERY, last + 1, FLAG_EVERY), n_flagged)
        candidates = rng.sample(range(first, last + 1), min(population, items_per_day * 2))
        unflagged_ids = [i for i in candidates if (i - 1) % FLAG_EVERY != 0][: items_per_day - n_flagged]
        batches[-1]["unflagged_drawn"] = len(unflagged_ids)
        for stratum, chosen, total in (
            ("flagged", flagged_ids, flagged),
            ("unflagged", unflagged_ids, population - flagged),
        ):
            for reply_id in chosen:
                item_id += 1
                double = rng.random() < 0.1
                items.append({
                    "id": item_id, "batch_id": day + 1, "reply_id": reply_id, "position": item_id,
                    "stratum": stratum, "inclusion_prob": len(chosen) / total, "double_review": double,
                    "channel": "C0AUDIT", "message_ts": f"1700000000.{item_id:06d}", "posted_at": posted,
                })  # fmt: skip
                given = []
                for who in rng.sample(REVIEWERS, 2 if double else 1):
                    review_id += 1
                    p = 0.3 if stratum == "flagged" else 0.05
                    roll = rng.random()
                    verdict = "unsure" if roll > 0.97 else ("defect" if roll < p else "correct")
                    at = posted + dt.timedelta(minutes=rng.expovariate(1 / 30))
                    review_rows.append({
                        "id": review_id, "item_id": item_id, "reviewer": who, "verdict": verdict,
                        "category": rng.choice(CATEGORIES) if verdict == "defect" else None,
                        "severity": rng.choice(SEVERITIES) if verdict == "defect" else None,
                        "note": "wrong" if verdict == "defect" else None, "helpdesk_note": False,
                        "wait_seconds": (at - posted).total_seconds(),
                        "calibration_pairs": 0, "calibration_agreed": 0,
                        "created_at": at, "updated_at": at, "reply_id": reply_id,
                    })  # fmt: skip
                    given.append((at, verdict))
                # what bot.review.verdicts stores per verdict: the outcome, and when it was first decided
                decided = sorted(at for at, verdict in given if verdict != "unsure")
                outcome = item_outcome([verdict for _, verdict in given])
                items[-1]["outcome"] = outcome
                items[-1]["reviewed_at"] = decided[0] if decided else None
                batches[-1][f"{stratum}_reviewed"] += outcome is not None
                if double:  # what bot.review.outcomes.calibration_of keeps on each verdict
                    first, second = review_rows[-2:]
                    if {first["verdict"], second["verdict"]} <= {"correct", "defect"}:
                        agreed = int(first["verdict"] == second["verdict"])
                        for row in (first, second):
                            row["calibration_pairs"], row["calibration_agreed"] = 1, agreed
                batches[-1][f"{stratum}_defective"] += outcome == "defect"
    groups = []
    for g in range(1, 201):
        created = start + dt.timedelta(hours=rng.uniform(0, 24 * days))
        status = rng.choices(["open", "fixed", "wont_fix"], [5, 4, 1])[0]
        fixed = created + dt.timedelta(hours=rng.uniform(1, 300)) if status == "fixed" else None
        groups.append({
            "id": g, "fingerprint": f"fp-{g}", "open_key": f"fp-{g}" if status == "open" else None,
            "title": f"Root cause {g}", "category": rng.choice(CATEGORIES),
            "severity": rng.choice(SEVERITIES),
            "status": status, "occurrences": 0, "tracker": "none", "owner": rng.choice(OWNERS),
            "created_at": created, "fixed_at": fixed,
        })  # fmt: skip
    defect_rows = []
    found = [r for r in review_rows if r["verdict"] == "defect"]
    for review in sorted(rng.sample(found, min(defects, len(found))), key=lambda r: r["id"]):
        group = groups[rng.randrange(len(groups))]
        group["occurrences"] += 1
        defect_rows.append({
            "review_id": review["id"], "group_id": group["id"], "reply_id": review["reply_id"],
            "category": review["category"], "severity": review["severity"], "status": "open",
            "created_at": review["created_at"],
        })  # fmt: skip
    for review in review_rows:
        del review["reply_id"]
    # each day's batch is the frame of that day's replies, in cells by stratum and week of creation
    # (bot.sample.frames): a day that crosses a week boundary in Berlin (after the clocks change) has two
    _, end = weeks.bounds(WEEK, TZ)
    step = (end - start).total_seconds() / replies  # reply id r was created (r - 1) * step after start

    def created(reply_id: int) -> dt.datetime:
        return start + dt.timedelta(seconds=math.floor((reply_id - 1) * step))

    cells: dict[tuple[int, str, str], dict] = {}
    for day, batch in enumerate(batches):
        first, last = round(day * per_day) + 1, round((day + 1) * per_day)
        while first <= last:  # the day's replies, one week at a time
            week = weeks.week_of(created(first), TZ)
            week_end = weeks.bounds(week, TZ)[1]
            low, high = first, last  # the last reply created before the week's end
            while low < high:
                middle = (low + high + 1) // 2
                low, high = (middle, high) if created(middle) < week_end else (low, middle - 1)
            flagged = (low - 1) // FLAG_EVERY - (first - 2) // FLAG_EVERY  # ids with (id - 1) % 13 == 0
            for stratum, population in (("flagged", flagged), ("unflagged", low - first + 1 - flagged)):
                cells[batch["id"], week, stratum] = {
                    **dict.fromkeys(STRATUM_FIGURES, 0),
                    "population": population,
                }
            first = low + 1
        batch["high_reply_id"] = replies
    cell_ids = {key: n for n, key in enumerate(cells, 1)}
    for item in items:
        key = (item["batch_id"], weeks.week_of(created(item["reply_id"]), TZ), item["stratum"])
        item["cell_id"] = cell_ids[key]
        cells[key]["drawn"] += 1
        cells[key]["reviewed"] += item["outcome"] is not None
        cells[key]["defective"] += item["outcome"] == "defect"
    cell_rows = [
        {"id": cell_ids[key], "batch_id": key[0], "week": key[1], "stratum": key[2], **figures}
        for key, figures in cells.items()
    ]
    await insert(db, SampleBatch.__table__, batches)
    await insert(db, FrameCell.__table__, cell_rows)
    async with db.engine.begin() as conn:
        for day in range(days):
            first, last = round(day * per_day) + 1, round((day + 1) * per_day)
            await conn.execute(
                sa.text("UPDATE replies SET frame_id = :b WHERE id BETWEEN :first AND :last"),
                {"b": day + 1, "first": first, "last": last},
            )
    await insert(db, SampleItem.__table__, items)
    await insert(db, Review.__table__, review_rows)
    await insert(db, DefectGroup.__table__, groups)
    await insert(db, Defect.__table__, defect_rows)
    print(
        f"  {len(batches)} batches ({len(cell_rows)} cells), {len(items)} items, {len(review_rows)} reviews, "
        f"{len(defect_rows)} defects"
    )


async def analyze(db: Database) -> None:
    """Fresh planner statistics (and, on PostgreSQL, a visibility map for index-only scans)."""
    if db.engine.dialect.name == "sqlite":
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("ANALYZE"))
        return
    engine = create_engine(db.url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text("VACUUM ANALYZE"))
    await engine.dispose()


FLOOR = sa.text(
    "SELECT 'replies', count(*) FROM replies WHERE created_at >= :s AND created_at < :e "
    "UNION ALL SELECT verdict, count(*) FROM reviews WHERE created_at >= :s AND created_at < :e "
    "GROUP BY verdict"
)


async def time_it(db: Database, repeat: int) -> tuple[float, float, float]:
    """Median seconds of the floor, of the rollup and of the digest's breakdown (census, segments,
    articles), each run on a fresh session."""
    start, end = weeks.bounds(WEEK, TZ)
    params = {"s": _naive(start), "e": _naive(end)}
    floor, rollup, where = [], [], []
    for _ in range(repeat + 1):  # the first round warms caches and is not counted
        t0 = time.perf_counter()
        async with db.session() as session:
            rows = (await session.execute(FLOOR, params)).all()
        t1 = time.perf_counter()
        async with db.session() as session:
            result = await compute_rollup(session, week=WEEK, tz=TZ, now=NOW)
        t2 = time.perf_counter()
        async with db.session() as session:
            await compute_breakdown(session, week=WEEK, tz=TZ, start=start, end=end, now=NOW)
        floor.append(t1 - t0)
        rollup.append(t2 - t1)
        where.append(time.perf_counter() - t2)
    assert dict(rows)["replies"] == result.volume.ingested  # same question, same answer
    await breakdown(db)
    rate = result.rate.estimate
    print(
        f"  week {WEEK}: {result.volume.ingested:,} replies ({result.volume.estimated:,} in the estimate, "
        f"{result.volume.uncovered:,} uncovered, {result.volume.not_sampled:,} not yet sampled), "
        f"{result.volume.reviewed:,} reviewed, "
        f"rate {rate.rate:.2%} [{rate.low:.2%}, {rate.high:.2%}], "
        f"{len(result.reviewers)} reviewers, {result.defects_filed} defects"
    )
    return statistics.median(floor[1:]), statistics.median(rollup[1:]), statistics.median(where[1:])


async def breakdown(db: Database) -> None:
    """Where the rollup's time goes: each figure's SELECT alone (after a round that prepares them)."""
    params = rollup.digest_params(WEEK, TZ)
    async with db.session() as session:
        for _ in range(2):  # the first round compiles and prepares each statement
            timings = []
            for figure in rollup.digest_figures():
                t0 = time.perf_counter()
                await rollup_rows.read(session, [figure], params)
                timings.append(f"{figure[0]} {(time.perf_counter() - t0) * 1000:.1f}")
    print("  breakdown (ms): " + ", ".join(timings))


async def scratch_postgres(url: str) -> tuple[str, str]:
    base = make_url(url)
    name = f"auditbot_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(str(base), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


async def drop_postgres(url: str, name: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def run(args: argparse.Namespace) -> int:
    url, scratch, directory = args.database_url, None, None
    if url is None:
        directory = tempfile.mkdtemp(prefix="auditbot-bench-")
        url = f"sqlite:///{directory}/bench.db"
    elif url.startswith(("postgresql", "postgres")):
        url, scratch = await scratch_postgres(url)
    db = Database(url)
    try:
        print(f"{db.engine.dialect.name}: generating {args.replies:,} replies …")
        t0 = time.perf_counter()
        await db.upgrade()
        start, _ = weeks.bounds(FIRST_WEEK, TZ)
        _, end = weeks.bounds(WEEK, TZ)
        await generate_replies(db, args.replies, start, (end - start).total_seconds())
        await generate_audit(db, args.replies, args.reviews, args.defects)
        await analyze(db)
        print(f"  generated in {time.perf_counter() - t0:.1f} s")
        floor, rollup, where = await time_it(db, args.repeat)
    finally:
        await db.dispose()
        if scratch is not None:
            await drop_postgres(args.database_url, scratch)
        if directory is not None:
            shutil.rmtree(directory)  # about 200 MB
    ratio = rollup / floor
    print(f"floor (one SQL aggregate): {floor * 1000:.1f} ms")
    print(f"rollup (every digest figure): {rollup * 1000:.1f} ms")
    print(f"ratio: {ratio:.2f}x (target <= 2x) {'OK' if ratio <= 2 else 'SLOW'}")
    print(
        f"breakdown (census of 8 weeks, segments, articles): {where * 1000:.1f} ms, "
        f"{where / floor:.2f}x the floor (no target: it reads 8 weeks of replies, the floor one)"
    )
    load = " ".join(f"{average:.2f}" for average in os.getloadavg())
    print(f"load avg: {load} (1, 5, 15 min; the machine may be shared)")
    return 0 if ratio <= 2 else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--replies", type=int, default=1_000_000)
    parser.add_argument("--reviews", type=int, default=20_000)
    parser.add_argument("--defects", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds (median reported)")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
