"""Import N generated replies through `auditbot import` and through a floor, in the same run.

The floor is the least any importer must do with the same columns and the same unique key. On
SQLite: orjson-parse each line and insert with one sqlite3 `executemany` per batch. On
PostgreSQL (`--database postgresql://…`): orjson-parse each line, COPY each batch (asyncpg's
`copy_records_to_table`) into a temporary staging table and move it with one `INSERT … SELECT …
ON CONFLICT DO NOTHING`. Both commit every 2,000 rows. The import does that plus validation,
detectors, findings and the real schema's indexes.

    .venv/bin/python bench/ingest.py                     # 200,000 replies into SQLite
    .venv/bin/python bench/ingest.py --database postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/ingest.py --rows 20000        # quicker
    .venv/bin/python bench/ingest.py --rows 1000000 --rounds 1   # memory at a million rows
    .venv/bin/python bench/ingest.py --input replies.jsonl       # an existing file

Targets: import time within 1.5x the floor's on SQLite, within 2x on PostgreSQL (1.5x the aim);
peak memory of the import under 200 MB.

Both run on the same file in the same run, each into a new database (a temporary SQLite file, or
a scratch PostgreSQL database created next to the one named and dropped afterwards), alternately
for --rounds rounds (default 3): the ratio printed is the median of each round's import time over
that round's floor time, so that both are measured at the same moments of a shared machine. The
import is timed as a user runs it: a child process, start-up included. CPU seconds are printed
too (the import's include its worker process; PostgreSQL's own are in neither): on a shared,
loaded machine their ratio is the steadier view. Peak memory is the sum of the peaks of the
import's processes (the CLI and its worker), sampled from /proc while it runs: an upper bound,
since pages shared after the fork count twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import orjson
from _harness import generate
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
BATCH = 2000
TARGET_RATIO_SQLITE = 1.5
TARGET_RATIO_POSTGRES = 2.0
AIM_RATIO_POSTGRES = 1.5
TARGET_MB = 200

FLOOR_SCHEMA = """
CREATE TABLE replies (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, external_id TEXT NOT NULL, ticket_id TEXT NOT NULL,
    created_at TEXT NOT NULL, reply TEXT NOT NULL, customer_message TEXT, ticket_url TEXT,
    customer_id TEXT, customer_name TEXT, customer_email TEXT, customer_plan TEXT, template_id TEXT,
    kb_articles TEXT, channel TEXT, intent TEXT, language TEXT, csat INTEGER,
    UNIQUE (source, external_id)
)"""
FLOOR_INSERT = (
    "INSERT INTO replies (source, external_id, ticket_id, created_at, reply, customer_message,"
    " ticket_url, customer_id, customer_name, customer_email, customer_plan, template_id, kb_articles,"
    " channel, intent, language, csat) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT DO NOTHING"
)


def floor_sqlite(path: Path, db_path: Path) -> tuple[float, float, int]:
    """Seconds, CPU seconds and rows for the SQLite floor importer."""
    started, cpu = time.perf_counter(), time.process_time()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(FLOOR_SCHEMA)
    count = 0
    for rows in floor_rows(path):
        conn.executemany(FLOOR_INSERT, rows)
        conn.commit()
        count += len(rows)
    conn.close()
    return time.perf_counter() - started, time.process_time() - cpu, count


def floor_rows(path: Path) -> Iterator[list[tuple]]:
    """The floor's rows in batches of BATCH: the JSON values as they are, kb_articles as text."""
    rows: list[tuple] = []
    dumps, loads = orjson.dumps, orjson.loads
    with path.open("rb") as lines:
        for line in lines:
            try:
                r = loads(line)
            except orjson.JSONDecodeError:
                continue
            c = r.get("customer") or {}
            kb = r.get("kb_articles")
            rows.append(
                (
                    r.get("source", "import"), r["id"], r["ticket_id"], r["created_at"], r["reply"],
                    r.get("customer_message"), r.get("ticket_url"), c.get("id"), c.get("name"),
                    c.get("email"), c.get("plan"), r.get("template_id"),
                    dumps(kb).decode() if kb is not None else None,
                    r.get("channel"), r.get("intent"), r.get("language"), r.get("csat"),
                )
            )  # fmt: skip
            if len(rows) >= BATCH:
                yield rows
                rows = []
    if rows:
        yield rows


FLOOR_COLUMNS = (
    "source", "external_id", "ticket_id", "created_at", "reply", "customer_message", "ticket_url",
    "customer_id", "customer_name", "customer_email", "customer_plan", "template_id", "kb_articles",
    "channel", "intent", "language", "csat",
)  # fmt: skip
# The types of the real schema; staged as text (but csat), cast by the insert, as the import does.
PG_FLOOR_SCHEMA = """
CREATE TABLE replies (
    id SERIAL PRIMARY KEY, source VARCHAR(64) NOT NULL, external_id VARCHAR(255) NOT NULL,
    ticket_id VARCHAR(255) NOT NULL, created_at TIMESTAMP NOT NULL, reply TEXT NOT NULL,
    customer_message TEXT, ticket_url VARCHAR(2000), customer_id VARCHAR(255),
    customer_name VARCHAR(255), customer_email VARCHAR(255), customer_plan VARCHAR(255),
    template_id VARCHAR(255), kb_articles JSON, channel VARCHAR(64), intent VARCHAR(128),
    language VARCHAR(16), csat INTEGER,
    UNIQUE (source, external_id)
)"""
PG_FLOOR_STAGE = (
    "CREATE TEMPORARY TABLE stage ("
    + ", ".join(f"{c} {'integer' if c == 'csat' else 'text'}" for c in FLOOR_COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
PG_FLOOR_INSERT = (
    f"INSERT INTO replies ({', '.join(FLOOR_COLUMNS)}) SELECT "
    + ", ".join(
        {"created_at": "created_at::timestamptz AT TIME ZONE 'UTC'", "kb_articles": "kb_articles::json"}.get(
            c, c
        )
        for c in FLOOR_COLUMNS
    )
    + " FROM stage ON CONFLICT (source, external_id) DO NOTHING"
)


async def floor_postgres(path: Path, url: str) -> tuple[float, float, int]:
    """Seconds, CPU seconds and rows for the PostgreSQL floor importer."""
    import asyncpg

    started, cpu = time.perf_counter(), time.process_time()
    conn = await asyncpg.connect(url)
    await conn.execute(PG_FLOOR_SCHEMA)
    await conn.execute(PG_FLOOR_STAGE)
    count = 0
    for rows in floor_rows(path):
        async with conn.transaction():
            await conn.copy_records_to_table("stage", records=rows, columns=FLOOR_COLUMNS)
            await conn.execute(PG_FLOOR_INSERT)
        count += len(rows)
    await conn.close()
    return time.perf_counter() - started, time.process_time() - cpu, count


class Scratch:
    """Scratch PostgreSQL databases next to the one named, each dropped when done with."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url).set(drivername="postgresql")

    def dsn(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    async def create(self, label: str) -> str:
        import asyncpg

        name = f"auditbot_bench_{label}_{os.getpid()}"
        conn = await asyncpg.connect(self.dsn(self.url.database or "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name

    async def drop(self, name: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn(self.url.database or "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


class PeakMemory(threading.Thread):
    """Samples the peak RSS (VmHWM) and the CPU time of a process and its children until it ends."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks: dict[int, int] = {}  # pid -> peak kB
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds when last seen
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            for pid in (self.pid, *_children(self.pid)):
                peak = _peak_kb(pid)
                if peak:
                    self.peaks[pid] = max(peak, self.peaks.get(pid, 0))
                    self.cpu[pid] = _cpu_seconds(pid) or self.cpu.get(pid, 0.0)

    def total_mb(self) -> float:
        return sum(self.peaks.values()) / 1024

    def parts_mb(self) -> list[float]:
        return [kb / 1024 for kb in self.peaks.values()]


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def auditbot_import(
    path: Path, workdir: Path, database_url: str
) -> tuple[float, float, list[float], float, list[float], str]:
    """Seconds, CPU seconds (total, per process as last sampled), peak RSS in MB (total, per
    process) and the summary line of `auditbot import` in a child process."""
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("AUDITBOT_CONFIG", None)
    cli = [sys.executable, "-m", "bot.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    child = subprocess.Popen(
        [*cli, "import", str(path), "--no-progress"],
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=workdir,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    memory = PeakMemory(child.pid)
    memory.start()
    summary = child.stdout.read().decode().strip()
    _, status, usage = os.wait4(child.pid, 0)  # this child and its reaped worker, not the generator
    seconds = time.perf_counter() - started
    memory.done.set()
    memory.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"auditbot import failed with exit code {child.returncode}")
    peak = max(memory.total_mb(), usage.ru_maxrss / 1024)  # ru_maxrss: the largest single process
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, list(memory.cpu.values()), peak, memory.parts_mb(), summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        "--database-url",
        help="a PostgreSQL URL: scratch databases are made next to it (default: SQLite files)",
    )
    parser.add_argument(
        "--rows", "--n", type=int, default=200_000, help="replies to generate (default 200000)"
    )
    parser.add_argument("--input", type=Path, help="use this JSONL file instead of generating one")
    parser.add_argument(
        "--rounds", type=int, default=3, help="floor, then import, this many times; medians (default 3)"
    )
    args = parser.parse_args()
    postgres = bool(args.database) and make_url(args.database).get_backend_name() in (
        "postgresql",
        "postgres",
    )
    if args.database and not postgres:
        parser.error("--database takes a PostgreSQL URL (SQLite is the default)")
    scratch = Scratch(args.database) if postgres else None
    floors, imports = [], []
    with tempfile.TemporaryDirectory(prefix="auditbot-bench-") as tmp:
        workdir = Path(tmp)
        path = args.input.resolve() if args.input else generate(args.rows, workdir)
        size_mb = path.stat().st_size / 1e6
        for k in range(max(args.rounds, 1)):  # alternately, so that both meet the same machine
            round_dir = workdir / f"round-{k}"
            round_dir.mkdir()
            if scratch is None:
                floors.append(floor_sqlite(path, round_dir / "floor.db"))
                imports.append(auditbot_import(path, round_dir, f"sqlite:///{round_dir / 'auditbot.db'}"))
            else:
                name = asyncio.run(scratch.create("floor"))
                try:
                    floors.append(asyncio.run(floor_postgres(path, scratch.dsn(name))))
                finally:
                    asyncio.run(scratch.drop(name))
                name = asyncio.run(scratch.create("import"))
                try:
                    imports.append(auditbot_import(path, round_dir, scratch.dsn(name)))
                finally:
                    asyncio.run(scratch.drop(name))
            shutil.rmtree(round_dir)  # each round's databases: as large as the input
        load = os.getloadavg()
    rows = floors[0][2]
    floor_s, floor_cpu = median(f[0] for f in floors), median(f[1] for f in floors)
    import_s, import_cpu = median(i[0] for i in imports), median(i[1] for i in imports)
    cpu_parts = imports[-1][2]
    peak_mb, parts = max((i[3], i[4]) for i in imports)
    summary = imports[-1][5]
    # Each round's import against that round's floor (the same moment of a shared machine); the
    # median of those ratios.
    ratios = [i[0] / f[0] for f, i in zip(floors, imports, strict=True)]
    ratio = median(ratios)
    rounds = ", ".join(f"{r:.2f}x" for r in ratios)
    target = TARGET_RATIO_POSTGRES if postgres else TARGET_RATIO_SQLITE
    aim = f", aim <= {AIM_RATIO_POSTGRES}x" if postgres else ""
    how = "COPY + INSERT … SELECT ON CONFLICT" if postgres else "sqlite3 executemany"
    print(f"database   {'PostgreSQL' if postgres else 'SQLite'}")
    print(f"input      {rows} replies, {size_mb:.1f} MB; {len(floors)} rounds, medians below")
    print(
        f"floor      {floor_s:7.2f} s  {rows / floor_s:9,.0f} replies/s  CPU {floor_cpu:6.2f} s"
        f"  (orjson + {how})"
    )
    print(
        f"import     {import_s:7.2f} s  {rows / import_s:9,.0f} replies/s  CPU {import_cpu:6.2f} s"
        f"  ({summary})"
    )
    print(f"ratio      {ratio:.2f}x the floor's time (target <= {target}x{aim}): median of {rounds}")
    print(f"CPU ratio  {import_cpu / floor_cpu:.2f}x the floor's CPU time (both processes; for information)")
    cpu_split = " + ".join(f"{s:.1f}" for s in cpu_parts)
    print(f"CPU split  {cpu_split} s per process in the last round (CLI, worker; sampled every 50 ms)")
    split = " + ".join(f"{mb:.0f}" for mb in parts)
    print(f"peak RSS   {peak_mb:.0f} MB ({split} per process, the largest round; target < {TARGET_MB} MB)")
    print(f"load avg   {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min; the machine may be shared)")
    ok = ratio <= target and peak_mb < TARGET_MB
    print("result     " + ("meets both targets" if ok else "MISSES a target"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
