"""bench/webhook.py end to end at a tiny size, on the suite's database, so the benchmark cannot rot.

Both servers really run (auditbot's /ingest and the bare endpoint, each its own process) and every
reply is counted in the database; the figures themselves are not checked (the machine is shared).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import SHARED
from tests.processes import run_bench

GENERATOR = SHARED / "tools" / "gen_replies.py"  # the bench's reply records


@pytest.mark.skipif(not GENERATOR.exists(), reason=f"the reply generator is missing: {GENERATOR}")
def test_the_webhook_bench_stores_every_reply_on_both_apps(database_url: str) -> None:
    args = ["--replies", "20", "--rounds", "1", "--concurrency", "5", "--warmup", "5"]
    done = run_bench("webhook.py", *args, database_url=database_url, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.rstrip().endswith("OK"), out
    assert re.search(r"bare Starlette\s+:\s+[\d.]+ replies/s\s+p50\s+[\d.]+ ms\s+p99\s+[\d.]+ ms", out), out
    assert re.search(r"auditbot /ingest\s+:\s+[\d.]+ replies/s", out), out
    assert "auditbot / bare     : replies/s" in out, out
    for app in ("bare", "auditbot"):
        assert f"{app} stored" in out and "25 of 25 sent" in out, out
        assert re.search(rf"round 0 {app}\s*:.*stored 20/20", out), out
    assert "answers {'imported': 25}" in out, out
