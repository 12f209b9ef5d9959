"""`auditbot import` of hostile files: good lines stored, bad ones named, exit codes as the README says."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.bot.cli.test_import import _count
from tests.bot.replies import nested
from tests.conftest import REPO
from tests.processes import run_cli as _auditbot


def good(i: int) -> dict:  # type: ignore[type-arg]
    return {
        "id": f"R-{i}",
        "ticket_id": f"T-{i % 700}",
        "created_at": "2026-11-20T10:00:00Z",
        "reply": f"Hi, {i}",
    }


HOSTILE = [
    {**good(-1), "created_at": "9999-12-31T23:59:59Z"},
    {**good(-2), "created_at": "0001-01-01T00:30:00+01:00"},
    {**good(-3), "metadata": nested(300)},
    {**good(-4), "kb_articles": [{"id": "kb", "updated_at": "0001-01-01"}]},
]


@pytest.mark.parametrize("hostile", range(len(HOSTILE)))
def test_one_hostile_line_among_5000_good_ones_costs_only_itself(
    env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    hostile: int,
) -> None:
    """Finding 1 in `import`: it exited 1 with 0 rows stored. 5,001 lines: the forked worker reads them."""
    data = tmp_path / "replies.jsonl"
    lines = [json.dumps(good(i)) for i in range(5000)]
    lines.insert(2500, json.dumps(HOSTILE[hostile]))
    data.write_text("\n".join(lines) + "\n")
    assert main(["import", str(data), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "read 5001, imported 5000, already present 0, rejected 1"
    reason = {0: "out of range", 1: "out of range", 2: "nested too deeply", 3: "out of range"}[hostile]
    assert f"{data}:2501: " in err and reason in err
    assert asyncio.run(_count(env, "SELECT count(*) FROM replies")) == 5000
    [reject] = [json.loads(line) for line in (tmp_path / "replies.jsonl.rejects.jsonl").open()]
    assert reject["line"] == 2501


def test_csv_lines_the_parser_cannot_read_cost_only_themselves(
    env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Finding 2: a stray carriage return, an over-long cell, binary lines ended it (exit 1, 0 rows)."""
    data = tmp_path / "export.csv"
    rows = [b"id,ticket_id,created_at,reply"]
    rows += [b"C-%d,T-1,2026-11-20T10:00:00Z,Hi %d" % (i, i) for i in range(300)]
    rows.insert(50, b"C-cr,T-1,2026-11-20T10:00:00Z,Hi\rthere")
    rows.insert(100, b"C-big,T-1,2026-11-20T10:00:00Z," + b"x" * (csv.field_size_limit() + 1))
    rows.insert(150, bytes(range(128, 256)))
    rows.insert(200, bytes(b for b in range(256) if b != 10))  # every byte but the line end
    data.write_bytes(b"\n".join(rows) + b"\n")
    assert main(["import", str(data), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "read 304, imported 300, already present 0, rejected 4"
    assert f"{data}:51: unreadable CSV (a carriage return outside quotes)" in err
    assert f"{data}:101: unreadable CSV (a cell over {csv.field_size_limit()} characters)" in err
    assert f"{data}:151: not UTF-8" in err
    assert f"{data}:201: " in err
    assert asyncio.run(_count(env, "SELECT count(*) FROM replies")) == 300


def test_a_binary_file_exits_2_and_stores_nothing(
    env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    binary = bytes(range(256)) * 64
    for name in ("blob.csv", "blob.jsonl"):
        (tmp_path / name).write_bytes(binary + b"\n" + binary)
        assert main(["import", str(tmp_path / name), "--no-progress"]) == 2
    header = tmp_path / "bad-header.csv"
    header.write_bytes(b"id,ticket\rid\n" + binary)
    assert main(["import", str(header)]) == 2
    assert "cannot read the CSV header" in capsys.readouterr().err
    assert asyncio.run(_count(env, "SELECT count(*) FROM replies")) == 0


def run_cli(*args: str, cwd: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    return _auditbot(
        *args, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DATABASE_URL": database_url}, cwd=cwd
    )


def test_a_directory_exits_2(env: str, tmp_path: Path) -> None:
    """The README's contract: 2 when the input cannot be read (it was 1)."""
    (tmp_path / "dir.csv").mkdir()
    for path in (str(tmp_path), str(tmp_path / "dir.csv")):
        result = run_cli("import", path, cwd=tmp_path, database_url=env)
        assert result.returncode == 2, result.stderr
        assert "Is a directory" in result.stderr and "Traceback" not in result.stderr


def test_verbose_logs_hold_no_customer_text(env: str, tmp_path: Path) -> None:
    """`-v` printed SQL parameters: raw customer emails and phone numbers."""
    data = tmp_path / "pii.jsonl"
    record = {
        **good(1),
        "reply": "Hi Dana, call +1 415 555 0199 or write to dana.secretname@example.com",
        "customer": {"name": "Dana Secretname", "email": "dana.secretname@example.com"},
    }
    data.write_text(
        json.dumps(record) + "\n" + json.dumps({**record, "id": "R-2", "created_at": "9999-01-01"}) + "\n"
    )
    imported = run_cli("-v", "import", str(data), "--no-progress", cwd=tmp_path, database_url=env)
    exported = run_cli("-v", "export", "replies", cwd=tmp_path, database_url=env)
    assert imported.returncode == 0 and exported.returncode == 0, imported.stderr + exported.stderr
    logs = imported.stderr + exported.stderr
    assert "DEBUG" in logs and "sqlalchemy.engine" in logs  # -v did log, SQL included
    assert "[SQL parameters hidden" in logs
    for secret in ("secretname", "555 0199", "Hi Dana"):
        assert secret not in logs.lower().replace(f"{data}".lower(), ""), secret


def test_import_with_a_runaway_rule_finishes(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 7 in `import`: `(a+)+$` on 40 `a`s and `!` froze it."""
    config = tmp_path / "auditbot.toml"
    config.write_text('[[detectors.rules]]\nname = "runaway"\npattern = "(a+)+$"\n')
    monkeypatch.setenv("AUDITBOT_CONFIG", str(config))
    data = tmp_path / "replies.jsonl"
    lines = [
        {"id": f"R-{i}", "ticket_id": f"T-{i}", "created_at": "2026-11-20T10:00:00Z", "reply": "a" * 40 + "!"}
        for i in range(3000)
    ]
    lines.append(
        {"id": "R-match", "ticket_id": "T-x", "created_at": "2026-11-20T10:00:00Z", "reply": "a" * 40}
    )
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["import", str(data), "--no-progress"]) == 0
    assert asyncio.run(_count(env, "SELECT count(*) FROM replies")) == 3001
    assert asyncio.run(_count(env, "SELECT count(*) FROM findings WHERE kind = 'rule:runaway'")) == 1
