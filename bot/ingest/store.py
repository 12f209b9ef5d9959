"""Store reply records: bulk inserts idempotent on (source, id), detectors run on each batch."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checks.findings import Finding
from bot.core.db import WRITE, Database, insert_or_ignore
from bot.core.models import Finding as FindingRow
from bot.core.models import Reply
from bot.core.records import ReplyRecord
from bot.ingest.rows import (
    CHANNEL,
    COLUMNS,
    CREATED_AT,
    CUSTOMER_MESSAGE,
    EXTERNAL_ID,
    FLAGGED,
    REPLY,
    SOURCE,
    TICKET_ID,
    Checks,
    Prepared,
    Preparer,
    Row,
    read_time,
    stored_time,
)
from bot.ingest.staging import begin_staging, insert_staged
from bot.ingest.stored import IN_LIST, apply_changes, driver_of, load_priors

REPLIES = Reply.__table__
FINDINGS = FindingRow.__table__
# 20 columns per reply row: 1000 rows stay well under PostgreSQL's 32767 bind parameters.
INSERT_ROWS = 1000


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
    """Insert the new records, their findings and flags, inside the caller's transaction.

    The checks run in a worker thread: however slow a check, the event loop (Slack's acks,
    /healthz) goes on meanwhile.
    """
    preparer = Preparer(checks.detector, as_text=session.get_bind().dialect.name == "sqlite")
    prepared = await asyncio.to_thread(preparer.records, records, now)
    return await store_prepared(session, prepared, checks=checks, now=now)


async def store_prepared(
    session: AsyncSession,
    batch: Prepared,
    *,
    checks: Checks,
    now: dt.datetime,
) -> IngestResult:
    """Insert a prepared batch inside the caller's transaction.

    On SQLite the rows must be `as_text`. On PostgreSQL rows `as_text` go through COPY and a
    staging table (bot.ingest.staging: the bulk import), rows of Python values through
    `INSERT … RETURNING` (a webhook's or a poll's few replies, where COPY's extra round trips
    would cost more than they save).
    """
    rows, found = batch.rows, batch.found
    result = IngestResult(received=len(rows) + batch.repeated)
    sources = {row[SOURCE] for row in rows}
    for source in sources:
        if len(sources) == 1:
            part_rows, part_found = rows, found
        else:
            indexes = [i for i, row in enumerate(rows) if row[SOURCE] == source]
            position = {i: j for j, i in enumerate(indexes)}
            part_rows = [rows[i] for i in indexes]
            part_found = {position[i]: f for i, f in found.items() if i in position}
        part = await _store_source(
            session, source, part_rows, part_found, checks=checks, now=now, as_text=batch.as_text
        )
        result.imported += part.imported
        result.findings += part.findings
    result.already_present = result.received - result.imported
    return result


class _RowRecord:
    """A row as the ticket-level detector pass reads a record."""

    __slots__ = ("_row", "id", "ticket_id")

    def __init__(self, row: Row) -> None:
        self.id, self.ticket_id, self._row = row[EXTERNAL_ID], row[TICKET_ID], row

    @property
    def created_at(self) -> dt.datetime:
        return read_time(self._row[CREATED_AT])

    @property
    def reply(self) -> str:
        return self._row[REPLY]  # type: ignore[no-any-return]

    @property
    def customer_message(self) -> str | None:
        return self._row[CUSTOMER_MESSAGE]  # type: ignore[no-any-return]

    @property
    def channel(self) -> str | None:
        return self._row[CHANNEL]  # type: ignore[no-any-return]


class _RowRecords(Sequence[_RowRecord]):
    """Rows read as records, one view made per item asked for."""

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        if isinstance(i, slice):
            return [_RowRecord(row) for row in self._rows[i]]
        return _RowRecord(self._rows[i])


async def _store_source(
    session: AsyncSession,
    source: str,
    rows: list[Row],
    found: dict[int, list[Finding]],
    *,
    checks: Checks,
    now: dt.datetime,
    as_text: bool,
) -> IngestResult:
    dialect = session.get_bind().dialect.name
    copy = as_text and dialect == "postgresql"
    if copy:
        await begin_staging(session)
    earlier = await load_priors(session, source, rows, checks.window)
    changes = None
    if earlier:  # the batch's own tickets were compared where it was prepared
        # Views are made lazily: only the replies on tickets with stored ones are read.
        views: Any = _RowRecords(rows)
        changes = checks.detector.with_stored(views, found, earlier, [row[TICKET_ID] for row in rows])
    with_findings = sorted(found)  # what is left is exactly the rows with findings; each is flagged
    for i in with_findings:
        if not rows[i][FLAGGED]:
            rows[i] = (*rows[i][:FLAGGED], True, *rows[i][FLAGGED + 1 :])
    if dialect == "sqlite":
        imported, inserted = await _insert_sqlite(session, source, rows, found, now)
    elif copy:
        staged = [(source, rows[i][EXTERNAL_ID], f.kind, f.evidence) for i in with_findings for f in found[i]]
        imported, inserted = await insert_staged(session, rows, staged, now)
    else:
        imported, inserted = await _insert_core(session, rows, found, now, dialect)
    restated = await apply_changes(session, changes, now) if changes else 0
    return IngestResult(imported=imported, findings=inserted + restated)


async def _insert_core(
    session: AsyncSession, rows: list[Row], found: dict[int, list[Finding]], now: dt.datetime, dialect: str
) -> tuple[int, int]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING, then the findings of the rows that are new:
    (replies inserted, findings inserted)."""
    dicts = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    new_ids: dict[str, int] = {}
    for start in range(0, len(dicts), INSERT_ROWS):
        stmt = insert_or_ignore(dialect, REPLIES, "source", "external_id").returning(
            REPLIES.c.id, REPLIES.c.external_id
        )
        returned = await session.execute(stmt, dicts[start : start + INSERT_ROWS])
        new_ids.update((external_id, rid) for rid, external_id in returned)
    findings = [
        {"reply_id": new_ids[rows[i][EXTERNAL_ID]], "kind": f.kind, "evidence": f.evidence, "created_at": now}
        for i in sorted(found)
        if rows[i][EXTERNAL_ID] in new_ids
        for f in found[i]
    ]
    for start in range(0, len(findings), INSERT_ROWS):
        stmt = insert_or_ignore(dialect, FINDINGS, "reply_id", "kind")
        await session.execute(stmt, findings[start : start + INSERT_ROWS])
    return len(new_ids), len(findings)


_INSERT_REPLIES = (
    f"INSERT INTO replies ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    " ON CONFLICT (source, external_id) DO NOTHING"
)
_INSERT_FINDINGS = (
    "INSERT INTO findings (reply_id, kind, evidence, created_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (reply_id, kind) DO NOTHING"
)


async def _insert_sqlite(
    session: AsyncSession, source: str, rows: list[Row], found: dict[int, list[Finding]], now: dt.datetime
) -> tuple[int, int]:
    """Rows sent straight to the driver in the session's transaction, then the findings of the
    rows that are new: (replies inserted, findings inserted).

    SQLAlchemy's per-value processing costs more than SQLite's insert itself on a large import,
    so the rows already hold the stored text of each value (bot.ingest.rows), and one
    `executemany` (SQLite's fastest insert, ids in input order) writes them; it returns no ids.
    The ids of the replies with findings are read back by their unique (source, id), leaving out
    those that were stored before this insert (read just before it). That is exact because the
    transaction holds SQLite's write lock from its start (bot.core.db.writing): no other import can
    insert in between, and no id is inferred from another (`max(id)` + n would take another
    import's replies for ours if the lock were not held).
    """
    conn = await session.connection()
    if not conn.sync_connection.get_execution_options().get(WRITE):  # type: ignore[union-attr]
        raise RuntimeError("replies are stored in a write transaction (bot.core.db.writing)")
    driver = await driver_of(session)
    with_findings = sorted(found)
    keys = [rows[i][EXTERNAL_ID] for i in with_findings]
    stored_before = set(await _ids_sqlite(driver, source, keys)) if with_findings else set()
    cursor = await driver.executemany(_INSERT_REPLIES, rows)
    imported = cursor.rowcount
    await cursor.close()
    if not with_findings:
        return imported, 0
    ids = await _ids_sqlite(driver, source, [key for key in keys if key not in stored_before])
    created, dumps = stored_time(now), orjson.dumps
    params = [
        (rid, f.kind, dumps(f.evidence).decode(), created)
        for i in with_findings
        if (rid := ids.get(rows[i][EXTERNAL_ID])) is not None
        for f in found[i]
    ]
    if params:
        cursor = await driver.executemany(_INSERT_FINDINGS, params)
        await cursor.close()
    return imported, len(params)


async def _ids_sqlite(driver: Any, source: str, external_ids: list[str]) -> dict[str, int]:
    """(source, id) -> row id of the stored replies among `external_ids`."""
    ids: dict[str, int] = {}
    for start in range(0, len(external_ids), IN_LIST):
        part = external_ids[start : start + IN_LIST]
        sql = (
            "SELECT external_id, id FROM replies WHERE source = ?"
            f" AND external_id IN ({', '.join('?' * len(part))})"
        )
        ids.update(await driver.execute_fetchall(sql, [source, *part]))
    return ids
