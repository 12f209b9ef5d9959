"""bench/ack.py end to end at a tiny size, on the suite's database, so the benchmark cannot rot.

Both servers really run (auditbot and the bare Bolt app, each its own process, the fake Slack in a
third) and every click must store its verdict and edit its message; the latencies themselves are
not checked (the machine is shared).
"""

from __future__ import annotations

import re

from tests.processes import run_bench


def test_the_ack_bench_stores_every_verdict(database_url: str) -> None:
    done = run_bench("ack.py", "--clicks", "20", "--concurrency", "5", database_url=database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.rstrip().endswith(("OK", "x target")), out
    assert re.search(r"auditbot\s+: p50\s+[\d.]+ ms\s+p99\s+[\d.]+ ms", out), out
    stored = re.search(r"verdicts stored\s+: (\d+) of (\d+) clicks; item messages edited: (\d+)", out)
    assert stored is not None, out
    assert stored.group(1) == stored.group(2) == stored.group(3), out
