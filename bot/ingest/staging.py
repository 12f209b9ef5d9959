"""PostgreSQL's bulk insert: a batch copied into a temporary staging table, then one set-based insert.

The rows (each value as its stored text, bot.ingest.rows) go with asyncpg's binary COPY into a
temporary table; one statement then inserts the replies that are new (`ON CONFLICT DO NOTHING`,
in key order) and, from arrays sent with it, the findings of exactly the replies it inserted. A
reply stored before, by this import or by another process at the same moment, keeps its row and
its findings.

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

# Staged as text but for these; the insert casts each to its column's type.
_STAGED_TYPES = {"csat": "integer", "flagged": "boolean"}
_CASTS = {"created_at": "timestamp", "ingested_at": "timestamp", "kb_articles": "json", "extra": "json"}

# A temporary table lives as long as the connection (a pooled one is reused), emptied at every
# commit; each batch empties it first too, for a caller that stores several in one transaction.
_DEFINITION = ", ".join(f"{c} {_STAGED_TYPES.get(c, 'text')}" for c in COLUMNS)
_CREATE = f"CREATE TEMPORARY TABLE IF NOT EXISTS {REPLIES_STAGE} ({_DEFINITION}) ON COMMIT DELETE ROWS"
_EMPTY = f"TRUNCATE {REPLIES_STAGE}"
_SETTINGS = sa.text("SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)")
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
    FROM new
    JOIN unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS f(source, external_id, kind, evidence)
        ON f.source = new.source AND f.external_id = new.external_id
    ON CONFLICT (reply_id, kind) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM found)
"""


async def begin_staging(session: AsyncSession) -> None:
    """Begin the batch's transaction and leave the staging table there and empty.

    Every statement of a batch reads by key (the stored replies of its tickets, their findings),
    and the staging table is read whole either way; but the planner's statistics lag behind a
    table that grows by the import itself, and with the default cost of a random read it takes
    a sequential scan of every stored reply for a batch's couple of thousand ticket lookups
    until the table passes a few hundred thousand rows. This transaction reads by index, and
    without JIT compilation, which the cost of the scan it must not take would otherwise set off
    (400 ms per statement).
    """
    await session.execute(_SETTINGS)  # through the session: this begins the transaction
    driver = await driver_of(session)
    await driver.execute(f"{_CREATE}; {_EMPTY}")


async def insert_staged(
    session: AsyncSession,
    rows: list[Row],
    findings: list[tuple[str, str, str, dict[str, Any] | None]],
    now: dt.datetime,
) -> tuple[int, int]:
    """Insert `rows` (as text) and the `findings` (source, id, kind, evidence) of those of them
    that are new, in the transaction `begin_staging` began: (replies inserted, findings inserted)."""
    driver = await driver_of(session)
    await driver.copy_records_to_table(REPLIES_STAGE, records=rows, columns=COLUMNS)
    dumps = orjson.dumps
    arrays = [list(column) for column in zip(*findings, strict=True)] or [[], [], [], []]
    arrays[3] = [dumps(evidence).decode() for evidence in arrays[3]]
    created = now.astimezone(dt.UTC).replace(tzinfo=None)
    imported, found = await driver.fetchrow(_INSERT, created, *arrays)
    return int(imported), int(found)
