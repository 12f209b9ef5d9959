"""`auditbot import`: the dev set's bad lines reported, the rest imported once, exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.cli.ingest import Progress
from bot.cli.main import main
from bot.core.db import Database
from tests.conftest import DEV_DATA


async def _count(url: str, sql: str) -> int:
    db = Database(url)
    try:
        async with db.session() as session:
            return (await session.execute(sa.text(sql))).scalar_one()
    finally:
        await db.dispose()


def test_dev_set(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "replies.jsonl"
    shutil.copy(DEV_DATA / "replies.jsonl", data)
    planted = json.loads((DEV_DATA / "planted.json").read_text())["bad_lines"]

    assert main(["import", str(data), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "read 3007, imported 3000, already present 0, rejected 7"
    reported = [int(line.split(":")[1]) for line in err.splitlines() if line.startswith(f"{data}:")]
    assert reported == sorted(planted)
    rejects = [json.loads(line) for line in (tmp_path / "replies.jsonl.rejects.jsonl").open()]
    assert [r["line"] for r in rejects] == sorted(planted)
    assert {"line", "reason", "raw"} == set(rejects[0])
    assert asyncio.run(_count(env, "SELECT count(*) FROM replies")) == 3000
    found = asyncio.run(_count(env, "SELECT count(*) FROM findings"))
    assert found > 0

    assert main(["import", str(data), "--no-progress"]) == 0
    out, _ = capsys.readouterr()
    assert out.strip() == "read 3007, imported 0, already present 3000, rejected 7"
    assert asyncio.run(_count(env, "SELECT count(*) FROM replies")) == 3000
    assert asyncio.run(_count(env, "SELECT count(*) FROM findings")) == found


def test_csv_with_source(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "export.csv"
    data.write_text("id,ticket_id,created_at,reply,customer.name\nR-1,T-1,2026-11-20T10:00:00Z,Hi Ann,Ann\n")
    assert main(["import", str(data), "--source", "helpdesk"]) == 0
    assert "imported 1" in capsys.readouterr().out
    assert asyncio.run(_count(env, "SELECT count(*) FROM replies WHERE source = 'helpdesk'")) == 1
    assert not (tmp_path / "export.csv.rejects.jsonl").exists()


def test_stdin(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"id": "R-1", "ticket_id": "T-1", "created_at": "2026-11-20T10:00:00Z", "reply": "Hi"}
    data = (json.dumps(good) + "\n{broken\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["import", "-"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "read 2, imported 1, already present 0, rejected 1"
    assert "stdin:2: bad JSON" in err
    assert json.loads((tmp_path / "stdin.rejects.jsonl").read_text())["raw"] == "{broken"


def test_printing_is_capped_but_every_reject_is_written(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text("[]\n" * 60)
    assert main(["import", str(data)]) == 2  # nothing good at all
    err = capsys.readouterr().err
    assert sum(line.startswith(f"{data}:") for line in err.splitlines()) == 50
    assert "… and 10 more" in err
    assert len((tmp_path / "bad.jsonl.rejects.jsonl").read_text().splitlines()) == 60


def test_stale_rejects_file_is_removed(env: str, tmp_path: Path) -> None:
    data = tmp_path / "r.jsonl"
    good = {"id": "R-1", "ticket_id": "T-1", "created_at": "2026-11-20T10:00:00Z", "reply": "Hi"}
    data.write_text(json.dumps(good) + "\nnope\n")
    assert main(["import", str(data)]) == 0
    assert (tmp_path / "r.jsonl.rejects.jsonl").exists()
    data.write_text(json.dumps(good) + "\n")
    assert main(["import", str(data)]) == 0
    assert not (tmp_path / "r.jsonl.rejects.jsonl").exists()


def test_unreadable_input_exits_2(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: cannot read" in capsys.readouterr().err
    assert main(["import", str(tmp_path)]) == 2


def test_database_failure_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "r.jsonl"
    data.write_text(
        '{"id": "R-1", "ticket_id": "T-1", "created_at": "2026-11-20T10:00:00Z", "reply": "Hi"}\n'
    )
    garbage = tmp_path / "not-a-database.sqlite"
    garbage.write_bytes(b"this is not SQLite" * 100)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{garbage}")
    monkeypatch.chdir(tmp_path)
    assert main(["import", str(data)]) == 1


def test_progress_line() -> None:
    out = io.StringIO()
    progress = Progress(out, total=2_000_000)
    progress.show(1_000_000, 1200)
    assert out.getvalue().startswith("\rimporting: 1.0 / 2.0 MB (50%), 1200 records")
    progress.clear()
    assert out.getvalue().endswith("\r\x1b[K")
