"""`auditbot import` (a real process) on a disk that fills up: one clear line, no half batch, and
the same import run again once there is room stores everything once.

The disk is a 1 MB tmpfs mounted for the test (root only: skipped elsewhere) holding the SQLite
database; PostgreSQL's own full disk is not simulated (its transactions roll back the same way).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import backend
from tests.processes import run_cli

LINES = 2000


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    if backend() != "sqlite":
        pytest.skip("the full disk is simulated under the SQLite file")
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "tiny"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def replies(path: Path) -> Path:
    """LINES replies of about 2 KB each (4 MB in all); every tenth leaks a placeholder."""
    with path.open("w") as out:
        for n in range(LINES):
            text = (
                ("Hi {{first_name}}, " if n % 10 == 0 else "Hi Dana, ") + f"reply {n} " + "lorem ipsum " * 170
            )
            record = {
                "id": f"R-{n}",
                "ticket_id": f"T-{n}",
                "created_at": "2026-11-26T10:00:00Z",
                "reply": text,
            }
            out.write(json.dumps(record) + "\n")
    return path


def rows(database: Path) -> tuple[int, int, str]:
    with sqlite3.connect(database) as conn:
        replies = conn.execute("SELECT count(*) FROM replies").fetchone()[0]
        findings = conn.execute("SELECT count(*) FROM findings").fetchone()[0]
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return replies, findings, check


def test_a_full_disk_stops_the_import_with_one_line_and_no_half_batch(
    tiny_disk: Path, tmp_path: Path
) -> None:
    database = tiny_disk / "auditbot.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AUDITBOT_"))}
    env.update(DATABASE_URL=f"sqlite:///{database}", PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    source = replies(tmp_path / "replies.jsonl")

    full = run_cli("import", str(source), "--no-progress", env=env, cwd=tmp_path)
    assert full.returncode == 1
    [line] = full.stderr.strip().splitlines()
    assert line.startswith(f"auditbot: {source}: the import stopped") and "the disk is full" in line
    assert "rolled back" in line and "sqlalche.me" not in line
    assert rows(database) == (0, 0, "ok")  # nothing half-stored, the database intact

    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_disk)], check=True)  # room again
    again = run_cli("import", str(source), "--no-progress", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"imported {LINES}," in again.stdout
    assert rows(database) == (LINES, LINES // 10, "ok")
