"""Rows for the bulk import: the fast path stores exactly what full validation would."""

from __future__ import annotations

import datetime as dt
import io
import json

import orjson
import pytest

from bot.checks.detector import Detector
from bot.core.config import DetectorsConfig
from bot.ingest.rows import Preparer, _Customer, _Scanned, read_time, stored_time
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
    {"customer": {"id": " C-1 ", "name": "Dana Lee", "plan": "Plus"}},
    {"customer": {"id": 42, "extra": "ignored"}},
    {"metadata": {"big": 123456789012345678901234567890, "nested": {"a": [1, 2.5, None]}}},
    {"metadata": None, "source": ""},
    {"kb_articles": [{"id": "kb-3", "url": None, "updated_at": None}]},
    {"kb_articles": [{"id": "kb-4", "updated_at": "2025-01-02T10:00:00+02:00"}]},
    {"kb_articles": [{"id": " kb-5", "updated_at": "2025-01-02", "title": "ignored"}]},
    {"reply": "Hi 😀 Zoë,\n\nDone. \u2028"},
    {"created_at": "2026-W47-5T10:04:11Z"},
    {"created_at": "2026-11-20T100411Z"},
    # The ends of the supported range, and bounds met exactly
    {"created_at": "1970-01-01T00:00:00Z"},
    {"created_at": "2099-12-31T23:59:59Z"},
    {"created_at": "1969-12-31T23:30:00-01:00"},
    {"created_at": "2100-01-01T00:30:00+01:00"},
    {"kb_articles": [{"id": "kb-6", "updated_at": "1970-01-01"}, {"id": "kb-7", "updated_at": "2099-12-31"}]},
    {"metadata": json.loads('{"a":' * 31 + "1" + "}" * 31)},  # 32 levels with metadata itself
    {"metadata": {"blob": "x" * 60_000}},
]


@pytest.mark.parametrize("as_text", [True, False])
@pytest.mark.parametrize("change", [{}, *VARIANTS])
def test_fast_row_equals_the_validated_record_row(as_text: bool, change: dict) -> None:
    obj = {**BASE, **change}
    line = json.dumps(obj).encode()  # the standard library writes integers of any size
    preparer = Preparer(DETECTOR, default_source="import", as_text=as_text)
    record = parse_record(orjson.loads(line))
    expected, _ = preparer._from_record(record, stored_time(NOW) if as_text else NOW)
    batch = preparer.lines([line + b"\n"], 1, NOW)
    assert batch.rows == [expected]
    assert not batch.rejects
    if not change:  # the plain record did take the fast path
        assert preparer._fast(line, expected[-1]) == (expected, batch_scan_input(obj))


# Valid lines the fast path takes itself (the others above go the long way): same rows, tested above.
FAST = [0, 2, 3, 4, 5, 7, 8, 9, 11, 15, 16, 20, 21, 22, 23, 24, 27, 28]


def test_which_variants_take_the_fast_path() -> None:
    preparer = Preparer(DETECTOR, as_text=True)
    taken = [
        i
        for i, change in enumerate([{}, *VARIANTS])
        if preparer._fast(json.dumps({**BASE, **change}).encode(), "now") is not None
    ]
    assert taken == FAST


HEAD = b'{"id": "R-1", "ticket_id": "T-1", "created_at": "2026-11-20T10:04:11Z"'


@pytest.mark.parametrize(
    "line",
    [
        HEAD + b', "reply": "a\\u0000"}',
        HEAD + b', "reply": "\\ud800"}',
        HEAD + b', "reply": "\xff"}',
        HEAD + b', "reply": "x"} x',
        HEAD + b', "reply": "x", "csat": 4.0}',
        HEAD + b', "reply": "x", "csat": true}',
        HEAD + b', "reply": " "}',
        HEAD.replace(b"-11-", b"-13-") + b', "reply": "x"}',
        HEAD + b', "reply": "x", "metadata": [1]}',
        HEAD + b', "reply": "x", "language": "' + b"x" * 17 + b'"}',
        HEAD.replace(b"2026-11-20T10:04:11Z", b"9999-12-31T23:59:59Z") + b', "reply": "x"}',
        HEAD.replace(b"2026-11-20T10:04:11Z", b"0001-01-01T00:30:00+01:00") + b', "reply": "x"}',
        HEAD.replace(b"2026-11-20T10:04:11Z", b"1970-01-01T00:30:00+01:00") + b', "reply": "x"}',
        HEAD + b', "reply": "x", "metadata": ' + b'{"a":' * 300 + b"1" + b"}" * 300 + b"}",
        HEAD + b', "reply": "x", "metadata": {"blob": "' + b"x" * 70_000 + b'"}}',
        HEAD + b', "reply": "x", "kb_articles": [{"id": "kb", "updated_at": "0001-01-01"}]}',
        HEAD + b', "reply": "x", "kb_articles": [' + b",".join([b'{"id": "k"}'] * 101) + b"]}",
    ],
)
def test_lines_the_fast_path_leaves_are_rejected_with_a_reason(line: bytes) -> None:
    preparer = Preparer(DETECTOR, as_text=True)
    assert preparer._fast(line, "now") is None
    batch = preparer.lines([line + b"\n"], 1, NOW)
    assert not batch.rows and len(batch.rejects) == 1 and batch.rejects[0].reason


def batch_scan_input(obj: dict) -> object:
    """What the fast path hands the detectors for BASE."""
    record = parse_record(obj)
    c = record.customer
    customer = _Customer(c.id, c.name, c.email, c.plan)
    return _Scanned(
        record.id,
        record.ticket_id,
        record.created_at,
        record.reply,
        customer,
        record.kb_articles,
        record.customer_message,
        record.channel,
    )


def test_dev_set_rows_and_rejects_match_full_validation() -> None:
    raw = (DEV_DATA / "replies.jsonl").read_bytes()
    preparer = Preparer(DETECTOR, default_source="import", as_text=True)
    lines = io.BytesIO(raw).readlines()
    batch = preparer.lines(lines, 1, NOW)
    slow = [b for b in read_batches(io.BytesIO(raw), batch_size=10_000)]
    records = [r for b in slow for r in b.records]
    assert batch.rows == preparer.records(records, NOW).rows
    assert batch.rejects == [r for b in slow for r in b.rejects]
    assert batch.lines == len(lines)
    # The detectors found what they find on the records, the batch's own tickets compared.
    expected = DETECTOR.scan(records)
    DETECTOR.within_batch(records, expected, [r.ticket_id for r in records])
    assert batch.found == expected
    assert {f.kind for fs in batch.found.values() for f in fs} >= {"duplicate_reply", "stale_kb"}


def test_line_numbers_start_where_the_batch_does() -> None:
    good = json.dumps({k: BASE[k] for k in ("id", "ticket_id", "created_at", "reply")}).encode()
    batch = Preparer(DETECTOR, as_text=True).lines([good + b"\n", b"\n", b"{nope\n", b"[]\n"], 4001, NOW)
    assert [(r.line, r.reason.split(" (")[0]) for r in batch.rejects] == [
        (4002, "empty line"),
        (4003, "bad JSON"),
        (4004, "wrong type for record"),
    ]
    assert len(batch.rows) == 1 and batch.lines == 4


def test_a_repeated_id_in_a_batch_is_counted_once_and_scanned_once() -> None:
    line = orjson.dumps({**BASE, "reply": "Hi {{first_name}},"}) + b"\n"
    other = orjson.dumps({**BASE, "id": "R-2"}) + b"\n"
    batch = Preparer(DETECTOR, as_text=True).lines([line, other, line], 1, NOW)
    assert [row[1] for row in batch.rows] == ["R-1", "R-2"]
    assert batch.repeated == 1 and batch.lines == 3
    # R-2 cites the same stale article on the same ticket: that finding stays on R-1 alone.
    assert {i: sorted(f.kind for f in fs) for i, fs in batch.found.items()} == {
        0: ["placeholder_leak", "stale_kb"]
    }


def test_stored_time_round_trips() -> None:
    when = dt.datetime(2026, 11, 20, 11, 4, 11, 250, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert stored_time(when) == "2026-11-20 10:04:11.000250"
    assert read_time(stored_time(when)) == when
