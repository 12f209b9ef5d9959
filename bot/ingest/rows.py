"""Reply rows ready for the database, built in bulk from JSONL lines or from validated records.

A large import runs `Preparer` in a worker process (bot.ingest.pipeline): JSON parsing,
validation and the per-reply detectors there, the database work in the main process. Rows are
plain tuples in `COLUMNS` order so that they cross the process boundary and reach the driver
without per-value conversions. Rows `as_text` hold the stored text of each value (times as
naive UTC text, JSON as text): what SQLite stores, and what PostgreSQL's COPY path stages
(bot.ingest.staging); otherwise they hold Python values (datetimes, dicts) for SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NamedTuple, cast

import msgspec
import orjson

from bot.checks.detector import Detector
from bot.checks.findings import Finding
from bot.core.config import DetectorsConfig
from bot.core.records import KbArticle, ReplyRecord
from integrations.jsonl import Reject, parse_line
from integrations.record import (
    KNOWN,
    MAX_ARTICLES,
    MAX_LEN,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_TIME,
    MAX_URL,
    MIN_TIME,
)

# `text_key` is left NULL: it doubles the text stored and sent between processes, and the few
# stored replies a duplicate check reads get their key from `reply` (bot.ingest.stored.load_priors).
COLUMNS = (
    "source", "external_id", "ticket_id", "created_at", "reply", "customer_message",
    "ticket_url", "customer_id", "customer_name", "customer_email", "customer_plan", "template_id",
    "kb_articles", "channel", "intent", "language", "csat", "extra", "flagged", "ingested_at",
)  # fmt: skip
SOURCE, EXTERNAL_ID, TICKET_ID, CREATED_AT, REPLY, CUSTOMER_MESSAGE = 0, 1, 2, 3, 4, 5
CHANNEL, CSAT, FLAGGED = 13, 16, 18
LOW_CSAT = 2
Row = tuple[Any, ...]


@dataclass(slots=True)
class Prepared:
    """A batch of replies as rows, with the findings of the detectors that need no database."""

    rows: list[Row] = field(default_factory=list)  # one per (source, id): a batch's repeats left out
    # Findings by index in rows, after the ticket-level pass within the batch (the stored
    # replies' part of it is the database side's: Detector.with_stored).
    found: dict[int, list[Finding]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    lines: int = 0  # input lines (records) read, good and bad
    repeated: int = 0  # good records whose (source, id) came earlier in the batch
    as_text: bool = False  # rows hold each value's stored text (see the module's docstring)


def stored_time(when: dt.datetime) -> str:
    """An aware datetime as SQLAlchemy stores it in SQLite: naive UTC, microseconds always."""
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def read_time(value: dt.datetime | str) -> dt.datetime:
    """The inverse of stored_time (a datetime is returned as it is)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value


@dataclass(frozen=True)
class Checks:
    """The detectors and the duplicate window: build once per import or request."""

    detector: Detector
    window: dt.timedelta

    @classmethod
    def from_config(cls, config: DetectorsConfig) -> Checks:
        detector = Detector(config)
        return cls(detector, detector.window)


class _Customer(NamedTuple):
    id: str | None
    name: str | None
    email: str | None
    plan: str | None


class _Scanned(NamedTuple):
    """What the detectors read of a ReplyRecord: built per line, so a tuple (cheap) not a record."""

    id: str
    ticket_id: str
    created_at: dt.datetime
    reply: str
    customer: _Customer
    kb_articles: tuple[KbArticle, ...]
    customer_message: str | None
    channel: str | None


class Preparer:
    """Validation, rows and per-reply detectors for one import; picklable, cheap to call per batch."""

    def __init__(self, detector: Detector, *, default_source: str = "import", as_text: bool) -> None:
        self.detector = detector
        self.default_source = default_source
        self.as_text = as_text

    def lines(self, lines: Sequence[bytes], first: int, now: dt.datetime) -> Prepared:
        """Parse JSONL `lines` (numbered from `first`, with their line ends) into a batch."""
        out = Prepared(lines=len(lines), as_text=self.as_text)
        rows, scanned = out.rows, []
        ingested = stored_time(now) if self.as_text else now
        fast = self._fast
        for number, raw in enumerate(lines, first):
            built = fast(raw, ingested)
            if built is None:  # anything unusual: parsed and validated in full, with its reason
                parsed = parse_line(raw, number, default_source=self.default_source)
                if isinstance(parsed, Reject):
                    out.rejects.append(parsed)
                    continue
                built = self._from_record(parsed, ingested)
            rows.append(built[0])
            scanned.append(built[1])
        self._finish(out, scanned)
        return out

    def records(self, records: Sequence[ReplyRecord], now: dt.datetime) -> Prepared:
        """Rows for records validated elsewhere (the webhook, helpdesk polling, CSV)."""
        ingested = stored_time(now) if self.as_text else now
        out = Prepared(lines=len(records), as_text=self.as_text)
        out.rows = [self._from_record(r, ingested)[0] for r in records]
        self._finish(out, list(records))
        return out

    def _finish(self, out: Prepared, scanned: list[Any]) -> None:
        """Leave out the batch's repeats of a (source, id), then run the detectors."""
        rows = out.rows
        if len({(row[SOURCE], row[EXTERNAL_ID]) for row in rows}) < len(rows):
            seen: set[tuple[str, str]] = set()
            keep = []
            for i, row in enumerate(rows):
                key = (row[SOURCE], row[EXTERNAL_ID])
                if key not in seen:
                    seen.add(key)
                    keep.append(i)
            out.repeated = len(rows) - len(keep)
            out.rows = rows = [rows[i] for i in keep]
            scanned = [scanned[i] for i in keep]
        records = cast(Sequence[ReplyRecord], scanned)
        out.found = self.detector.scan(records)
        self.detector.within_batch(records, out.found, [row[TICKET_ID] for row in rows])

    def _from_record(self, r: ReplyRecord, ingested: Any) -> tuple[Row, ReplyRecord]:
        c = r.customer
        articles = [_article_json(a) for a in r.kb_articles]
        kb: Any = articles or None
        extra: Any = r.metadata or None
        created: Any = r.created_at
        if self.as_text:
            created = stored_time(created)
            kb = None if kb is None else orjson.dumps(kb).decode()
            extra = None if extra is None else orjson.dumps(extra).decode()
        row = (
            r.source, r.id, r.ticket_id, created, r.reply, r.customer_message,
            r.ticket_url, c.id, c.name, c.email, c.plan, r.template_id, kb, r.channel, r.intent,
            r.language, r.csat, extra, r.csat is not None and r.csat <= LOW_CSAT, ingested,
        )  # fmt: skip
        return row, r

    def _fast(self, line: bytes, ingested: Any) -> tuple[Row, _Scanned] | None:
        """The row for a plainly valid line, checked as parse_record would; None when in doubt.

        msgspec decodes and type-checks the line in one pass (types, lengths, csat's range, no
        unknown keys); what it cannot say is checked here. Every line accepted is one that
        orjson + parse_record accept with the same row; any other goes the long way, which
        gives the exact reason for a reject.
        """
        if b"\\u0000" in line:  # a NUL in any string: PostgreSQL text cannot hold it
            return None
        try:
            r = _decode_plain(line)
        except (msgspec.MsgspecError, ValueError):  # ValueError: bad UTF-8
            return None
        rid, ticket, reply = r.id, r.ticket_id, r.reply
        if rid != rid.strip() or ticket != ticket.strip() or not reply or reply.isspace():
            return None
        when = r.created_at
        try:
            created = _from_iso(when)
        except ValueError:
            return None
        if not _MIN_YEAR <= created.year <= _MAX_YEAR:  # out of range: the long way says so
            return None
        if created.tzinfo is None:
            created = created.replace(tzinfo=_UTC)
        elif created.tzinfo is not _UTC:
            created = created.astimezone(_UTC)
            if not MIN_TIME <= created < MAX_TIME:
                return None
        c = r.customer
        if c is None:
            cid = name = email = plan = None
        else:
            cid, name, email, plan = c.id, c.name, c.email, c.plan
            if cid == "":
                cid = None
            elif cid is not None and cid != cid.strip():
                return None
        articles: tuple[KbArticle, ...] = ()
        kb_value: Any = None
        kb_raw = bytes(r.kb_articles)
        if kb_raw and kb_raw != b"null":
            known = _kb_cache.get(kb_raw)
            if known is None:
                known = _kb_articles(kb_raw)
                if len(kb_raw) <= _KB_CACHE_BYTES:
                    if len(_kb_cache) >= _KB_CACHE_SIZE:
                        _kb_cache.clear()
                    _kb_cache[kb_raw] = known
            if known is False:
                return None
            articles, kb_text = known
            if self.as_text:
                kb_value = kb_text
            elif articles:  # the raw date is its own isoformat (see _plain_articles)
                kb_value = [{"id": a.id, "url": a.url, "updated_at": str(a.updated_at)} for a in articles]
        extra: Any = None
        raw = bytes(r.metadata)
        # Only metadata that is surely within its bounds: JSON written again is at most about
        # three times the raw text (`1e5` is `100000.0`), and depth never exceeds the brackets.
        if len(raw) > MAX_METADATA_DEPTH and (
            len(raw) > MAX_METADATA_BYTES // 4 or raw.count(b"{") + raw.count(b"[") > MAX_METADATA_DEPTH
        ):
            return None
        if raw and raw != b"null":
            extra = _loads(raw)  # as orjson reads it on the long way (big integers become floats)
            if type(extra) is not dict:
                return None
            extra = extra or None
        csat = r.csat
        stored: Any = created
        if self.as_text:
            # "2026-11-20T10:04:11Z": its stored text by slicing, which is exact for this form
            # (fromisoformat has read it, so the rest are digits and dashes where they belong).
            plain = len(when) == 20 and when[19] == "Z" and when[10] == "T" and when[4] == when[7] == "-"
            plain = plain and when[13] == when[16] == ":"  # not a week date like 2026-W47-5T…
            stored = f"{when[:10]} {when[11:19]}.000000" if plain else stored_time(created)
            extra = None if extra is None else _dumps(extra).decode()
        row = (
            r.source or self.default_source, rid, ticket, stored, reply, r.customer_message,
            r.ticket_url, cid, name, email, plan, r.template_id, kb_value, r.channel, r.intent,
            r.language, csat, extra, csat is not None and csat <= LOW_CSAT, ingested,
        )  # fmt: skip
        # tuple.__new__: the named tuples without their Python-level __new__ (once per line)
        customer = _tuple(_Customer, (cid, name, email, plan))
        scanned = _tuple(
            _Scanned, (rid, ticket, created, reply, customer, articles, r.customer_message, r.channel)
        )
        return row, scanned


# What the fast path decodes a line into. Field limits are parse_record's (MAX_LEN); a line with
# anything else (unknown keys, integer ids, wrong types, nulls where a string must be) fails here.
# gc=False: they never hold a cycle, so the collector need not track one per line.
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_LEN["id"])]
_Url = Annotated[str, msgspec.Meta(max_length=MAX_LEN["ticket_url"])]
_Source = Annotated[str, msgspec.Meta(max_length=MAX_LEN["source"])]
_Channel = Annotated[str, msgspec.Meta(max_length=MAX_LEN["channel"])]
_Intent = Annotated[str, msgspec.Meta(max_length=MAX_LEN["intent"])]
_Language = Annotated[str, msgspec.Meta(max_length=MAX_LEN["language"])]
_Short = Annotated[str, msgspec.Meta(max_length=255)]  # template_id and customer fields


class _PlainCustomer(msgspec.Struct, gc=False):
    id: _Short | None = None
    name: _Short | None = None
    email: _Short | None = None
    plan: _Short | None = None


class _PlainArticle(msgspec.Struct, gc=False):
    id: _Id
    url: Annotated[str, msgspec.Meta(max_length=MAX_URL)] | None = None
    updated_at: Annotated[str, msgspec.Meta(min_length=10, max_length=10)] | None = None
    reviewed_at: str | None = None  # present: the long way reads it


class _PlainRecord(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    id: _Id
    ticket_id: _Id
    created_at: str
    reply: str
    source: _Source | None = None
    ticket_url: _Url | None = None
    customer_message: str | None = None
    template_id: _Short | None = None
    channel: _Channel | None = None
    intent: _Intent | None = None
    language: _Language | None = None
    customer: _PlainCustomer | None = None
    kb_articles: msgspec.Raw = msgspec.Raw(b"")  # kept raw: read by _kb_articles, once per distinct value
    csat: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    metadata: msgspec.Raw = msgspec.Raw(b"")  # kept raw: read with orjson, as the long way does


assert set(_PlainRecord.__struct_fields__) == KNOWN
_decode_plain = msgspec.json.Decoder(_PlainRecord).decode
_PlainArticles = Annotated[list[_PlainArticle], msgspec.Meta(max_length=MAX_ARTICLES)] | None
_decode_articles = msgspec.json.Decoder(_PlainArticles).decode
_loads = orjson.loads


_UTC = dt.UTC
_tuple = tuple.__new__
# Years a created_at may have in the fast path: one either side of the range, so that converting
# cannot overflow; the exact range is checked after converting (the days are the long way's).
_MIN_YEAR, _MAX_YEAR = MIN_TIME.year, MAX_TIME.year - 1
_MIN_DAY, _MAX_DAY = MIN_TIME.date(), (MAX_TIME - dt.timedelta(days=1)).date()
_from_iso = dt.datetime.fromisoformat
_from_iso_date = dt.date.fromisoformat
_dumps = orjson.dumps
_encode = msgspec.json.Encoder().encode


def _article_json(a: KbArticle) -> dict[str, Any]:
    """An article as stored in `replies.kb_articles` (reviewed_at only when there is one)."""
    out = {"id": a.id, "url": a.url, "updated_at": a.updated_at.isoformat() if a.updated_at else None}
    if a.reviewed_at is not None:
        out["reviewed_at"] = a.reviewed_at.isoformat()
    return out


# A record's `kb_articles` JSON as it was written -> (articles, their stored JSON text), or False
# when in doubt: an import cites the same few articles again and again, so each distinct value is
# read once. Bounded (a few MB at most): short values only, cleared when full.
_kb_cache: dict[bytes, tuple[tuple[KbArticle, ...], str | None] | Literal[False]] = {}
_KB_CACHE_SIZE = 2048
_KB_CACHE_BYTES = 1024


def _kb_articles(raw: bytes) -> tuple[tuple[KbArticle, ...], str | None] | Literal[False]:
    """The articles of a raw `kb_articles` value and their stored JSON text; False when in doubt."""
    try:
        items = _decode_articles(raw)
    except (msgspec.MsgspecError, ValueError):
        return False
    if not items:
        return (), None
    articles = _plain_articles(items)
    if articles is None:
        return False
    # As _from_record stores them: the JSON text, which msgspec writes byte for byte as orjson
    # does from the dicts (the articles have no reviewed_at: see _plain_articles).
    return articles, _encode(items).decode().replace(',"reviewed_at":null', "")


def _plain_articles(items: list[_PlainArticle]) -> tuple[KbArticle, ...] | None:
    """Articles whose every id is unpadded and `updated_at` a YYYY-MM-DD date; None when in doubt."""
    articles = []
    for item in items:
        aid, updated = item.id, item.updated_at
        if updated is None or aid != aid.strip() or updated[4] != "-" or updated[7] != "-":
            return None
        if item.reviewed_at is not None:
            return None
        try:
            day = _from_iso_date(updated)
        except ValueError:
            return None
        if not _MIN_DAY <= day <= _MAX_DAY:
            return None
        articles.append(KbArticle(aid, item.url, day))
    return tuple(articles)
