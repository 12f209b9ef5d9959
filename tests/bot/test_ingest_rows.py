"""Rows for the bulk import: the fast path stores exactly what full validation would."""

from __future__ import annotations

import datetime as dt
import io
import json

import orjson
import pytest

from bot.config import DetectorsConfig
from bot.detectors import Detector
from bot.ingest_rows import Preparer, _Customer, _Scanned, read_time, stored_time
from integrations.jsonl import parse_record, read_batches
from tests.conftest import DEV_DATA

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
DETECTOR = Detector(DetectorsConfig())
BASE = {
    "id": "R-1",
    "ticket_id": "T-1",
    "created_at": "2026-11-20T10:04:11Z",
    "reply": "Hi Dana,\n\nDone.",
    "customer": {"id": "C-1", "name": "Dana Lee", "email": "d@example.com", "plan": "Plus"},
    "kb_articles": [{"id": "kb-1", "url": "https://help.example/kb-1", "updated_at": "2025-01-02"}],
    "csat": 2,
    "metadata": {"model": "v7"},
}
# Each is valid but off the plainest form: integer ids, offsets, fractions, no url, empty values…
VARIANTS = [
    {"id": 7, "ticket_id": 4821},
    {"created_at": "2026-11-20T11:04:11+01:00"},
    {"created_at": "2026-11-20T10:04:11.250Z"},
    {"created_at": "2026-11-20T10:04:11"},
    {"created_at": "2026-11-20"},
    {"kb_articles": [{"id": "kb-2", "updated_at": "2025-W01-1"}, {"id": 3}]},
    {"kb_articles": []},
    {"customer": {"id": "", "name": None}},
    {"customer": None, "metadata": {}},
    {"source": "zendesk", "unknown": [1, 2]},
    {"reply": "  padded  ", "csat": None},
    {"id": " R-9 "},
]


@pytest.mark.parametrize("sqlite", [True, False])
@pytest.mark.parametrize("change", [{}, *VARIANTS])
def test_fast_row_equals_the_validated_record_row(sqlite: bool, change: dict) -> None:
    obj = {**BASE, **change}
    preparer = Preparer(DETECTOR, default_source="import", sqlite=sqlite)
    expected, _ = preparer._from_record(parse_record(obj), stored_time(NOW) if sqlite else NOW)
    batch = preparer.lines([orjson.dumps(obj) + b"\n"], 1, NOW)
    assert batch.rows == [expected]
    assert not batch.rejects
    if not change:  # the plain record did take the fast path
        assert preparer._fast(obj, expected[-1]) == (expected, batch_scan_input(obj))


def batch_scan_input(obj: dict) -> object:
    """What the fast path hands the detectors for BASE."""
    record = parse_record(obj)
    customer = _Customer(record.customer.name, record.customer.plan)
    return _Scanned(
        record.id, record.ticket_id, record.created_at, record.reply, customer, record.kb_articles
    )


def test_dev_set_rows_and_rejects_match_full_validation() -> None:
    raw = (DEV_DATA / "replies.jsonl").read_bytes()
    preparer = Preparer(DETECTOR, default_source="import", sqlite=True)
    lines = io.BytesIO(raw).readlines()
    batch = preparer.lines(lines, 1, NOW)
    slow = [b for b in read_batches(io.BytesIO(raw), batch_size=10_000)]
    records = [r for b in slow for r in b.records]
    assert batch.rows == preparer.records(records, NOW).rows
    assert batch.rejects == [r for b in slow for r in b.rejects]
    assert batch.lines == len(lines)
    # The scan found the same per-reply findings as on the records.
    assert batch.found == DETECTOR.scan(records)
    assert any(batch.found.values())


def test_line_numbers_start_where_the_batch_does() -> None:
    good = json.dumps({k: BASE[k] for k in ("id", "ticket_id", "created_at", "reply")}).encode()
    batch = Preparer(DETECTOR, sqlite=True).lines([good + b"\n", b"\n", b"{nope\n", b"[]\n"], 4001, NOW)
    assert [(r.line, r.reason.split(" (")[0]) for r in batch.rejects] == [
        (4002, "empty line"),
        (4003, "bad JSON"),
        (4004, "wrong type for record"),
    ]
    assert len(batch.rows) == 1 and batch.lines == 4


def test_stored_time_round_trips() -> None:
    when = dt.datetime(2026, 11, 20, 11, 4, 11, 250, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert stored_time(when) == "2026-11-20 10:04:11.000250"
    assert read_time(stored_time(when)) == when
