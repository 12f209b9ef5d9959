"""Reply records from JSONL and CSV streams: validated one by one, each bad line with its reason.

Choices (documented in the README):
- `created_at` without an offset is taken as UTC; `Z` and `+hh:mm` are converted to UTC.
- `id`, `ticket_id`, `customer.id` and `kb_articles[].id` may be integers (turned into strings).
- A blank line is reported as a rejected line: in JSONL it is malformed, not a separator.
- CSV: the same names, nested ones flattened with dots (`customer.name`); `kb_articles` and
  `metadata` are JSON text in one column each; other unknown columns go to `metadata`.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

import orjson

from bot.core.records import Customer, KbArticle, ReplyRecord

UTC = dt.UTC
BATCH_SIZE = 2000
Format = Literal["jsonl", "csv"]

REQUIRED = ("id", "ticket_id", "created_at", "reply")
KNOWN = frozenset(
    (
        *REQUIRED,
        *("ticket_url", "customer_message", "template_id", "channel", "intent", "language"),
        *("source", "customer", "kb_articles", "csat", "metadata"),
    )
)
# Column sizes of the `replies` table: longer values would fail the whole batch on PostgreSQL.
MAX_LEN = {
    "id": 255, "ticket_id": 255, "source": 64, "ticket_url": 2000, "template_id": 255,
    "channel": 64, "intent": 128, "language": 16,
    "customer.id": 255, "customer.name": 255, "customer.email": 255, "customer.plan": 255,
}  # fmt: skip
_BOM = b"\xef\xbb\xbf"


class RecordError(ValueError):
    """Why one record is not a valid reply record; the message is the reason shown to people."""


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


def parse_record(obj: Any, *, default_source: str = "import") -> ReplyRecord:
    """Validate one decoded record (a JSON object); raise RecordError naming the bad field."""
    if type(obj) is not dict:
        raise RecordError(f"wrong type for record (expected a JSON object, got {_kind(obj)})")
    get = obj.get
    for name in REQUIRED:
        value = get(name)
        if value is None or (value == "" and name != "reply"):
            raise RecordError(f"missing field '{name}'")
    reply = obj["reply"]
    if type(reply) is not str:
        raise RecordError("wrong type for 'reply' (expected a string)")
    if not reply.strip():
        raise RecordError("empty reply")
    _no_nul(reply, "reply")
    source = get("source")
    source = default_source if source is None or source == "" else _text(source, "source")
    extra = get("metadata")
    if extra is None:
        extra = {}
    elif type(extra) is not dict:
        raise RecordError("wrong type for 'metadata' (expected an object)")
    unknown = obj.keys() - KNOWN
    if unknown:
        extra = {**extra, **{k: obj[k] for k in unknown}}
    csat = get("csat")
    if csat is not None and (type(csat) is not int or not 1 <= csat <= 5):
        raise RecordError("wrong type for 'csat' (expected an integer 1-5 or null)")
    # This runs for every line of a large import: plain loops, the precise error only on failure.
    texts = []
    for name, limit in _TEXT_LIMITS:
        value = get(name)
        if value is not None and (type(value) is not str or len(value) > limit or "\x00" in value):
            _text(value, name)  # raises
        texts.append(value)
    ticket_url, customer_message, template_id, channel, intent, language = texts
    articles = get("kb_articles")
    customer = get("customer")
    return ReplyRecord(
        id=_ident(obj["id"], "id"),
        ticket_id=_ident(obj["ticket_id"], "ticket_id"),
        created_at=parse_timestamp(obj["created_at"], "created_at"),
        reply=reply,
        source=source,
        ticket_url=ticket_url,
        customer_message=customer_message,
        customer=_NO_CUSTOMER if customer is None else _customer(customer),
        template_id=template_id,
        kb_articles=() if articles is None else _articles(articles),
        channel=channel,
        intent=intent,
        language=language,
        csat=csat,
        metadata=extra,
    )


_NO_CUSTOMER = Customer()
_UNLIMITED = 1 << 62
_TEXT_LIMITS = tuple(
    (name, MAX_LEN.get(name, _UNLIMITED))
    for name in ("ticket_url", "customer_message", "template_id", "channel", "intent", "language")
)


def parse_timestamp(value: Any, name: str) -> dt.datetime:
    """ISO 8601 to aware UTC; a value without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise RecordError(f"wrong type for '{name}' (expected an ISO 8601 string)")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"bad timestamp in '{name}'") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


def _no_nul(value: str, name: str) -> None:
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise RecordError(f"wrong type for '{name}' (contains a NUL character)")


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"wrong type for '{name}' (expected a string, got {_kind(value)})")
    limit = MAX_LEN.get(name)
    if limit is not None and len(value) > limit:
        raise RecordError(f"'{name}' is too long ({len(value)} characters, at most {limit})")
    _no_nul(value, name)
    return value


def _ident(value: Any, name: str) -> str:
    if type(value) is str and 0 < len(value) <= 255 and value == value.strip() and "\x00" not in value:
        return value  # the common case, checked cheaply
    if type(value) is int:
        return str(value)
    text = _text(value, name).strip()
    if not text:
        raise RecordError(f"missing field '{name}'")
    return text


def _customer(value: Any) -> Customer:
    if type(value) is not dict:
        raise RecordError("wrong type for 'customer' (expected an object)")
    cid = value.get("id")
    fields = []
    for key in ("name", "email", "plan"):
        item = value.get(key)
        if item is not None and (type(item) is not str or len(item) > 255 or "\x00" in item):
            _text(item, f"customer.{key}")  # raises
        fields.append(item)
    name, email, plan = fields
    return Customer(
        id=None if cid is None or cid == "" else _ident(cid, "customer.id"),
        name=name,
        email=email,
        plan=plan,
    )


def _articles(value: Any) -> tuple[KbArticle, ...]:
    if type(value) is not list:
        raise RecordError("wrong type for 'kb_articles' (expected an array)")
    out = []
    for i, item in enumerate(value):
        if type(item) is not dict:
            raise RecordError(f"wrong type for 'kb_articles[{i}]' (expected an object)")
        aid, url, updated = item.get("id"), item.get("url"), item.get("updated_at")
        fast = (
            "reviewed_at" not in item
            and type(aid) is str
            and 0 < len(aid.strip()) == len(aid) <= 255
            and (url is None or type(url) is str)
            and type(updated) is str
            and len(updated) == 10
            and "\x00" not in aid
        )
        if not fast:
            out.append(_article(i, item))
            continue
        try:
            day = dt.date.fromisoformat(updated)
        except ValueError:
            raise RecordError(f"bad timestamp in 'kb_articles[{i}].updated_at'") from None
        out.append(KbArticle(aid, url, day))
    return tuple(out)


def _article(i: int, item: dict[str, Any]) -> KbArticle:
    where = f"kb_articles[{i}]"
    if item.get("id") is None or item.get("id") == "":
        raise RecordError(f"missing field '{where}.id'")
    url, updated, reviewed = item.get("url"), item.get("updated_at"), item.get("reviewed_at")
    return KbArticle(
        id=_ident(item["id"], f"{where}.id"),
        url=None if url is None else _text(url, f"{where}.url"),
        updated_at=None if updated is None or updated == "" else _date(updated, f"{where}.updated_at"),
        reviewed_at=None if reviewed is None or reviewed == "" else _date(reviewed, f"{where}.reviewed_at"),
    )


def _date(value: Any, name: str) -> dt.date:
    if not isinstance(value, str):
        raise RecordError(f"wrong type for '{name}' (expected an ISO 8601 date)")
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else parse_timestamp(value, name).date()
    except ValueError:
        raise RecordError(f"bad timestamp in '{name}'") from None


# --- streams ----------------------------------------------------------------------------------
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


def _csv(stream: BinaryIO, default_source: str) -> Iterator[Parsed]:
    lines = _Lines(stream)
    reader = csv.reader(iter(lines))
    header = next(reader, None)
    if header is None:
        return
    lines.take()
    header = [h.strip() for h in header]
    start = 2
    for row in reader:
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
            obj[name] = int(cell) if cell.strip().isdigit() else cell
        elif name.startswith("customer."):
            obj.setdefault("customer", {})[name.removeprefix("customer.")] = cell
        elif name.startswith("metadata."):
            obj.setdefault("metadata", {})[name.removeprefix("metadata.")] = cell
        else:
            obj[name] = cell
    return obj
