"""Store reply records: bulk inserts idempotent on (source, id), detectors run on each batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import DetectorsConfig
from bot.db import Database
from bot.detectors import Detector, Finding, PriorReply, finding_key, text_key
from bot.models import Finding as FindingRow
from bot.models import Reply
from bot.records import ReplyRecord

REPLIES = Reply.__table__
FINDINGS = FindingRow.__table__
# 22 columns per reply row: 1000 rows stay well under PostgreSQL's 32767 bind parameters.
INSERT_ROWS = 1000
LOW_CSAT = 2


@dataclass(frozen=True)
class Checks:
    """The detectors and the duplicate window: build once per import or request."""

    detector: Detector
    window: dt.timedelta

    @classmethod
    def from_config(cls, config: DetectorsConfig) -> Checks:
        return cls(Detector(config), dt.timedelta(hours=config.duplicate_window_hours))


@dataclass
class IngestResult:
    """Counts for one or more batches."""

    received: int = 0
    imported: int = 0
    already_present: int = 0
    findings: int = 0

    def add(self, other: IngestResult) -> None:
        self.received += other.received
        self.imported += other.imported
        self.already_present += other.already_present
        self.findings += other.findings


async def ingest(
    db: Database,
    records: Sequence[ReplyRecord],
    *,
    checks: Checks,
    now: dt.datetime,
) -> IngestResult:
    """Store one batch in its own transaction."""
    async with db.transaction() as session:
        return await store_records(session, records, checks=checks, now=now)


async def store_records(
    session: AsyncSession,
    records: Sequence[ReplyRecord],
    *,
    checks: Checks,
    now: dt.datetime,
) -> IngestResult:
    """Insert the new records, their findings and flags, inside the caller's transaction."""
    result = IngestResult(received=len(records))
    by_source: dict[str, dict[str, ReplyRecord]] = {}
    for record in records:
        # A repeated (source, id) within the batch is "already present" from its second copy on.
        by_source.setdefault(record.source, {}).setdefault(record.id, record)
    for source, unique in by_source.items():
        part = await _store_source(session, source, list(unique.values()), checks=checks, now=now)
        result.imported += part.imported
        result.findings += part.findings
    result.already_present = result.received - result.imported
    return result


async def _store_source(
    session: AsyncSession,
    source: str,
    records: list[ReplyRecord],
    *,
    checks: Checks,
    now: dt.datetime,
) -> IngestResult:
    earlier = await load_earlier(session, source, records, checks=checks)
    findings: dict[str, list[Finding]] = {}
    for finding in checks.detector.check_batch(records, earlier):
        findings.setdefault(finding.reply_id, []).append(finding)
    flags = [bool(findings.get(r.id)) for r in records]
    dialect = session.get_bind().dialect
    if dialect.name == "sqlite":
        new_ids = await _insert_sqlite(session, records, flags, now, dialect)
    else:
        new_ids = await _insert_core(session, records, flags, now, dialect.name)
    finding_rows = [
        {"reply_id": new_ids[f.reply_id], "kind": f.kind, "evidence": f.evidence, "created_at": now}
        for external_id, found in findings.items()
        if external_id in new_ids
        for f in found
    ]
    for start in range(0, len(finding_rows), INSERT_ROWS):
        stmt = _insert(dialect.name, FINDINGS).on_conflict_do_nothing(index_elements=["reply_id", "kind"])
        await session.execute(stmt, finding_rows[start : start + INSERT_ROWS])
    return IngestResult(imported=len(new_ids), findings=len(finding_rows))


def _insert(dialect: str, table: sa.Table):  # type: ignore[no-untyped-def]
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {dialect!r}")


async def load_earlier(
    session: AsyncSession,
    source: str,
    records: Sequence[ReplyRecord],
    *,
    checks: Checks,
) -> dict[str, list[PriorReply]]:
    """Stored replies on the batch's tickets that a duplicate check could match, with their findings."""
    if not records:
        return {}
    window = checks.window
    low = min(r.created_at for r in records) - window
    high = max(r.created_at for r in records) + window
    tickets = {r.ticket_id for r in records}
    stored = (
        await session.execute(
            sa.select(
                REPLIES.c.id,
                REPLIES.c.external_id,
                REPLIES.c.ticket_id,
                REPLIES.c.created_at,
                REPLIES.c.text_key,
                REPLIES.c.reply,
            ).where(
                REPLIES.c.source == source,
                REPLIES.c.ticket_id.in_(tickets),
                REPLIES.c.created_at.between(low, high),
            )
        )
    ).all()
    if not stored:
        return {}
    keys = await _finding_keys(session, [row.id for row in stored])
    earlier: dict[str, list[PriorReply]] = {}
    for row in stored:
        prior = PriorReply(
            id=row.external_id,
            created_at=row.created_at,
            text_key=row.text_key or text_key(row.reply),
            finding_keys=frozenset(keys.get(row.id, ())),
        )
        earlier.setdefault(row.ticket_id, []).append(prior)
    return earlier


async def _finding_keys(session: AsyncSession, reply_ids: Iterable[int]) -> dict[int, list[str]]:
    rows = await session.execute(
        sa.select(FINDINGS.c.reply_id, FINDINGS.c.kind, FINDINGS.c.evidence).where(
            FINDINGS.c.reply_id.in_(list(reply_ids))
        )
    )
    keys: dict[int, list[str]] = {}
    for reply_id, kind, evidence in rows:
        keys.setdefault(reply_id, []).append(finding_key(kind, evidence or {}))
    return keys


COLUMNS = (
    "source", "external_id", "ticket_id", "created_at", "reply", "text_key", "customer_message",
    "ticket_url", "customer_id", "customer_name", "customer_email", "customer_plan", "template_id",
    "kb_articles", "channel", "intent", "language", "csat", "extra", "flagged", "ingested_at",
)  # fmt: skip
_SQLITE_ROWS = 32766 // len(COLUMNS) // 2  # SQLite's bind-parameter limit, with room to spare


async def _insert_core(
    session: AsyncSession, records: list[ReplyRecord], flags: list[bool], now: dt.datetime, dialect: str
) -> dict[str, int]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: the ids of the rows that are new."""
    rows = [dict(zip(COLUMNS, _values(r, f, now), strict=True)) for r, f in zip(records, flags, strict=True)]
    new_ids: dict[str, int] = {}
    for start in range(0, len(rows), INSERT_ROWS):
        stmt = (
            _insert(dialect, REPLIES)
            .on_conflict_do_nothing(index_elements=["source", "external_id"])
            .returning(REPLIES.c.id, REPLIES.c.external_id)
        )
        returned = await session.execute(stmt, rows[start : start + INSERT_ROWS])
        new_ids.update((external_id, rid) for rid, external_id in returned)
    return new_ids


async def _insert_sqlite(
    session: AsyncSession,
    records: list[ReplyRecord],
    flags: list[bool],
    now: dt.datetime,
    dialect: sa.Dialect,
) -> dict[str, int]:
    """The same statement sent straight to the driver, in the session's transaction.

    SQLAlchemy's per-value type processing costs more than SQLite's insert itself on a large
    import; values are converted here exactly as the column types would (same datetime text).
    """
    to_db = REPLIES.c.created_at.type.bind_processor(dialect)
    assert to_db is not None
    ingested = to_db(now)
    dumps = orjson.dumps
    params: list[object] = []
    for record, flagged in zip(records, flags, strict=True):
        values = list(_values(record, flagged, now))
        values[3] = to_db(record.created_at)
        values[13] = None if values[13] is None else dumps(values[13]).decode()
        values[18] = None if values[18] is None else dumps(values[18]).decode()
        values[20] = ingested
        params.extend(values)
    conn = await session.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    width = len(COLUMNS)
    one = "(" + ",".join("?" * width) + ")"
    new_ids: dict[str, int] = {}
    for start in range(0, len(records), _SQLITE_ROWS):
        count = min(_SQLITE_ROWS, len(records) - start)
        sql = (
            f"INSERT INTO replies ({', '.join(COLUMNS)}) VALUES {','.join([one] * count)}"
            " ON CONFLICT (source, external_id) DO NOTHING RETURNING id, external_id"
        )
        cursor = await driver.execute(sql, params[start * width : (start + count) * width])
        new_ids.update((external_id, rid) for rid, external_id in await cursor.fetchall())
        await cursor.close()
    return new_ids


def _values(record: ReplyRecord, flagged: bool, now: dt.datetime) -> tuple[object, ...]:
    """A reply row in COLUMNS order."""
    customer = record.customer
    articles = [
        {"id": a.id, "url": a.url, "updated_at": a.updated_at.isoformat() if a.updated_at else None}
        for a in record.kb_articles
    ]
    return (
        record.source,
        record.id,
        record.ticket_id,
        record.created_at,
        record.reply,
        text_key(record.reply),
        record.customer_message,
        record.ticket_url,
        customer.id,
        customer.name,
        customer.email,
        customer.plan,
        record.template_id,
        articles or None,
        record.channel,
        record.intent,
        record.language,
        record.csat,
        record.metadata or None,
        flagged or (record.csat is not None and record.csat <= LOW_CSAT),
        now,
    )
