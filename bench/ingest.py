"""Import N generated replies through `auditbot import` and through a floor, in the same run.

The floor is the least any importer must do: orjson-parse each line and insert the same columns
with one sqlite3 `executemany` per batch into a table with the same unique key. The import does
that plus validation, detectors, findings and the real schema's indexes.

    .venv/bin/python bench/ingest.py              # 200,000 replies
    .venv/bin/python bench/ingest.py --n 20000    # quicker
    .venv/bin/python bench/ingest.py --input replies.jsonl   # an existing file

Targets: import time within 2x the floor's, peak memory of the import under 200 MB.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
GENERATOR = Path(os.environ.get("AUDITBOT_SHARED", REPO.parent / "shared")) / "tools" / "gen_replies.py"
BATCH = 2000
TARGET_RATIO = 2.0
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


def generate(n: int, workdir: Path) -> Path:
    out = workdir / "generated"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--plain", "-n", str(n), "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out / "replies.jsonl"


def floor(path: Path, db_path: Path) -> tuple[float, int]:
    """Seconds and rows for the floor importer."""
    started = time.perf_counter()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(FLOOR_SCHEMA)
    rows: list[tuple] = []
    count = 0
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
                conn.executemany(FLOOR_INSERT, rows)
                conn.commit()
                count += len(rows)
                rows.clear()
    if rows:
        conn.executemany(FLOOR_INSERT, rows)
        conn.commit()
        count += len(rows)
    conn.close()
    return time.perf_counter() - started, count


def auditbot_import(path: Path, workdir: Path) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB and the summary line of `auditbot import` in a child process."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'auditbot.db'}"}
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
    summary = child.stdout.read().decode().strip()
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not the generator's
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"auditbot import failed with exit code {child.returncode}")
    return seconds, usage.ru_maxrss / 1024, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="replies to generate (default 200000)")
    parser.add_argument("--input", type=Path, help="use this JSONL file instead of generating one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="auditbot-bench-") as tmp:
        workdir = Path(tmp)
        path = args.input.resolve() if args.input else generate(args.n, workdir)
        size_mb = path.stat().st_size / 1e6
        floor_s, rows = floor(path, workdir / "floor.db")
        import_s, peak_mb, summary = auditbot_import(path, workdir)
    ratio = import_s / floor_s
    print(f"input      {rows} replies, {size_mb:.1f} MB")
    print(f"floor      {floor_s:7.2f} s  {rows / floor_s:9,.0f} replies/s  (orjson + sqlite3 executemany)")
    print(f"import     {import_s:7.2f} s  {rows / import_s:9,.0f} replies/s  ({summary})")
    print(f"ratio      {ratio:.2f}x the floor's time (target <= {TARGET_RATIO:.0f}x)")
    print(f"peak RSS   {peak_mb:.0f} MB (target < {TARGET_MB} MB)")
    ok = ratio <= TARGET_RATIO and peak_mb < TARGET_MB
    print("result     " + ("meets both targets" if ok else "MISSES a target"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
