"""How the bulk import cuts its input into batches (bot.ingest.pipeline)."""

from __future__ import annotations

import io

import pytest

from bot.ingest import pipeline


def _batches(data: bytes) -> list[tuple[list[bytes], int]]:
    return list(pipeline._chunks(io.BytesIO(data)))


def test_lines_go_in_batches_of_batch_lines_numbered_from_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "BATCH_LINES", 3)
    lines = [b'{"n": %d}\n' % n for n in range(8)]

    batches = _batches(b"".join(lines))

    assert [first for _, first in batches] == [1, 4, 7]
    assert [part for part, _ in batches] == [lines[0:3], lines[3:6], lines[6:8]]


def test_a_batch_ends_early_once_its_lines_reach_batch_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "BATCH_LINES", 100)
    monkeypatch.setattr(pipeline, "BATCH_BYTES", 25)
    short, long = b"x" * 9 + b"\n", b"y" * 59 + b"\n"  # 10 and 60 bytes
    data = short * 2 + long + short * 3  # the third line passes 25 bytes; the long one alone is more

    batches = _batches(data)

    assert batches == [([short, short, long], 1), ([short, short, short], 4)]
    assert b"".join(b"".join(part) for part, _ in batches) == data  # nothing lost or repeated


def test_the_last_line_without_an_end_and_an_empty_input() -> None:
    assert _batches(b'{"a": 1}\n{"b": 2}') == [([b'{"a": 1}\n', b'{"b": 2}'], 1)]
    assert _batches(b"") == []
