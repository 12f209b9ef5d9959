"""bench/outbox.py end to end at a small size, on the suite's database, so the benchmark cannot rot.

Each pass must list exactly the due rows behind the held-back backlog (the bench exits 2 when it
does not); the timings themselves are not checked (the machine is shared).
"""

from __future__ import annotations

import re

from tests.processes import run_bench


def test_the_outbox_bench_finds_the_due_rows_behind_a_held_back_backlog(database_url: str) -> None:
    done = run_bench(
        "outbox.py", "--sizes", "50,200", "--history", "300", "--rounds", "1", database_url=database_url
    )
    assert done.returncode == 0 or (done.returncode == 1 and "MISSES" in done.stdout), (
        done.stdout + done.stderr
    )
    found = re.findall(
        r"held back\s+([\d,]+)\s+pass\s+[\d.]+ ms\s+floor\s+[\d.]+ ms\s+ratio\s+[\d.]+x", done.stdout
    )
    assert found == ["50", "200"], done.stdout
    assert "100 due rows found" in done.stdout and "result" in done.stdout, done.stdout
