"""The reply record (DESIGN.md) validated: one decoded JSON object in, a ReplyRecord or the reason out.

Choices (documented in the README):
- `created_at` without an offset is taken as UTC; `Z` and `+hh:mm` are converted to UTC.
- `id`, `ticket_id`, `customer.id` and `kb_articles[].id` may be integers (turned into strings).
- Every value is bounded: times and dates between MIN_TIME and MAX_TIME (checked before any
  time-zone conversion, which near year 1 or 9999 would overflow), `metadata` at most
  MAX_METADATA_DEPTH levels deep and MAX_METADATA_BYTES as JSON, at most MAX_ARTICLES articles,
  the column sizes of MAX_LEN. Outside, the record is rejected with a reason naming the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from bot.core.records import Customer, KbArticle, ReplyRecord

UTC = dt.UTC

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
# The supported range of every time and date in a record (UTC; MAX_TIME excluded).
MIN_TIME = dt.datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = dt.datetime(2100, 1, 1, tzinfo=UTC)
MAX_METADATA_DEPTH = 32  # levels of objects and arrays, `metadata` itself being the first
MAX_METADATA_BYTES = 65_536  # as compact JSON, unknown top-level keys included
MAX_ARTICLES = 100
MAX_URL = 2000
_RANGE = f"from {MIN_TIME.date()} to {(MAX_TIME - dt.timedelta(days=1)).date()}"


class RecordError(ValueError):
    """Why one record is not a valid reply record; the message is the reason shown to people."""


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
    unknown = [k for k in obj if k not in KNOWN]  # in the record's order: stored the same every time
    if unknown:
        extra = {**extra, **{k: obj[k] for k in unknown}}
    if extra:
        check_metadata(extra)
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
    """ISO 8601 to aware UTC within [MIN_TIME, MAX_TIME); a value without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise RecordError(f"wrong type for '{name}' (expected an ISO 8601 string)")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"bad timestamp in '{name}'") from None
    # A year off the range is refused before converting: an offset cannot overflow one day either side.
    if not MIN_TIME.year - 1 <= when.year <= MAX_TIME.year:
        raise out_of_range(name)
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if not MIN_TIME <= when < MAX_TIME:
        raise out_of_range(name)
    return when


def out_of_range(name: str) -> RecordError:
    return RecordError(f"'{name}' is out of range ({_RANGE}, UTC)")


def in_range(day: dt.date) -> bool:
    return MIN_TIME.date() <= day < MAX_TIME.date()


def check_metadata(extra: dict[str, Any]) -> None:
    """Refuse metadata nested deeper than MAX_METADATA_DEPTH or larger than MAX_METADATA_BYTES."""
    if _deeper_than(extra, MAX_METADATA_DEPTH):
        raise RecordError(f"'metadata' is nested too deeply (at most {MAX_METADATA_DEPTH} levels)")
    try:
        size = len(orjson.dumps(extra))
    except orjson.JSONEncodeError as exc:  # e.g. an integer a Python caller made too large for JSON
        raise RecordError(f"wrong type in 'metadata' ({exc})") from None
    if size > MAX_METADATA_BYTES:
        raise RecordError(f"'metadata' is too large ({size} bytes as JSON, at most {MAX_METADATA_BYTES})")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if type(item) is dict else item
        stack.extend((child, depth + 1) for child in children if type(child) in (dict, list))
    return False


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
    if len(value) > MAX_ARTICLES:
        raise RecordError(f"'kb_articles' has too many items ({len(value)}, at most {MAX_ARTICLES})")
    out = []
    for i, item in enumerate(value):
        if type(item) is not dict:
            raise RecordError(f"wrong type for 'kb_articles[{i}]' (expected an object)")
        aid, url, updated = item.get("id"), item.get("url"), item.get("updated_at")
        fast = (
            "reviewed_at" not in item
            and type(aid) is str
            and 0 < len(aid.strip()) == len(aid) <= 255
            and (url is None or (type(url) is str and len(url) <= MAX_URL))
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
        if not in_range(day):
            raise out_of_range(f"kb_articles[{i}].updated_at")
        out.append(KbArticle(aid, url, day))
    return tuple(out)


def _article(i: int, item: dict[str, Any]) -> KbArticle:
    where = f"kb_articles[{i}]"
    if item.get("id") is None or item.get("id") == "":
        raise RecordError(f"missing field '{where}.id'")
    url, updated, reviewed = item.get("url"), item.get("updated_at"), item.get("reviewed_at")
    if url is not None and _text(url, f"{where}.url") and len(url) > MAX_URL:
        raise RecordError(f"'{where}.url' is too long ({len(url)} characters, at most {MAX_URL})")
    return KbArticle(
        id=_ident(item["id"], f"{where}.id"),
        url=url,
        updated_at=None if updated is None or updated == "" else _date(updated, f"{where}.updated_at"),
        reviewed_at=None if reviewed is None or reviewed == "" else _date(reviewed, f"{where}.reviewed_at"),
    )


def _date(value: Any, name: str) -> dt.date:
    if not isinstance(value, str):
        raise RecordError(f"wrong type for '{name}' (expected an ISO 8601 date)")
    if len(value) != 10:
        return parse_timestamp(value, name).date()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise RecordError(f"bad timestamp in '{name}'") from None
    if not in_range(day):
        raise out_of_range(name)
    return day
