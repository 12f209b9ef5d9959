"""`auditbot import` on PostgreSQL goes through COPY and a staging table (bot.ingest.staging).

It must store what the SQLite path stores for the same input, once: on a re-import, beside
replies stored by another path, with odd text, and with two processes importing overlapping files
at the same moment. The tests that compare the two databases need PostgreSQL (DATABASE_URL); the
others run on whichever database the suite runs on.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.cli.main import main
from bot.core.config import DetectorsConfig
from bot.core.db import Database
from bot.core.models import Finding, Reply
from bot.ingest.store import Checks, ingest
from tests.bot.cli.conftest import migrate
from tests.bot.replies import record
from tests.conftest import DEV_DATA, REPO, backend

CHECKS = Checks.from_config(DetectorsConfig())
# Everything stored but the row ids and the times of the import itself.
COMPARED = [c for c in Reply.__table__.c if c.name not in ("id", "ingested_at", "frame_id")]
Snapshot = tuple[dict[tuple[str, str], tuple[Any, ...]], set[tuple[str, str, str, str]]]


async def snapshot(url: str) -> Snapshot:
    """Every reply by (source, id) and every finding by its reply's (source, id), as read back."""
    db = Database(url)
    try:
        async with db.session() as session:
            replies = {
                (row.source, row.external_id): tuple(row)
                for row in await session.execute(sa.select(*COMPARED))
            }
            found = await session.execute(
                sa.select(Reply.source, Reply.external_id, Finding.kind, Finding.evidence).join(
                    Reply, Reply.id == Finding.reply_id
                )
            )
            findings = {(s, i, k, json.dumps(e, sort_keys=True)) for s, i, k, e in found}
    finally:
        await db.dispose()
    return replies, findings


def run_import(
    url: str, path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """`auditbot import PATH` in this process against `url`: its summary line."""
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["import", str(path), "--no-progress"]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


@pytest.fixture
def imports(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database, the CLI pointed at it, in many batches (so the forked worker runs and
    each batch is a transaction), without a team config."""
    asyncio.run(migrate(database_url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("AUDITBOT_CONFIG", raising=False)
    monkeypatch.setattr("bot.ingest.pipeline.BATCH_LINES", 250)
    return database_url


@pytest.mark.skipif(backend() != "postgresql", reason="compares PostgreSQL's COPY path with SQLite's")
def test_copy_path_stores_what_the_sqlite_path_stores(
    imports: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The dev set in two interleaved halves: the second half's replies come before and after
    # stored ones on the same tickets, so the checks across batches rewrite stored findings too.
    lines = (DEV_DATA / "replies.jsonl").read_bytes().splitlines(keepends=True)
    halves = [tmp_path / "even.jsonl", tmp_path / "odd.jsonl"]
    halves[0].write_bytes(b"".join(lines[0::2]))
    halves[1].write_bytes(b"".join(lines[1::2]))
    sqlite_url = f"sqlite:///{tmp_path / 'sqlite.db'}"
    summaries: dict[str, list[str]] = {}
    asyncio.run(migrate(sqlite_url))
    for url in (sqlite_url, imports):
        summaries[url] = [run_import(url, path, monkeypatch, capsys) for path in (*halves, *halves)]
    assert summaries[imports] == summaries[sqlite_url]
    assert summaries[imports][2:] == [
        "read 1504, imported 0, already present 1500, rejected 4",
        "read 1503, imported 0, already present 1500, rejected 3",
    ]
    on_sqlite, on_postgres = asyncio.run(snapshot(sqlite_url)), asyncio.run(snapshot(imports))
    assert len(on_postgres[0]) == 3000
    assert {kind for _, _, kind, _ in on_postgres[1]} >= {"placeholder_leak", "duplicate_reply", "stale_kb"}
    assert on_postgres[0] == on_sqlite[0]
    assert on_postgres[1] == on_sqlite[1]


def test_replies_stored_before_keep_their_row_and_findings(
    imports: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = [record("R-1", reply="Hi {{first_name}}, done."), record("R-2", ticket="T-2")]
    asyncio.run(_ingest(imports, stored))  # the webhook's path (INSERT … RETURNING on PostgreSQL)
    before = asyncio.run(snapshot(imports))
    path = tmp_path / "r.jsonl"
    items = [
        {"id": "R-1", "ticket_id": "T-1", "created_at": "2026-11-20T10:00:00Z", "reply": "Other text."},
        {"id": "R-2", "ticket_id": "T-2", "created_at": "2026-11-20T10:00:00Z", "reply": "Hi [Name], ok."},
        *(
            {"id": f"N-{n}", "ticket_id": f"T-N{n}", "created_at": "2026-11-21T10:00:00Z", "reply": text}
            for n in range(600)
            for text in [f"Hi {{{{name_{n}}}}}, done." if n % 2 else f"Hi Dana, reply {n}."]
        ),
    ]
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    assert run_import(imports, path, monkeypatch, capsys) == (
        "read 602, imported 600, already present 2, rejected 0"
    )
    replies, findings = asyncio.run(snapshot(imports))
    assert {k: v for k, v in replies.items() if k in before[0]} == before[0]  # as they were
    assert {f for f in findings if not f[1].startswith("N-")} == before[1]
    leaks = {i for _, i, kind, _ in findings if kind == "placeholder_leak" and i.startswith("N-")}
    assert leaks == {f"N-{n}" for n in range(1, 600, 2)}
    flagged = {i for (_, i), row in replies.items() if row[COMPARED.index(Reply.__table__.c.flagged)]}
    assert flagged >= leaks and not flagged & {f"N-{n}" for n in range(0, 600, 2)}
    assert run_import(imports, path, monkeypatch, capsys) == (
        "read 602, imported 0, already present 602, rejected 0"
    )
    assert asyncio.run(snapshot(imports)) == (replies, findings)


async def _ingest(url: str, records: list[Any]) -> None:
    db = Database(url)
    try:
        await ingest(db, records, checks=CHECKS, now=records[0].created_at)
    finally:
        await db.dispose()


ODD_TEXTS = [
    "emoji 👩🏽‍💻🚀 and CJK 你好，世界 and Hangul 안녕하세요",
    "right to left: مرحبا بالعالم שלום",
    "combining: e\u0301 a\u0308 and zero width:\u200b\u200d\ufeff",
    "tab\there, CR\rhere, newline\nhere, backslash \\ and \\N and \\. and a lone \\",
    "quotes ' \" ` and commas , ; | and COPY's own markers \\N \\. and SQL '); DROP TABLE replies; --",
    "\u2028 line separator \u2029 paragraph separator \x7f delete \x01 start of heading",
    "long " + "x" * 1_000_000,
]


def test_odd_text_is_stored_as_it_came_and_nul_is_rejected(
    imports: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"ticket_id": "T-1", "created_at": "2026-11-20T10:00:00Z"}
    items: list[dict[str, Any]] = [
        {**base, "id": f"O-{n}", "ticket_id": f"T-{n}", "reply": text, "customer_message": text[::-1][:5000]}
        for n, text in enumerate(ODD_TEXTS)
    ]
    items.append({**base, "id": "ü-ß-😀", "ticket_id": "т-1", "reply": "ids in any script", "channel": "чат"})
    items.append({**base, "id": "meta", "reply": "metadata", "metadata": {"k": '\\N\t"ü😀', "n": [1, 2.5]}})
    nul = {**base, "id": "NUL", "reply": "a\x00b"}
    path = tmp_path / "odd.jsonl"
    lines = [json.dumps(item, ensure_ascii=False) for item in items]
    path.write_text("\n".join([*lines, json.dumps(nul)]) + "\n", encoding="utf-8")
    assert main(["import", str(path), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"read {len(items) + 1}, imported {len(items)}, already present 0, rejected 1"
    assert f"odd.jsonl:{len(items) + 1}: " in err and "NUL" in err
    replies, _ = asyncio.run(snapshot(imports))
    column = {c.name: COMPARED.index(c) for c in COMPARED}
    for item in items:
        row = replies[("import", item["id"])]
        assert row[column["reply"]] == item["reply"]
        assert row[column["ticket_id"]] == item["ticket_id"]
        if "customer_message" in item:
            assert row[column["customer_message"]] == item["customer_message"]
    assert replies[("import", "ü-ß-😀")][column["channel"]] == "чат"
    assert replies[("import", "meta")][column["extra"]] == {"k": '\\N\t"ü😀', "n": [1, 2.5]}
    assert ("import", "NUL") not in replies


def test_two_processes_importing_overlapping_files_store_each_reply_once(
    database_url: str, tmp_path: Path
) -> None:
    """Two `auditbot import` processes at the same moment, the second file shuffled and sharing
    half of the first's replies: every reply stored once, none lost, each finding on its own reply."""
    asyncio.run(migrate(database_url))
    total = 9000

    def item(n: int) -> dict[str, Any]:
        text = f"Hi {{{{name_{n}}}}},\n\nDone." if n % 3 else f"Hi Dana, reply {n}."
        return {"id": f"R-{n}", "ticket_id": f"T-{n}", "created_at": "2026-11-20T10:00:00Z", "reply": text}

    first, second = list(range(0, 6000)), list(range(3000, total))
    random.Random(16).shuffle(second)
    paths = [tmp_path / "first.jsonl", tmp_path / "second.jsonl"]
    for path, numbers in zip(paths, (first, second), strict=True):
        path.write_text("".join(json.dumps(item(n)) + "\n" for n in numbers))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITBOT_")}
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(REPO))
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "import", str(path), "--no-progress"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    outputs = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    imported = [int(out.split("imported ")[1].split(",")[0]) for out, _ in outputs]
    assert sum(imported) == total  # each reply imported by exactly one of them
    replies, findings = asyncio.run(snapshot(database_url))
    assert set(replies) == {("import", f"R-{n}") for n in range(total)}
    leaks = {(i, e) for _, i, kind, e in findings if kind == "placeholder_leak"}
    assert {i for i, _ in leaks} == {f"R-{n}" for n in range(total) if n % 3}
    for external_id, evidence in leaks:
        assert f"name_{external_id.removeprefix('R-')}}}" in evidence
    assert len(findings) == len(leaks)
