"""Property-based fuzz of the reply record through POST /ingest and `auditbot import` (hypothesis).

Each example is a batch of generated records, valid and invalid mixed: a valid record is drawn
within the documented bounds (any text, time zones, nesting, sizes up to the limits); an invalid
one is a valid one with one documented violation (a missing field, a time out of range, metadata
too deep or too large, a wrong type, a NUL, …), and the import also gets lines that are no record
at all (bad JSON, bad UTF-8, lone surrogates, 2,000 levels of brackets). For every batch: no 500
(and no exit code but 0 or 2), every valid record stored exactly once, every invalid one named
with its index or line. The import runs with tiny batches, so its forked worker is exercised.

`AUDITBOT_FUZZ=explore` draws new examples on every run (and more of them); the default is
derandomized, so CI sees the same examples each time. The counts are printed (`pytest -s`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.app import build_app
from bot.cli.main import main
from bot.core.db import Database
from bot.web.app import build_web
from integrations.record import MAX_ARTICLES, MAX_METADATA_BYTES, MAX_METADATA_DEPTH
from tests.bot.replies import nested
from tests.bot.web.test_ingest import signed

EXPLORE = os.environ.get("AUDITBOT_FUZZ") == "explore"
FUZZ = settings(
    max_examples=1000 if EXPLORE else 80,
    derandomize=not EXPLORE,
    deadline=None,
    database=None,
    phases=[
        Phase.explicit,
        Phase.generate,
    ],  # no shrinking: each example is a real import; it prints as drawn
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
COUNTS: dict[str, int] = {}
_serial = itertools.count(1)

# --- valid records ---------------------------------------------------------------------------------
# Characters that have broken parsers, databases or terminals: controls, line and paragraph
# separators, quotes and escapes, combining marks, right-to-left text, astral emoji, a BOM.
CHARS = [
    *"aZ9 _-.,:;@#%&*+=/\\'\"{}[]<>|~`$!?",
    *"\t\n\r\x01\x1b\x7f\x85\xa0\u2028\u2029\ufeff\u200d\u0301\u05d0\u0627\u4e2d\u00e9\u00df",
    *"\U0001f600\U0001f469\U0010fffd\uffff\ud7ff",
]
LIMITS = {"source": 64, "channel": 64, "intent": 128, "language": 16, "template_id": 255, "ticket_url": 2000}
OPTIONAL = (
    "source", "ticket_url", "customer_message", "template_id", "channel", "intent", "language",
    "csat", "customer", "kb_articles", "metadata", "unknown",
)  # fmt: skip


class Texts:
    """Text for the fields, from a generator seeded by hypothesis: cheap enough for thousands of records
    (hypothesis draws the structure: which fields, times, sizes at the limits, valid or which violation)."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def text(self, size: int | None = None) -> str:
        size = self.random.choice([0, 1, 3, 8, 12]) if size is None else size
        return "".join(self.random.choices(CHARS, k=size))

    def word(self, size: int | None = None) -> str:
        """Text that is not all whitespace."""
        text = self.text(size)
        return text if text.strip() else text[:-1] + "x" if text else "x"

    def value(self, depth: int = 0) -> Any:
        """Any JSON value, nested a few levels at most."""
        kind = self.random.randrange(8 if depth < 3 else 5)
        if kind == 0:
            return None
        if kind == 1:
            return self.random.choice([True, False])
        if kind == 2:
            return self.random.choice([0, -1, 2**53, -(2**63), 2**63 - 1, self.random.randrange(-999, 999)])
        if kind == 3:
            return self.random.choice([0.0, -0.0, 1e308, 5e-324, 1.5, self.random.uniform(-1e9, 1e9)])
        if kind == 4:
            return self.text()
        if kind in (5, 6):
            return {self.text(): self.value(depth + 1) for _ in range(self.random.randrange(4))}
        return [self.value(depth + 1) for _ in range(self.random.randrange(4))]


@st.composite
def created_at(draw: st.DrawFn) -> str:
    """Any time in the range, written as ISO 8601 with Z, an offset, or none (taken as UTC)."""
    when = draw(st.datetimes(dt.datetime(1970, 1, 2), dt.datetime(2099, 12, 30)))
    form = draw(st.sampled_from(["Z", "offset", "naive", "seconds"]))
    if form == "Z":
        return when.isoformat() + "Z"
    if form == "offset":
        minutes = draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))
        return when.replace(tzinfo=dt.timezone(dt.timedelta(minutes=minutes))).isoformat()
    return when.isoformat() if form == "naive" else when.strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def valid_record(draw: st.DrawFn, key: str, texts: Texts) -> tuple[dict[str, Any], str]:
    """A valid record and the id it is stored under (unique: `key` is in it)."""
    if draw(st.integers(0, 9)) == 0:  # an integer id, stored as text
        rid: Any = next(_serial) * 1000 + draw(st.integers(0, 999))
    else:  # text around the unique key, sometimes padded (stored without the padding), up to 255
        pad = draw(st.sampled_from(["", " ", "\t"]))
        room = 255 - len(key) - 2 * len(pad)  # the limit holds for the id as sent, padding included
        rid = f"{pad}{key}{texts.text(draw(st.sampled_from([0, 4, room])))}".rstrip() + pad
    stored = str(rid).strip()
    at_limit = draw(st.booleans())  # text fields exactly as long as their column allows
    obj: dict[str, Any] = {
        "id": rid,
        "ticket_id": texts.word(255 if at_limit else None),
        "created_at": draw(created_at()),
        "reply": texts.word(draw(st.sampled_from([1, 40, 3000]))),
    }
    chosen = draw(st.sets(st.sampled_from(OPTIONAL)))
    for name in sorted(chosen - {"csat", "customer", "kb_articles", "metadata", "unknown"}):
        obj[name] = texts.text(LIMITS.get(name) if at_limit else None)
    if "csat" in chosen:
        obj["csat"] = draw(st.none() | st.integers(1, 5))
    if "customer" in chosen:
        fields = {"id": texts.word(), "name": texts.text(255 if at_limit else None), "email": texts.text()}
        obj["customer"] = {k: v for k, v in fields.items() if draw(st.booleans())}
        obj["customer"]["plan"] = draw(st.sampled_from([None, "Free", "Plus", "Team", "Enterprise"]))
    if "kb_articles" in chosen:
        days = draw(st.lists(st.none() | DAY.map(str), max_size=3))
        obj["kb_articles"] = [{"id": texts.word(), "url": texts.text(), "updated_at": day} for day in days]
    if "metadata" in chosen:
        obj["metadata"] = texts.value(depth=2) if draw(st.booleans()) else {texts.text(): texts.value()}
        if not isinstance(obj["metadata"], dict):
            obj["metadata"] = {"v": obj["metadata"]}
    if "unknown" in chosen:  # keys the record does not know: kept in metadata
        obj[draw(st.sampled_from(["team", "trace", "0", ""]))] = texts.value()
    return obj, stored


DAY = st.dates(dt.date(1970, 1, 1), dt.date(2099, 12, 31))


# --- one documented violation each: (what it does to a valid record, words of the reason) ----------
MUTATIONS: list[tuple[str, Any, str]] = [
    ("no id", lambda o: {k: v for k, v in o.items() if k != "id"}, "missing field 'id'"),
    ("no ticket", lambda o: {k: v for k, v in o.items() if k != "ticket_id"}, "missing field 'ticket_id'"),
    ("no reply", lambda o: {k: v for k, v in o.items() if k != "reply"}, "missing field 'reply'"),
    ("far future", lambda o: {**o, "created_at": "9999-12-31T23:59:59Z"}, "out of range"),
    ("year 1", lambda o: {**o, "created_at": "0001-01-01T00:30:00+01:00"}, "out of range"),
    ("before 1970", lambda o: {**o, "created_at": "1969-12-31T23:59:59Z"}, "out of range"),
    ("2100", lambda o: {**o, "created_at": "2100-01-01T00:00:00Z"}, "out of range"),
    ("not a time", lambda o: {**o, "created_at": "tomorrow"}, "bad timestamp"),
    ("month 13", lambda o: {**o, "created_at": "2026-13-01T00:00:00Z"}, "bad timestamp"),
    ("blank reply", lambda o: {**o, "reply": " \n\t"}, "empty reply"),
    ("reply a list", lambda o: {**o, "reply": ["x"]}, "wrong type for 'reply'"),
    ("csat 6", lambda o: {**o, "csat": 6}, "wrong type for 'csat'"),
    ("csat text", lambda o: {**o, "csat": "5"}, "wrong type for 'csat'"),
    ("csat true", lambda o: {**o, "csat": True}, "wrong type for 'csat'"),
    ("deep metadata", lambda o: {**o, "metadata": nested(MAX_METADATA_DEPTH + 1)}, "nested too deeply"),
    ("300 deep", lambda o: {**o, "metadata": nested(300)}, "nested too deeply"),
    ("huge metadata", lambda o: {**o, "metadata": {"b": "x" * MAX_METADATA_BYTES}}, "too large"),
    ("metadata a list", lambda o: {**o, "metadata": [1]}, "wrong type for 'metadata'"),
    ("long id", lambda o: {**o, "id": "x" * 256}, "'id' is too long"),
    ("NUL", lambda o: {**o, "reply": "a\x00b"}, "NUL"),
    ("NUL name", lambda o: {**o, "customer": {"name": "a\x00"}}, "NUL"),
    ("articles", lambda o: {**o, "kb_articles": [{"id": "k"}] * (MAX_ARTICLES + 1)}, "too many items"),
    (
        "old article",
        lambda o: {**o, "kb_articles": [{"id": "k", "updated_at": "0001-01-01"}]},
        "out of range",
    ),
    ("url a number", lambda o: {**o, "ticket_url": 5}, "wrong type for 'ticket_url'"),
    ("customer a list", lambda o: {**o, "customer": []}, "wrong type for 'customer'"),
    ("language", lambda o: {**o, "language": "x" * 17}, "'language' is too long"),
    ("a string", lambda o: "just text", "wrong type for record"),
    ("a number", lambda o: 42, "wrong type for record"),
    ("null", lambda o: None, "wrong type for record"),
]
# Lines of an import that are no record at all (JSONL only).
JUNK: list[tuple[bytes, str]] = [
    (b"{broken", "bad JSON"),
    (b"", "empty line"),
    (b'{"id": "\xff\xfe"}', "bad JSON"),
    (b'{"id": "\\ud800", "ticket_id": "T", "created_at": "2026-01-01", "reply": "x"}', "bad JSON"),
    (b"[" * 2000 + b"]" * 2000, "bad JSON"),
]


@st.composite
def batch(draw: st.DrawFn, junk: bool) -> list[tuple[Any, str | None, str | None]]:
    """(item, stored id if valid, words of the reason if not): 12–45 of them, about a third invalid."""
    key = f"F{next(_serial)}-"
    texts = Texts(draw(st.integers(0, 2**32)))
    items = []
    for i in range(draw(st.integers(12, 45))):
        obj, stored = draw(valid_record(f"{key}{i}-", texts))
        roll = draw(st.integers(0, 99))
        if junk and roll < 6:
            line, reason = draw(st.sampled_from(JUNK))
            items.append((line, None, reason))
        elif roll < 33:
            _, mutate, reason = draw(st.sampled_from(MUTATIONS))
            items.append((mutate(obj), None, reason))
        else:
            items.append((obj, stored, None))
    return items


def ids_of(items: list[tuple[Any, str | None, str | None]]) -> set[str]:
    """The ids every record of the batch would be stored under, valid or not."""
    return {
        str(item["id"]).strip()
        for item, _, _ in items
        if isinstance(item, dict) and isinstance(item.get("id"), str | int)
    }


async def stored_ids(db: Database, ids: set[str]) -> list[str]:
    """Which of `ids` are stored."""
    if not ids:
        return []
    column = sa.column("external_id")
    async with db.session() as session:
        rows = await session.execute(
            sa.select(column).select_from(sa.table("replies")).where(column.in_(sorted(ids)))
        )
        return sorted(r[0] for r in rows)


# --- POST /ingest ------------------------------------------------------------------------------------
@pytest.fixture
def ingest_rig(
    settings, config, clock, database_url: str
) -> Iterator[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient, Database]]:  # type: ignore[no-untyped-def]
    loop = asyncio.new_event_loop()
    db = Database(database_url)
    loop.run_until_complete(db.upgrade())
    web = build_web(build_app(settings, config, db, clock=clock))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://auditbot.test")
    yield loop, client, db
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(db.dispose())
    loop.close()
    print(f"\nfuzz /ingest: {COUNTS.get('ingest', 0)} records in {COUNTS.get('ingest_batches', 0)} requests")


def test_fuzz_ingest(ingest_rig, clock) -> None:  # type: ignore[no-untyped-def]
    loop, client, db = ingest_rig

    @FUZZ
    @given(batch(junk=False))
    def check(items: list[tuple[Any, str | None, str | None]]) -> None:
        body = json.dumps([item for item, _, _ in items]).encode()
        response = loop.run_until_complete(client.post("/ingest", content=body, headers=signed(body, clock)))
        valid = {stored for _, stored, _ in items if stored is not None}
        invalid = {i: reason for i, (_, stored, reason) in enumerate(items) if stored is None}
        assert response.status_code == (400 if invalid else 202), response.text
        answer = response.json()
        assert (answer["received"], answer["imported"], answer["rejected"]) == (
            len(items),
            len(valid),
            len(invalid),
        )
        errors = {e["index"]: e["error"] for e in answer.get("errors", [])}
        assert set(errors) == set(invalid)
        for index, reason in invalid.items():
            assert reason in errors[index], (index, errors[index], reason)
        assert loop.run_until_complete(stored_ids(db, ids_of(items))) == sorted(valid)  # once: unique key
        COUNTS["ingest"] = COUNTS.get("ingest", 0) + len(items)
        COUNTS["ingest_batches"] = COUNTS.get("ingest_batches", 0) + 1

    check()
    assert COUNTS["ingest"] >= 1500


# --- auditbot import ---------------------------------------------------------------------------------
@pytest.fixture
def import_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    asyncio.run(_migrate(database_url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("AUDITBOT_CONFIG", raising=False)
    monkeypatch.setattr("bot.ingest.pipeline.BATCH_LINES", 16)  # many batches: the forked worker runs
    yield Database(database_url)
    print(f"\nfuzz import: {COUNTS.get('import', 0)} lines in {COUNTS.get('import_files', 0)} files")


async def _migrate(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    await db.dispose()


def test_fuzz_import(import_env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    @FUZZ
    @given(batch(junk=True))
    def check(items: list[tuple[Any, str | None, str | None]]) -> None:
        path = tmp_path / "fuzz.jsonl"
        lines = [
            item if isinstance(item, bytes) else json.dumps(item, ensure_ascii=False).encode()
            for item, _, _ in items
        ]
        path.write_bytes(b"\n".join(lines) + b"\n")
        valid = {stored for _, stored, _ in items if stored is not None}
        invalid = {i + 1: reason for i, (_, stored, reason) in enumerate(items) if stored is None}
        code = main(["import", str(path), "--no-progress"])
        out, err = capsys.readouterr()
        assert code == (0 if valid else 2), err
        summary = next(line for line in out.splitlines() if line.startswith("read "))
        assert (
            summary == f"read {len(items)}, imported {len(valid)}, already present 0, rejected {len(invalid)}"
        )
        rejects = tmp_path / "fuzz.jsonl.rejects.jsonl"
        lines_out = rejects.read_bytes().splitlines() if invalid else []  # bytes: split on line ends only
        named = {r["line"]: r["reason"] for r in map(json.loads, lines_out)}
        assert set(named) == set(invalid)
        for line, reason in invalid.items():
            assert reason in named[line], (line, named[line], reason)
        assert asyncio.run(_stored(import_env.url, ids_of(items))) == sorted(valid)
        COUNTS["import"] = COUNTS.get("import", 0) + len(items)
        COUNTS["import_files"] = COUNTS.get("import_files", 0) + 1

    check()
    assert COUNTS["import"] >= 1500


async def _stored(url: str, ids: set[str]) -> list[str]:
    db = Database(url)
    try:
        return await stored_ids(db, ids)
    finally:
        await db.dispose()
