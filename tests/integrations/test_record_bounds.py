"""Hostile values in a reply record: every one a named reject of its own record, never of its neighbours."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from integrations.jsonl import InputError, Reject, read_batches
from integrations.record import (
    MAX_ARTICLES,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    RecordError,
    parse_record,
)
from tests.bot.replies import nested

GOOD = {"id": "R-1", "ticket_id": "T-1", "created_at": "2026-11-20T10:04:11Z", "reply": "Hi Dana"}


@pytest.mark.parametrize(
    "created_at",
    [
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:30:00+01:00",  # converting to UTC would overflow below year 1
        "9999-12-31T23:59:59-05:00",  # … and above year 9999
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "1970-01-01T00:30:00+01:00",  # 1969 in UTC
    ],
)
def test_times_outside_the_range_are_named(created_at: str) -> None:
    with pytest.raises(
        RecordError, match=r"'created_at' is out of range \(from 1970-01-01 to 2099-12-31, UTC\)"
    ):
        parse_record({**GOOD, "created_at": created_at})


@pytest.mark.parametrize(
    ("created_at", "utc"),
    [
        ("1970-01-01T00:00:00Z", dt.datetime(1970, 1, 1, tzinfo=dt.UTC)),
        ("1969-12-31T23:30:00-01:00", dt.datetime(1970, 1, 1, 0, 30, tzinfo=dt.UTC)),
        ("2099-12-31T23:59:59.999999Z", dt.datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)),
        ("2100-01-01T00:30:00+01:00", dt.datetime(2099, 12, 31, 23, 30, tzinfo=dt.UTC)),
    ],
)
def test_the_ends_of_the_range_are_kept(created_at: str, utc: dt.datetime) -> None:
    assert parse_record({**GOOD, "created_at": created_at}).created_at == utc


@pytest.mark.parametrize("updated_at", ["0001-01-01", "9999-12-31", "0001-01-01T00:30:00+01:00"])
def test_article_dates_outside_the_range_are_named(updated_at: str) -> None:
    record = {**GOOD, "kb_articles": [{"id": "kb-1", "updated_at": updated_at}]}
    with pytest.raises(RecordError, match=r"'kb_articles\[0\].updated_at' is out of range"):
        parse_record(record)


def test_metadata_depth_and_size_are_bounded() -> None:
    assert parse_record({**GOOD, "metadata": nested(MAX_METADATA_DEPTH)}).metadata
    for depth in (MAX_METADATA_DEPTH + 1, 300, 1000):  # 300: past what orjson writes (255)
        with pytest.raises(RecordError, match="'metadata' is nested too deeply"):
            parse_record({**GOOD, "metadata": nested(depth)})
    with pytest.raises(RecordError, match="'metadata' is nested too deeply"):  # an unknown key counts too
        parse_record({**GOOD, "trace": nested(MAX_METADATA_DEPTH)})  # one level down in metadata
    with pytest.raises(RecordError, match=r"'metadata' is too large \(\d+ bytes as JSON, at most 65536\)"):
        parse_record({**GOOD, "metadata": {"blob": "x" * MAX_METADATA_BYTES}})


def test_too_many_articles_and_an_over_long_article_url() -> None:
    articles = [{"id": f"kb-{i}", "updated_at": "2026-01-02"} for i in range(MAX_ARTICLES + 1)]
    with pytest.raises(RecordError, match=r"'kb_articles' has too many items \(101, at most 100\)"):
        parse_record({**GOOD, "kb_articles": articles})
    with pytest.raises(RecordError, match=r"'kb_articles\[0\].url' is too long"):
        parse_record({**GOOD, "kb_articles": [{"id": "kb-1", "url": "https://x/" + "a" * 2000}]})


def test_a_jsonl_file_keeps_its_good_lines_around_hostile_ones() -> None:
    lines = [
        {**GOOD, "id": "R-1"},
        {**GOOD, "id": "R-2", "created_at": "9999-12-31T23:59:59Z"},
        {**GOOD, "id": "R-3", "created_at": "0001-01-01T00:30:00+01:00"},
        {**GOOD, "id": "R-4", "metadata": nested(300)},
        {**GOOD, "id": "R-5"},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + "[" * 2000 + "]" * 2000 + "\n"
    records, rejects = [], []
    for batch in read_batches(io.BytesIO(text.encode())):
        records += batch.records
        rejects += batch.rejects
    assert [r.id for r in records] == ["R-1", "R-5"]
    assert [(r.line, r.reason.split(" (")[0]) for r in rejects] == [
        (2, "'created_at' is out of range"),
        (3, "'created_at' is out of range"),
        (4, "'metadata' is nested too deeply"),
        (6, "bad JSON"),
    ]


def read_csv(data: bytes) -> tuple[list[str], list[Reject]]:
    ids, rejects = [], []
    for batch in read_batches(io.BytesIO(data), fmt="csv"):
        ids += [r.id for r in batch.records]
        rejects += batch.rejects
    return ids, rejects


def test_csv_lines_the_parser_cannot_read_are_named_and_reading_goes_on() -> None:
    header = b"id,ticket_id,created_at,reply\n"
    good = b"R-%d,T-1,2026-11-20T10:00:00Z,Hi there\n"
    big = b"R-big,T-1,2026-11-20T10:00:00Z," + b"x" * (csv.field_size_limit() + 1) + b"\n"
    data = (
        header
        + good % 1
        + b"R-cr,T-1,2026-11-20T10:00:00Z,Hi\rthere\n"  # a stray carriage return, not quoted
        + good % 2
        + b"R-nul,T-1,2026-11-20T10:00:00Z,Hi\x00there\n"
        + big
        + good % 3
        + b"R-bin,T-1,2026-11-20T10:00:00Z,\xff\xfe\x00\x01\n"  # bad UTF-8
        + good % 4
    )
    ids, rejects = read_csv(data)
    assert ids == ["R-1", "R-2", "R-3", "R-4"]
    assert [(r.line, r.reason) for r in rejects] == [
        (3, "unreadable CSV (a carriage return outside quotes)"),
        (5, "wrong type for 'reply' (contains a NUL character)"),
        (6, f"unreadable CSV (a cell over {csv.field_size_limit()} characters)"),
        (8, "not UTF-8"),
    ]
    assert rejects[0].raw.startswith("R-cr,")


def test_a_binary_file_read_as_csv_is_all_rejects_and_never_an_exception() -> None:
    data = bytes(range(1, 256)) * 40 + b"\n" + bytes(range(255, 0, -1)) * 40 + b"\n"
    header = b"id,ticket_id,created_at,reply\n"
    ids, rejects = read_csv(header + data)
    assert ids == [] and len(rejects) >= 2
    with pytest.raises(InputError, match="cannot read the CSV header"):
        read_csv(b"id,ticket\rid\n" + data)


def test_a_csat_cell_of_other_digits_is_a_wrong_type_not_a_crash() -> None:
    data = (
        "id,ticket_id,created_at,reply,csat\n"
        "R-1,T-1,2026-11-20T10:00:00Z,Hi,²\n"  # a digit to str.isdigit, not to int()
        "R-2,T-1,2026-11-20T10:00:00Z,Hi,4\n"
    )
    ids, rejects = read_csv(data.encode())
    assert ids == ["R-2"]
    assert [r.reason for r in rejects] == ["wrong type for 'csat' (expected an integer 1-5 or null)"]


def test_unknown_keys_join_the_metadata_in_the_records_order() -> None:
    """Stored the same on every import of the same line (a set's order changes from run to run)."""
    keys = [f"k{n:02d}" for n in range(40, 0, -1)]
    obj = {**GOOD, "metadata": {"first": 1}} | {k: n for n, k in enumerate(keys)}
    assert list(parse_record(obj).metadata or {}) == ["first", *keys]
