"""Parsing JSONL and CSV into reply records, each bad line with its number and reason."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from integrations.jsonl import RecordError, Reject, parse_record, read_batches
from tests.conftest import DEV_DATA

GOOD = {
    "id": "R-1",
    "ticket_id": "T-1",
    "created_at": "2026-11-20T10:04:11Z",
    "reply": "Hi Dana, ...",
    "source": "zendesk",
    "ticket_url": "https://desk.example/T-1",
    "customer_message": "Help?",
    "customer": {"id": "C-88", "name": "Dana Lee", "email": "dana@example.com", "plan": "Pro"},
    "template_id": "refund_policy_v3",
    "kb_articles": [{"id": "kb-12", "url": "https://help.example/kb-12", "updated_at": "2026-01-02"}],
    "channel": "email",
    "intent": "billing",
    "language": "en",
    "csat": 2,
    "metadata": {"model": "v7"},
}


def lines(*items: object) -> io.BytesIO:
    text = "".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items)
    return io.BytesIO(text.encode())


def read_all(stream: io.BytesIO, **kw: object) -> tuple[list, list[Reject]]:
    records, rejects = [], []
    for batch in read_batches(stream, **kw):  # type: ignore[arg-type]
        records += batch.records
        rejects += batch.rejects
    return records, rejects


def test_full_record() -> None:
    r = parse_record(GOOD)
    assert (r.id, r.ticket_id, r.source) == ("R-1", "T-1", "zendesk")
    assert r.created_at == dt.datetime(2026, 11, 20, 10, 4, 11, tzinfo=dt.UTC)
    assert r.customer.name == "Dana Lee" and r.customer.plan == "Pro"
    assert r.kb_articles[0].updated_at == dt.date(2026, 1, 2)
    assert (r.csat, r.channel, r.intent, r.language) == (2, "email", "billing", "en")
    assert r.metadata == {"model": "v7"}


def test_minimal_record_defaults_and_unknown_keys_go_to_metadata() -> None:
    r = parse_record(
        {"id": 7, "ticket_id": 4821, "created_at": "2026-11-20T10:04:11", "reply": "ok", "team": "B"},
        default_source="import",
    )
    assert (r.id, r.ticket_id, r.source) == ("7", "4821", "import")
    assert r.created_at.tzinfo is dt.UTC  # no offset: taken as UTC
    assert r.metadata == {"team": "B"}
    assert r.kb_articles == () and r.customer.name is None


def test_offsets_are_converted_to_utc() -> None:
    r = parse_record({**GOOD, "created_at": "2026-11-20T12:04:11+02:00"})
    assert r.created_at == dt.datetime(2026, 11, 20, 10, 4, 11, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "missing field 'id'"),
        ({"ticket_id": ""}, "missing field 'ticket_id'"),
        ({"created_at": None}, "missing field 'created_at'"),
        ({"reply": None}, "missing field 'reply'"),
        ({"created_at": "yesterday"}, "bad timestamp in 'created_at'"),
        ({"created_at": 1764000000}, "wrong type for 'created_at'"),
        ({"reply": "   \n "}, "empty reply"),
        ({"reply": ["Hi"]}, "wrong type for 'reply'"),
        ({"id": True}, "wrong type for 'id'"),
        ({"csat": 6}, "wrong type for 'csat'"),
        ({"csat": "2"}, "wrong type for 'csat'"),
        ({"customer": "Dana"}, "wrong type for 'customer'"),
        ({"customer": {"name": 5}}, "wrong type for 'customer.name'"),
        ({"kb_articles": {"id": "kb-1"}}, "wrong type for 'kb_articles'"),
        ({"kb_articles": [{"url": "x"}]}, "missing field 'kb_articles[0].id'"),
        (
            {"kb_articles": [{"id": "k", "updated_at": "soon"}]},
            "bad timestamp in 'kb_articles[0].updated_at'",
        ),
        ({"metadata": [1]}, "wrong type for 'metadata'"),
        ({"channel": "x" * 65}, "'channel' is too long"),
        ({"reply": "a\x00b"}, "wrong type for 'reply' (contains a NUL character)"),
    ],
)
def test_reasons(change: dict, reason: str) -> None:
    with pytest.raises(RecordError) as err:
        parse_record({**GOOD, **change})
    assert str(err.value).startswith(reason)


def test_bad_lines_are_reported_with_numbers_and_good_ones_kept() -> None:
    stream = lines(GOOD, "", "{not json", [1, 2], {**GOOD, "id": "R-2", "reply": ""}, {**GOOD, "id": "R-3"})
    records, rejects = read_all(stream)
    assert [r.id for r in records] == ["R-1", "R-3"]
    assert [(r.line, r.reason.split(" (")[0]) for r in rejects] == [
        (2, "empty line"),
        (3, "bad JSON"),
        (4, "wrong type for record"),
        (5, "empty reply"),
    ]
    assert rejects[1].raw == "{not json"


def test_batches_and_bytes_read() -> None:
    data = lines(*({**GOOD, "id": f"R-{i}"} for i in range(5)), "oops")
    batches = list(read_batches(data, batch_size=2))
    assert [(len(b.records), len(b.rejects)) for b in batches] == [(2, 0), (2, 0), (1, 1)]
    assert batches[-1].bytes_read == len(data.getvalue())
    assert sum(b.lines for b in batches) == 6


def test_bom_and_crlf() -> None:
    data = io.BytesIO(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r\n")
    records, rejects = read_all(data)
    assert [r.id for r in records] == ["R-1"] and rejects == []


def test_invalid_utf8_line_is_rejected_alone() -> None:
    data = io.BytesIO(json.dumps(GOOD).encode() + b"\n" + b'{"id": "\xff"}\n')
    records, rejects = read_all(data)
    assert len(records) == 1
    assert rejects[0].line == 2 and rejects[0].reason.startswith("bad JSON")


CSV = (
    "id,ticket_id,created_at,reply,customer.name,customer.plan,kb_articles,csat,team\n"
    'R-1,T-1,2026-11-20T10:04:11Z,"Hi Dana,\nline two",Dana Lee,Pro,'
    '"[{""id"": ""kb-1"", ""updated_at"": ""2026-01-02""}]",2,B\n'
    "R-2,T-2,2026-11-20T10:05:00Z,,Ann,,,,\n"
    "R-3,T-3,not-a-time,Hello,Ann,,,,\n"
    "R-4,T-4,2026-11-20T10:06:00Z,Hello,Ann,,,9,\n"
    "R-5,T-5,2026-11-20T10:07:00Z,Hello,,,,,\n"
)


def test_csv_uses_the_same_names_flattened() -> None:
    records, rejects = read_all(io.BytesIO(CSV.encode()), fmt="csv")
    assert [r.id for r in records] == ["R-1", "R-5"]
    first = records[0]
    assert first.reply == "Hi Dana,\nline two"
    assert (first.customer.name, first.customer.plan, first.csat) == ("Dana Lee", "Pro", 2)
    assert first.kb_articles[0].id == "kb-1"
    assert first.metadata == {"team": "B"}
    # R-1 spans lines 2-3, so R-2 starts on line 4.
    assert [(r.line, r.reason.split(" (")[0]) for r in rejects] == [
        (4, "missing field 'reply'"),
        (5, "bad timestamp in 'created_at'"),
        (6, "wrong type for 'csat'"),
    ]
    assert rejects[0].raw.startswith("R-2,T-2")


def test_csv_extra_columns_and_bad_json_column() -> None:
    text = (
        "id,ticket_id,created_at,reply,kb_articles\nR-1,T-1,2026-11-20,Hi,[oops\nR-2,T-2,2026-11-20,Hi,,x\n"
    )
    _, rejects = read_all(io.BytesIO(text.encode()), fmt="csv")
    assert [(r.line, r.reason) for r in rejects] == [
        (2, "bad JSON in 'kb_articles'"),
        (3, "too many columns (6, the header has 5)"),
    ]


def test_dev_set_rejects_exactly_the_planted_bad_lines() -> None:
    planted = json.loads((DEV_DATA / "planted.json").read_text())["bad_lines"]
    with (DEV_DATA / "replies.jsonl").open("rb") as stream:
        records, rejects = read_all(stream)
    assert sorted(r.line for r in rejects) == sorted(planted)
    assert len(records) == 3000
