"""The stored replies a batch's checks across replies read, and what those checks change on them.

Every stored reply of the batch's tickets is read with its findings (a repeated finding is shown
once per ticket, however far apart), and those within the duplicate window also with their text,
the customer message they answered and their channel. When a batch holds a reply earlier than
stored ones (polling and webhooks do not deliver in order), the stored replies' duplicates and
repeated findings are recomputed and rewritten in the batch's transaction (`apply_changes`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checks.findings import PriorReply, StoredChanges, finding_key, text_key
from bot.core.models import Finding as FindingRow
from bot.core.models import Reply
from bot.ingest.rows import CREATED_AT, LOW_CSAT, TICKET_ID, Row, read_time, stored_time

REPLIES = Reply.__table__
FINDINGS = FindingRow.__table__
IN_LIST = 900  # values in one `IN (…)` sent straight to SQLite


async def driver_of(session: AsyncSession) -> Any:
    conn = await session.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    return driver


def _sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


# "+created_at" keeps SQLite on the ticket_id index (without statistics it might take another).
_STORED_SQLITE = (
    "SELECT id, external_id, ticket_id, created_at,"
    " CASE WHEN +created_at BETWEEN ? AND ? THEN coalesce(text_key, reply) END, text_key IS NULL,"
    " CASE WHEN +created_at BETWEEN ? AND ? THEN customer_message END, channel"
    " FROM replies WHERE +source = ? AND ticket_id IN ({})"
)


# One array parameter, so one statement for every batch, built once (building it anew took about
# 0.3 ms of the 4 ms of CPU a webhook reply costs). `source || ''` keeps PostgreSQL on the
# ticket_id index: an import's replies share one source, and with statistics older than the import
# the unique (source, id) index looks selective and reads them all.
_INSIDE = REPLIES.c.created_at.between(sa.bindparam("low"), sa.bindparam("high"))
_STORED_POSTGRES = sa.select(
    REPLIES.c.id,
    REPLIES.c.external_id,
    REPLIES.c.ticket_id,
    REPLIES.c.created_at,
    sa.case((_INSIDE, sa.func.coalesce(REPLIES.c.text_key, REPLIES.c.reply))),
    REPLIES.c.text_key.is_(None),
    sa.case((_INSIDE, REPLIES.c.customer_message)),
    REPLIES.c.channel,
).where(
    REPLIES.c.source.concat("") == sa.bindparam("source"),
    REPLIES.c.ticket_id == sa.any_(sa.bindparam("tickets", type_=ARRAY(sa.Text))),
)


async def load_priors(
    session: AsyncSession, source: str, rows: Sequence[Row], window: dt.timedelta
) -> dict[str, list[PriorReply]]:
    """Stored replies on the rows' tickets, by ticket, as the checks across replies read them."""
    if not rows:
        return {}
    # Stored SQLite text sorts like the time it stands for (fixed width), so no parsing per row.
    low = read_time(min(map(itemgetter(CREATED_AT), rows))) - window
    high = read_time(max(map(itemgetter(CREATED_AT), rows))) + window
    tickets = list(dict.fromkeys(map(itemgetter(TICKET_ID), rows)))
    stored: list[tuple[Any, ...]] = []
    if _sqlite(session):
        driver = await driver_of(session)
        span = [stored_time(low), stored_time(high)]
        for start in range(0, len(tickets), IN_LIST):
            part = tickets[start : start + IN_LIST]
            sql = _STORED_SQLITE.format(", ".join("?" * len(part)))
            stored += await driver.execute_fetchall(sql, [*span, *span, source, *part])
    else:
        params = {"low": low, "high": high, "source": source, "tickets": tickets}
        stored = [tuple(row) for row in await session.execute(_STORED_POSTGRES, params)]
    if not stored:
        return {}
    found = await _findings(session, [row[0] for row in stored])
    earlier: dict[str, list[PriorReply]] = {}
    for rid, external_id, ticket_id, created_at, text, unkeyed, asked, channel in stored:
        mine = found.get(rid, {})
        prior = PriorReply(
            id=external_id,
            created_at=read_time(created_at),
            text_key=None if text is None else (text_key(text) if unkeyed else text),
            finding_keys=frozenset(finding_key(k, e) for k, e in mine.items()),
            asked=text_key(asked) if asked else None,
            channel=channel,
            findings=mine,
            row_id=rid,
        )
        earlier.setdefault(ticket_id, []).append(prior)
    return earlier


_FINDINGS_SQLITE = "SELECT reply_id, kind, evidence FROM findings WHERE reply_id IN ({})"


async def _findings(session: AsyncSession, reply_ids: list[int]) -> dict[int, dict[str, dict]]:
    if _sqlite(session):
        driver, rows = await driver_of(session), []
        for start in range(0, len(reply_ids), IN_LIST):
            part = reply_ids[start : start + IN_LIST]
            sql = _FINDINGS_SQLITE.format(", ".join("?" * len(part)))
            rows += [(r, k, e and orjson.loads(e)) for r, k, e in await driver.execute_fetchall(sql, part)]
    else:
        ids = sa.bindparam("ids", reply_ids, type_=ARRAY(sa.Integer))
        rows = list(
            await session.execute(
                sa.select(FINDINGS.c.reply_id, FINDINGS.c.kind, FINDINGS.c.evidence).where(
                    FINDINGS.c.reply_id == sa.any_(ids)
                )
            )
        )
    found: dict[int, dict[str, dict]] = {}
    for reply_id, kind, evidence in rows:
        found.setdefault(reply_id, {})[kind] = evidence or {}
    return found


async def apply_changes(session: AsyncSession, changes: StoredChanges, now: dt.datetime) -> int:
    """Rewrite the stored replies' findings as `changes` says, and their `flagged`; rows inserted."""
    if not changes:
        return 0
    for reply_id, kind in sorted(changes.delete):  # in one order: two imports lock rows alike
        await session.execute(
            sa.delete(FINDINGS).where(FINDINGS.c.reply_id == reply_id, FINDINGS.c.kind == kind)
        )
    if changes.insert:
        # A plain INSERT on purpose: should another import restate the same stored reply at the
        # same moment, each computed without the other's replies, so neither finding is surely
        # right. This import then fails on the unique key and rolls back, and run again it
        # recomputes the reply with both imports' replies stored (ON CONFLICT would keep one of
        # them for good).
        await session.execute(
            sa.insert(FINDINGS),
            [
                {"reply_id": r, "kind": f.kind, "evidence": f.evidence, "created_at": now}
                for r, f in changes.insert
            ],
        )
    has = sa.exists().where(FINDINGS.c.reply_id == REPLIES.c.id)
    low = sa.func.coalesce(REPLIES.c.csat, LOW_CSAT + 1) <= LOW_CSAT
    await session.execute(
        sa.update(REPLIES).where(REPLIES.c.id.in_(sorted(changes.row_ids))).values(flagged=sa.or_(has, low))
    )
    return len(changes.insert)
