"""Reply rows ready for the database, built in bulk from JSONL lines or from validated records.

A large import runs `Preparer` in a worker process (see bot/ingest_cli.py): JSON parsing,
validation and the per-reply detectors there, the database work in the main process. Rows are
plain tuples in `COLUMNS` order so that they cross the process boundary and reach the driver
without per-value conversions; on SQLite they already hold the stored text of each value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import orjson

from bot.detectors import Detector, Finding
from bot.records import KbArticle, ReplyRecord
from integrations.jsonl import (
    _BOM,
    _TEXT_LIMITS,
    KNOWN,
    RecordError,
    Reject,
    _decode,
    parse_record,
)

# `text_key` is left NULL: it doubles the text stored and sent between processes, and the few
# stored replies a duplicate check reads get their key from `reply` (bot.ingest._load_earlier).
COLUMNS = (
    "source", "external_id", "ticket_id", "created_at", "reply", "customer_message",
    "ticket_url", "customer_id", "customer_name", "customer_email", "customer_plan", "template_id",
    "kb_articles", "channel", "intent", "language", "csat", "extra", "flagged", "ingested_at",
)  # fmt: skip
SOURCE, EXTERNAL_ID, TICKET_ID, CREATED_AT, REPLY = 0, 1, 2, 3, 4
CSAT, FLAGGED = 16, 18
LOW_CSAT = 2
Row = tuple[Any, ...]


@dataclass(slots=True)
class Prepared:
    """A batch of replies as rows, with their per-reply findings (before the ticket-level pass)."""

    rows: list[Row] = field(default_factory=list)
    found: dict[int, list[Finding]] = field(default_factory=dict)  # by index in rows
    rejects: list[Reject] = field(default_factory=list)
    lines: int = 0  # input lines (records) read, good and bad


def stored_time(when: dt.datetime) -> str:
    """An aware datetime as SQLAlchemy stores it in SQLite: naive UTC, microseconds always."""
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def read_time(value: dt.datetime | str) -> dt.datetime:
    """The inverse of stored_time (a datetime is returned as it is)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value


class _Customer(NamedTuple):
    name: str | None
    plan: str | None


class _Scanned(NamedTuple):
    """What the detectors read of a ReplyRecord: built per line, so a tuple (cheap) not a record."""

    id: str
    ticket_id: str
    created_at: dt.datetime
    reply: str
    customer: _Customer
    kb_articles: tuple[KbArticle, ...]


class Preparer:
    """Validation, rows and per-reply detectors for one import; picklable, cheap to call per batch."""

    def __init__(self, detector: Detector, *, default_source: str = "import", sqlite: bool) -> None:
        self.detector = detector
        self.default_source = default_source
        self.sqlite = sqlite

    def lines(self, lines: Sequence[bytes], first: int, now: dt.datetime) -> Prepared:
        """Parse JSONL `lines` (numbered from `first`, with their line ends) into a batch."""
        out = Prepared(lines=len(lines))
        rows, scanned = out.rows, []
        ingested = stored_time(now) if self.sqlite else now
        loads, fast = orjson.loads, self._fast
        for number, raw in enumerate(lines, first):
            line = raw.removeprefix(_BOM) if number == 1 else raw
            try:
                obj = loads(line)
            except orjson.JSONDecodeError as exc:
                reason = "empty line" if not line.strip() else f"bad JSON ({exc})"
                out.rejects.append(Reject(number, reason, _decode(raw)))
                continue
            built = fast(obj, ingested)
            if built is None:  # anything unusual: the full validation, with its exact reason
                try:
                    record = parse_record(obj, default_source=self.default_source)
                except RecordError as exc:
                    out.rejects.append(Reject(number, str(exc), _decode(raw)))
                    continue
                built = self._from_record(record, ingested)
            rows.append(built[0])
            scanned.append(built[1])
        out.found = self.detector.scan(cast(Sequence[ReplyRecord], scanned))
        return out

    def records(self, records: Sequence[ReplyRecord], now: dt.datetime) -> Prepared:
        """Rows for records validated elsewhere (the webhook, helpdesk polling, CSV)."""
        ingested = stored_time(now) if self.sqlite else now
        out = Prepared(lines=len(records))
        out.rows = [self._from_record(r, ingested)[0] for r in records]
        out.found = self.detector.scan(records)
        return out

    def _from_record(self, r: ReplyRecord, ingested: Any) -> tuple[Row, ReplyRecord]:
        c = r.customer
        articles = [
            {"id": a.id, "url": a.url, "updated_at": a.updated_at.isoformat() if a.updated_at else None}
            for a in r.kb_articles
        ]
        kb: Any = articles or None
        extra: Any = r.metadata or None
        created: Any = r.created_at
        if self.sqlite:
            created = stored_time(created)
            kb = None if kb is None else orjson.dumps(kb).decode()
            extra = None if extra is None else orjson.dumps(extra).decode()
        row = (
            r.source, r.id, r.ticket_id, created, r.reply, r.customer_message,
            r.ticket_url, c.id, c.name, c.email, c.plan, r.template_id, kb, r.channel, r.intent,
            r.language, r.csat, extra, r.csat is not None and r.csat <= LOW_CSAT, ingested,
        )  # fmt: skip
        return row, r

    def _fast(self, obj: Any, ingested: Any) -> tuple[Row, _Scanned] | None:
        """The row for a plainly valid record, checked as parse_record would; None when in doubt.

        Every condition here is one parse_record accepts with the same result, so the two paths
        store identical rows; a record failing any of them is validated again in full.
        """
        if type(obj) is not dict or not KNOWN.issuperset(obj):
            return None  # unknown keys are merged into metadata by parse_record
        get = obj.get
        # Checks are inlined (not helper calls): this runs once per line of a large import.
        rid, ticket, reply = get("id"), get("ticket_id"), get("reply")
        if not (
            type(rid) is str and 0 < len(rid) <= 255 and rid == rid.strip() and "\x00" not in rid
        ) or not (
            type(ticket) is str
            and 0 < len(ticket) <= 255
            and ticket == ticket.strip()
            and "\x00" not in ticket
        ):
            return None
        if type(reply) is not str or not reply or reply.isspace() or "\x00" in reply:
            return None
        source = get("source")
        if source is None or source == "":
            source = self.default_source
        elif type(source) is not str or len(source) > 64 or "\x00" in source:
            return None
        extra = get("metadata")
        csat = get("csat")
        if (extra is not None and type(extra) is not dict) or (
            csat is not None and (type(csat) is not int or not 1 <= csat <= 5)
        ):
            return None
        texts = [get(name) for name, _ in _TEXT_LIMITS]
        for value, (_, limit) in zip(texts, _TEXT_LIMITS, strict=True):
            if value is not None and (type(value) is not str or len(value) > limit or "\x00" in value):
                return None
        ticket_url, customer_message, template_id, channel, intent, language = texts
        customer = get("customer")
        if customer is None:
            cid = name = email = plan = None
        else:
            if type(customer) is not dict:
                return None
            fetch = customer.get
            cid, name, email, plan = fetch("id"), fetch("name"), fetch("email"), fetch("plan")
            if cid == "":
                cid = None
            if not (cid is None or _plain_id(cid)) or not (_short(name) and _short(email) and _short(plan)):
                return None
        kb = get("kb_articles")
        articles: tuple[KbArticle, ...] = ()
        kb_value: Any = None
        if kb is not None:
            plain = _plain_articles(kb)
            if plain is None:
                return None
            articles, kb_value = plain
        when = get("created_at")
        if type(when) is not str:
            return None
        try:
            created = _from_iso(when)
        except ValueError:
            return None
        if created.tzinfo is None:
            created = created.replace(tzinfo=_UTC)
        elif created.tzinfo is not _UTC:
            created = created.astimezone(_UTC)
        stored: Any = created
        if not self.sqlite:
            extra = extra or None
        else:
            # "2026-11-20T10:04:11Z": its stored text by slicing, which is exact for this form.
            stored = f"{when[:10]} {when[11:19]}.000000" if _PLAIN_UTC(when) else stored_time(created)
            kb_value = None if kb_value is None else _dumps(kb_value).decode()
            extra = _dumps(extra).decode() if extra else None
        row = (
            source, rid, ticket, stored, reply, customer_message, ticket_url,
            cid, name, email, plan, template_id, kb_value, channel, intent, language, csat, extra,
            csat is not None and csat <= LOW_CSAT, ingested,
        )  # fmt: skip
        return row, _Scanned(rid, ticket, created, reply, _Customer(name, plan), articles)


_UTC = dt.UTC
_from_iso = dt.datetime.fromisoformat
_dumps = orjson.dumps
# Fixed separators leave only digits, which fromisoformat has checked, and rule out the basic format.
_PLAIN_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").fullmatch


def _plain_id(value: Any) -> bool:
    """A string id that parse_record keeps as it is (integers and padded ones take the long way)."""
    return type(value) is str and 0 < len(value) <= 255 and value == value.strip() and "\x00" not in value


def _short(value: Any) -> bool:
    return value is None or (type(value) is str and len(value) <= 255 and "\x00" not in value)


def _plain_articles(value: Any) -> tuple[tuple[KbArticle, ...], list[dict[str, Any]] | None] | None:
    """kb_articles whose every item has a plain id and a YYYY-MM-DD `updated_at`, and their stored
    form (as _from_record writes it: the raw date is its own isoformat); None when in doubt."""
    if type(value) is not list:
        return None
    articles, stored = [], []
    for item in value:
        if type(item) is not dict:
            return None
        aid, url, updated = item.get("id"), item.get("url"), item.get("updated_at")
        if not (
            type(aid) is str
            and 0 < len(aid) <= 255
            and aid == aid.strip()
            and "\x00" not in aid
            and (url is None or (type(url) is str and "\x00" not in url))
            and type(updated) is str
            and len(updated) == 10
            and updated[4] == "-"
            and updated[7] == "-"
        ):
            return None
        try:
            day = dt.date.fromisoformat(updated)
        except ValueError:
            return None
        articles.append(KbArticle(aid, url, day))
        stored.append({"id": aid, "url": url, "updated_at": updated})
    return tuple(articles), stored or None
