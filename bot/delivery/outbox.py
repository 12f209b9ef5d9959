"""The outbox: every external effect is a row written with the change that caused it, delivered here.

A worker claims a row by moving it from `pending` to `delivering` with one conditional UPDATE
(rowcount 1 means it won), so two workers never deliver the same row; on PostgreSQL that UPDATE
takes the row through a `FOR UPDATE SKIP LOCKED` subquery, so workers draining the outbox side
by side pass over the rows the others are claiming instead of queueing behind their locks. While
a row is
`delivering`, `next_attempt_at` is its lease: a worker killed mid-delivery leaves the row to be
reclaimed once the lease expires, and the effect runs again. Effects are written to survive
that: tracker issues are found by their group's marker (or created under a client-chosen id)
before anything is created, comments carry a ref looked for before a retry (or a client-chosen
id), helpdesk notes an idempotency key, Slack posts their row id in their metadata.

Rows queued with the same `sequence` (a group's thread posts, its tracker comments and state
changes) are delivered in the order they were queued: a row is claimed only when no earlier row
of its sequence is pending or being delivered, so a post that waits for a retry holds back the
ones after it instead of being overtaken, by one worker or several. A dead row no longer holds
them back.

A row that gives up (MAX_ATTEMPTS, or an error that will not heal) is dead. While dead rows
wait for a person, one notice in the audit channel says so: the first row to die after none
were dead posts it; `auditbot deliver --retry-dead` revives them all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.core.db import insert_ignore
from bot.core.models import OutboxItem
from bot.core.redact import safe_mrkdwn, truncate
from bot.core.services import Services
from bot.delivery.slack import call_slack
from integrations.base import IntegrationError, PermanentError

log = logging.getLogger("auditbot.outbox")

MAX_ATTEMPTS = 8
BASE_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=5)
DEFER_DELAY = dt.timedelta(seconds=20)  # then a quarter of the row's age, at most MAX_DEFER
MAX_DEFER = dt.timedelta(minutes=5)
DEAD_SHOWN = 10  # dead rows listed by `dead_items` (and /audit config)
MAX_PASSES = 5  # effects queue follow-ups (the card edit after an issue); deliver those too


class Deferred(Exception):
    """The effect needs another one delivered first (the issue, the card); try again soon."""


@dataclass
class Outcome:
    """What a delivered effect returns: a result to store and DB changes made with marking it done."""

    result: dict[str, Any] | None = None
    apply: Callable[[AsyncSession], Awaitable[None]] | None = None


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    revived: int = 0
    dead_ids: list[int] = field(default_factory=list)


# Fault injection for tests (documented in the README section): called after an effect has
# returned and before its outcome is stored, so a test can "kill" the worker in that gap.
AfterEffect = Callable[[OutboxItem, Outcome], Awaitable[None]]
# What delivering one kind of effect does; each capability that queues effects owns its table.
Effect = Callable[[Services, OutboxItem], Awaitable[Outcome]]
Effects = Mapping[str, Effect]


async def enqueue(
    session: AsyncSession,
    kind: str,
    key: str,
    payload: dict[str, Any],
    now: dt.datetime,
    *,
    sequence: str | None = None,
) -> OutboxItem:
    """Queue an effect in the caller's transaction; the same key twice queues it once. Effects of
    one `sequence` are delivered in the order of their ids (see the module's docstring): callers
    queue them under a lock held until commit (the group's row), so that ids follow commits."""
    values = {
        "kind": kind,
        "idempotency_key": key,
        "payload": payload,
        "sequence": sequence,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    await insert_ignore(session, OutboxItem, values, "idempotency_key")
    row = (await session.execute(select(OutboxItem).where(OutboxItem.idempotency_key == key))).scalar_one()
    return row


async def deliver_due(
    services: Services,
    effects: Effects,
    *,
    include_dead: bool = False,
    limit: int = 100,
    keys: Sequence[str] | None = None,
    after_effect: AfterEffect | None = None,
    stop: asyncio.Event | None = None,
) -> DeliveryReport:
    """Deliver due effects (optionally only `keys`); `include_dead` first revives dead letters.

    Once `stop` is set no further row is claimed (the one being delivered finishes)."""
    report = DeliveryReport()
    now = services.clock.now()

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    if include_dead:
        report.revived = await _revive(services, now)
    tried: set[int] = set()
    for _ in range(MAX_PASSES):
        now = services.clock.now()  # follow-ups queued by the last pass are due by now
        ids = [] if stopped() else [i for i in await _due(services, now, limit, keys) if i not in tried]
        for row_id in ids:
            # The row, then at once the rows it held back: the next of its sequence, whatever its key.
            next_id: int | None = row_id
            while next_id is not None and next_id not in tried and not stopped():
                tried.add(next_id)
                sequence = await _deliver_one(services, effects, next_id, report, after_effect)
                next_id = None
                if sequence is not None:
                    found = await _due(services, services.clock.now(), 1, None, sequence)
                    next_id = found[0] if found else None
        if not ids or stopped():
            break
    if report.dead_ids:
        await announce_dead_letters(services, report.dead_ids)
    return report


async def _revive(services: Services, now: dt.datetime) -> int:
    async with services.db.transaction() as session:
        result = await session.execute(
            sa.update(OutboxItem)
            .where(OutboxItem.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=now)
        )
        return int(result.rowcount or 0)


async def _due(
    services: Services, now: dt.datetime, limit: int, keys: Sequence[str] | None, sequence: str | None = None
) -> list[int]:
    """Ids of the due rows whose turn it is (of `keys`, of `sequence`, when given), in id order."""
    async with services.db.session() as session:
        return list((await session.execute(_due_query(now, limit, keys, sequence))).scalars())


def _due_query(now: dt.datetime, limit: int, keys: Sequence[str] | None, sequence: str | None) -> sa.Select:
    stmt = (
        sa.select(OutboxItem.id)
        .where(OutboxItem.status.in_(("pending", "delivering")), OutboxItem.next_attempt_at <= now)
        .where(_its_turn(now))
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    if keys is not None:
        stmt = stmt.where(OutboxItem.idempotency_key.in_(list(keys)))
    if sequence is not None:
        stmt = stmt.where(OutboxItem.sequence == sequence)
    return stmt


async def _deliver_one(
    services: Services,
    effects: Effects,
    row_id: int,
    report: DeliveryReport,
    after_effect: AfterEffect | None,
) -> str | None:
    """Claim and deliver one row; the sequence of a row it delivered, whose next row may go now."""
    now = services.clock.now()
    lease_until = now + LEASE
    due = (
        OutboxItem.id == row_id,
        OutboxItem.status.in_(("pending", "delivering")),
        OutboxItem.next_attempt_at <= now,
    )
    async with services.db.transaction() as session:
        # One statement. PostgreSQL: a row another worker is claiming right now is skipped, not
        # waited for (SQLite has no row locks: its writing transactions take turns).
        free = sa.select(OutboxItem.id).where(*due).with_for_update(skip_locked=True).scalar_subquery()
        claimed = await session.execute(
            sa.update(OutboxItem)
            .where(OutboxItem.id == free, *due, _its_turn())
            .values(status="delivering", next_attempt_at=lease_until, attempts=OutboxItem.attempts + 1)
        )
        if claimed.rowcount != 1:
            return None  # another worker has it, or an earlier row of its sequence is not delivered yet
        row = await session.get(OutboxItem, row_id)
        assert row is not None
    try:
        effect = effects.get(row.kind)
        if effect is None:
            raise PermanentError(f"unknown outbox effect {row.kind!r}")
        outcome = await effect(services, row)
    except Deferred as exc:
        await _deferred(services, row, lease_until, str(exc))
        report.retried += 1
        return None
    except IntegrationError as exc:
        delay = _delay(row.attempts, getattr(exc, "retry_after", None))
        await _failed(services, row, lease_until, str(exc), delay, report, permanent=not exc.retryable)
        return None
    except Exception as exc:  # a bug in an effect: keep the row, retry, and dead-letter it eventually
        log.exception("outbox effect %s (row %s) failed", row.kind, row.id)
        await _failed(
            services, row, lease_until, f"{type(exc).__name__}: {exc}", _delay(row.attempts), report
        )
        return None
    if after_effect is not None:
        await after_effect(row, outcome)
    async with services.db.transaction() as session:
        done = await session.execute(
            _owned(row.id, lease_until).values(
                status="done", result=outcome.result, delivered_at=services.clock.now(), last_error=None
            )
        )
        # A lost lease means another worker redelivered the row and applied its own outcome.
        if done.rowcount == 1 and outcome.apply is not None:
            await outcome.apply(session)
    report.delivered += 1
    return row.sequence


async def _deferred(services: Services, row: OutboxItem, lease_until: dt.datetime, reason: str) -> None:
    """Waiting for another effect is not a failed attempt: try again later, sooner when young."""
    now = services.clock.now()
    delay = min(max(DEFER_DELAY, (now - row.created_at) / 4), MAX_DEFER)
    values = {"status": "pending", "next_attempt_at": now + delay, "attempts": row.attempts - 1}
    async with services.db.transaction() as session:
        await session.execute(_owned(row.id, lease_until).values(last_error=reason[:2000], **values))  # type: ignore[arg-type]


def _its_turn(now: dt.datetime | None = None) -> sa.ColumnElement[bool]:
    """The row has no sequence, or no earlier row of its sequence is still to be delivered.

    With `now`, only earlier rows that are not due at `now` count (waiting for a retry, or being
    delivered): a pass takes the due ones first, in id order, so a sequence whose rows are all
    due goes out in one pass, and rows held back leave room in the pass for the others."""
    table, earlier = OutboxItem.__table__, OutboxItem.__table__.alias("earlier")  # type: ignore[attr-defined]

    def none_waits(status: str) -> sa.ColumnElement[bool]:
        # Equalities on (sequence, status) and a range on id: a seek in ix_outbox_turn to the
        # sequence's rows in that status, past its delivered ones, on either database's planner.
        held = [earlier.c.sequence == table.c.sequence, earlier.c.status == status, earlier.c.id < table.c.id]
        if now is not None:
            held.append(earlier.c.next_attempt_at > now)
        return ~sa.exists().where(*held)

    return sa.or_(table.c.sequence.is_(None), sa.and_(none_waits("pending"), none_waits("delivering")))


def _owned(row_id: int, lease_until: dt.datetime) -> sa.Update:
    return sa.update(OutboxItem).where(
        OutboxItem.id == row_id,
        OutboxItem.status == "delivering",
        OutboxItem.next_attempt_at == lease_until,
    )


async def _failed(
    services: Services,
    row: OutboxItem,
    lease_until: dt.datetime,
    error: str,
    delay: dt.timedelta,
    report: DeliveryReport,
    *,
    permanent: bool = False,
) -> None:
    dead = permanent or row.attempts >= MAX_ATTEMPTS
    now = services.clock.now()
    values: dict[str, Any] = {"last_error": error[:2000]}
    if dead:
        values.update(status="dead", next_attempt_at=now)
    else:
        values.update(status="pending", next_attempt_at=now + delay)
    async with services.db.transaction() as session:
        changed = await session.execute(_owned(row.id, lease_until).values(**values))
    if changed.rowcount != 1:
        return
    if not dead:
        log.info("outbox %s (row %s) attempt %s failed, retrying: %s", row.kind, row.id, row.attempts, error)
        report.retried += 1
        return
    log.warning("outbox %s (row %s) dead after %s attempts: %s", row.kind, row.id, row.attempts, error)
    report.dead += 1
    report.dead_ids.append(row.id)  # type: ignore[arg-type]


def _delay(attempts: int, retry_after: float | None = None) -> dt.timedelta:
    """Exponential backoff with full jitter, never shorter than the vendor's Retry-After."""
    ceiling = min(BASE_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY)
    delay = dt.timedelta(seconds=random.uniform(ceiling.total_seconds() / 2, ceiling.total_seconds()))
    if retry_after is not None:
        delay = max(delay, dt.timedelta(seconds=retry_after))
    return delay


async def pending_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(sa.select(OutboxItem.status, sa.func.count()).group_by(OutboxItem.status))
    return {status: count for status, count in rows.all()}


async def dead_items(session: AsyncSession, limit: int = DEAD_SHOWN) -> list[OutboxItem]:
    """The dead rows, newest first (what a person must look at)."""
    stmt = sa.select(OutboxItem).where(OutboxItem.status == "dead").order_by(OutboxItem.id.desc())
    return list((await session.execute(stmt.limit(limit))).scalars())


async def announce_dead_letters(services: Services, died: Sequence[int]) -> None:
    """One notice in the audit channel when effects give up, unless earlier dead ones still wait
    for a person (their notice already asked for the fix and the retry)."""
    channel = services.config.slack.audit_channel or services.config.slack.defects_channel
    if services.client is None or not channel:
        return
    async with services.db.session() as session:
        earlier = await session.execute(
            sa.select(sa.func.count())
            .where(OutboxItem.status == "dead", OutboxItem.id.not_in(list(died)))
            .select_from(OutboxItem)
        )
        if earlier.scalar_one():
            log.info("%d more dead letter(s); already announced", len(died))
            return
        rows = list(
            (await session.execute(sa.select(OutboxItem).where(OutboxItem.id.in_(list(died))))).scalars()
        )
    lines = [_dead_line(row) for row in rows[:5]] + ([f"…and {len(rows) - 5} more"] if len(rows) > 5 else [])
    text = (
        f"⚠️ auditbot could not deliver {len(rows)} effect(s) and stopped retrying:\n"
        + "\n".join(lines)
        + "\nFix the cause, then run `auditbot deliver --retry-dead`; `/audit config` lists what waits."
    )
    try:
        await call_slack(services.client.chat_postMessage(channel=channel, text=text))
    except IntegrationError as exc:  # Slack itself may be what is failing; the rows stay dead
        log.warning("could not announce %d dead letter(s): %s", len(rows), exc)


def _dead_line(row: OutboxItem) -> str:
    about = (row.payload or {}).get("group_id")
    what = f"`{row.kind}`" + (f" for defect group #{about}" if about else "")
    error = truncate(safe_mrkdwn(row.last_error or ""), 300)
    return f"• {what} after {row.attempts} attempt(s): {error}"
