"""PostgreSQL's bulk insert: a batch copied into temporary staging tables, then one set-based insert.

The rows (each value as its stored text, bot.ingest.rows) go with asyncpg's binary COPY into a
temporary table, the findings of the batch's replies into another; one statement then inserts
the replies that are new (`ON CONFLICT DO NOTHING`, in key order) and the findings of exactly
the replies it inserted. A reply stored before, by this import or another process at the same
moment, keeps its row and its findings.

In key order, one insert waits for another transaction's uncommitted rows only in the order of
the unique key, so two imports of overlapping files cannot deadlock each other while inserting.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ingest.rows import COLUMNS, Row
from bot.ingest.stored import driver_of

REPLIES_STAGE = "auditbot_stage_replies"
FINDINGS_STAGE = "auditbot_stage_findings"
FINDING_COLUMNS = ("source", "external_id", "kind", "evidence")

# Staged as text but for these; the insert casts each to its column's type.
_STAGED_TYPES = {"csat": "integer", "flagged": "boolean"}
_CASTS = {"created_at": "timestamp", "ingested_at": "timestamp", "kb_articles": "json", "extra": "json"}

# Temporary tables live as long as the connection (a pooled one is reused), emptied at every
# commit; a batch empties them itself too, for a caller that stores several in one transaction.
_REPLIES_DEFINITION = ", ".join(f"{c} {_STAGED_TYPES.get(c, 'text')}" for c in COLUMNS)
_FINDINGS_DEFINITION = ", ".join(f"{c} text" for c in FINDING_COLUMNS)
_CREATE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {REPLIES_STAGE} ({_REPLIES_DEFINITION}) ON COMMIT DELETE ROWS",
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {FINDINGS_STAGE} ({_FINDINGS_DEFINITION}) ON COMMIT DELETE ROWS",
)
_VALUES = ", ".join(f"s.{c}::{_CASTS[c]}" if c in _CASTS else f"s.{c}" for c in COLUMNS)
_INSERT = f"""
WITH new AS (
    INSERT INTO replies ({", ".join(COLUMNS)})
    SELECT {_VALUES} FROM {REPLIES_STAGE} s ORDER BY s.source, s.external_id
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING id, source, external_id
), found AS (
    INSERT INTO findings (reply_id, kind, evidence, created_at)
    SELECT new.id, f.kind, f.evidence::json, $1::timestamp
    FROM new JOIN {FINDINGS_STAGE} f ON f.source = new.source AND f.external_id = new.external_id
    ON CONFLICT (reply_id, kind) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM found)
"""
_EMPTY = f"TRUNCATE {REPLIES_STAGE}, {FINDINGS_STAGE}"


async def insert_staged(
    session: AsyncSession,
    rows: list[Row],
    findings: list[tuple[str, str, str, dict[str, Any] | None]],
    now: dt.datetime,
) -> tuple[int, int]:
    """Insert `rows` (as text) and the `findings` (source, id, kind, evidence) of those of them
    that are new, in the session's transaction: (replies inserted, findings inserted)."""
    # Through the session first: that begins the transaction the driver's statements join.
    await session.execute(sa.text(_CREATE[0]))
    driver = await driver_of(session)
    await driver.execute(_CREATE[1])
    await driver.copy_records_to_table(REPLIES_STAGE, records=rows, columns=COLUMNS)
    if findings:
        dumps = orjson.dumps
        staged = [(source, rid, kind, dumps(evidence).decode()) for source, rid, kind, evidence in findings]
        await driver.copy_records_to_table(FINDINGS_STAGE, records=staged, columns=FINDING_COLUMNS)
    created = now.astimezone(dt.UTC).replace(tzinfo=None)
    imported, found = await driver.fetchrow(_INSERT, created)
    await driver.execute(_EMPTY)
    return int(imported), int(found)
