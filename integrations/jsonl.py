"""Reply records from JSONL and CSV streams: validated one by one, each bad line with its reason.

Choices (documented in the README):
- A blank line is reported as a rejected line: in JSONL it is malformed, not a separator.
- CSV: the same names, nested ones flattened with dots (`customer.name`); `kb_articles` and
  `metadata` are JSON text in one column each; other unknown columns go to `metadata`.
- A line the CSV parser cannot read (a stray carriage return outside quotes, a cell over the csv
  module's field limit) is one rejected line; reading goes on with the next. Binary lines are
  rejected as `not UTF-8`, a NUL byte by the record's own check.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

import orjson

from bot.core.records import ReplyRecord
from integrations.record import RecordError, parse_record

__all__ = [
    "Batch",
    "Format",
    "InputError",
    "RecordError",
    "Reject",
    "parse_line",
    "parse_record",
    "read_batches",
]

BATCH_SIZE = 2000
Format = Literal["jsonl", "csv"]
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Reject:
    line: int  # 1-based line number in the input (the first line of a multi-line CSV record)
    reason: str
    raw: str


@dataclass(slots=True)
class Batch:
    records: list[ReplyRecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    lines: int = 0  # records read, good and bad
    bytes_read: int = 0  # position in the input after this batch


def read_batches(
    stream: BinaryIO,
    *,
    fmt: Format = "jsonl",
    default_source: str = "import",
    batch_size: int = BATCH_SIZE,
) -> Iterator[Batch]:
    """Records and rejects, `batch_size` at a time, reading the stream once (memory stays flat)."""
    lines = _jsonl(stream, default_source) if fmt == "jsonl" else _csv(stream, default_source)
    batch = Batch()
    position = 0
    for size, item in lines:
        position += size
        batch.lines += 1
        if isinstance(item, Reject):
            batch.rejects.append(item)
        else:
            batch.records.append(item)
        if len(batch.records) + len(batch.rejects) >= batch_size:
            batch.bytes_read = position
            yield batch
            batch = Batch()
    batch.bytes_read = position
    if batch.lines:
        yield batch


Parsed = tuple[int, "ReplyRecord | Reject"]  # (bytes consumed, outcome)


def _jsonl(stream: BinaryIO, default_source: str) -> Iterator[Parsed]:
    for number, raw in enumerate(stream, 1):
        yield len(raw), parse_line(raw, number, default_source=default_source)


def parse_line(raw: bytes, number: int, *, default_source: str = "import") -> ReplyRecord | Reject:
    """One JSONL line (numbered from 1, with its line end) as a record, or why it is rejected."""
    line = raw.removeprefix(_BOM) if number == 1 else raw
    if not line.strip():
        return Reject(number, "empty line", _decode(raw))
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Reject(number, f"bad JSON ({exc})", _decode(raw))
    try:
        return parse_record(obj, default_source=default_source)
    except RecordError as exc:
        return Reject(number, str(exc), _decode(raw))


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


class _Lines:
    """Decoded lines for csv.reader, remembering what each record was made of."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.number = 0
        self.consumed = 0  # bytes since the last `take()`
        self.raw: list[bytes] = []
        self.bad_utf8 = False

    def __iter__(self) -> Iterator[str]:
        for raw in self._stream:
            self.number += 1
            if self.number == 1:
                raw = raw.removeprefix(_BOM)
            self.consumed += len(raw)
            self.raw.append(raw)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad_utf8 = True
                yield raw.decode("utf-8", errors="replace")

    def take(self) -> tuple[int, str, bool]:
        """(bytes, raw text, whether it was valid UTF-8) of the record just read."""
        out = (self.consumed, b"".join(self.raw).decode("utf-8", errors="replace").rstrip("\r\n"))
        bad = self.bad_utf8
        self.consumed, self.raw, self.bad_utf8 = 0, [], False
        return (*out, not bad)


class InputError(ValueError):
    """The input as a whole cannot be read (a CSV header the parser cannot read)."""


# What the csv module's errors mean, said the way the rest of the reasons are.
_CSV_ERRORS = (
    ("new-line character seen in unquoted field", "a carriage return outside quotes"),
    ("field larger than field limit", f"a cell over {csv.field_size_limit()} characters"),
)


def _csv_reason(exc: csv.Error) -> str:
    message = str(exc)
    said = next((reason for key, reason in _CSV_ERRORS if key in message), message.split(" - ")[0])
    return f"unreadable CSV ({said})"


def _csv(stream: BinaryIO, default_source: str) -> Iterator[Parsed]:
    lines = _Lines(stream)
    reader = csv.reader(iter(lines))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"cannot read the CSV header: {_csv_reason(exc)}") from None
    if header is None:
        return
    lines.take()
    header = [h.strip() for h in header]
    start = 2
    while True:
        # The reader starts afresh on the next line after an error: one bad record is one reject.
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            size, raw, _ = lines.take()
            number, start = start, lines.number + 1
            yield size, Reject(number, _csv_reason(exc), raw)
            continue
        size, raw, utf8 = lines.take()
        number, start = start, lines.number + 1
        if not utf8:
            yield size, Reject(number, "not UTF-8", raw)
        elif not row:
            yield size, Reject(number, "empty line", raw)
        elif len(row) > len(header):
            yield size, Reject(number, f"too many columns ({len(row)}, the header has {len(header)})", raw)
        else:
            try:
                yield size, parse_record(_unflatten(header, row), default_source=default_source)
            except RecordError as exc:
                yield size, Reject(number, str(exc), raw)


_JSON_COLUMNS = frozenset({"kb_articles", "metadata"})


def _unflatten(header: Iterable[str], row: list[str]) -> dict[str, Any]:
    """A CSV row as the JSON record it stands for; empty cells are absent values."""
    obj: dict[str, Any] = {}
    for name, cell in zip(header, row, strict=False):
        if cell == "":
            continue
        if name in _JSON_COLUMNS:
            try:
                obj[name] = orjson.loads(cell)
            except orjson.JSONDecodeError:
                raise RecordError(f"bad JSON in '{name}'") from None
        elif name == "csat":
            text = cell.strip()
            obj[name] = int(text) if text.isascii() and text.isdigit() and len(text) < 10 else cell
        elif name.startswith("customer."):
            obj.setdefault("customer", {})[name.removeprefix("customer.")] = cell
        elif name.startswith("metadata."):
            obj.setdefault("metadata", {})[name.removeprefix("metadata.")] = cell
        else:
            obj[name] = cell
    return obj
