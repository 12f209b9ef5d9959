"""Leader lease in the database: with several replicas, only the holder runs a job."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.models import LeaderLease
from bot.core.services import Services


def process_holder(services: Services) -> str:
    """This Services' lease holder id (two Services in one process are two holders).

    For the leader lease only: a piece of work that must not run twice even within one process
    (posting a sample) takes a `new_holder()` of its own for each run."""
    return str(services.extras.setdefault("holder", new_holder()))


def new_holder() -> str:
    """A holder id unique to this process, and to each call: one per Services, or one per run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def acquire_or_renew(db: Database, name: str, holder: str, ttl: dt.timedelta, now: dt.datetime) -> bool:
    """Take the lease `name` if it is free, expired or already ours; True if we hold it now."""
    async with db.transaction() as session:
        return await take(session, name, holder, ttl, now)


async def take(session: AsyncSession, name: str, holder: str, ttl: dt.timedelta, now: dt.datetime) -> bool:
    """`acquire_or_renew` inside the caller's transaction, so what it guards commits with it.

    One INSERT … ON CONFLICT DO UPDATE … WHERE statement, so two replicas racing for an
    expired lease cannot both win: the loser's WHERE sees the winner's fresh row (and on
    PostgreSQL the row stays locked until the caller commits).
    """
    table = LeaderLease.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"name": name, "holder": holder, "expires_at": now + ttl}
    statement = insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.name],
        set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
        where=sa.or_(table.c.holder == holder, table.c.expires_at <= now),
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(db: Database, name: str, holder: str) -> None:
    """Give the lease up early (a clean shutdown); a no-op if someone else holds it."""
    table = LeaderLease.__table__
    async with db.transaction() as session:
        await session.execute(sa.delete(table).where(table.c.name == name, table.c.holder == holder))


async def holder_of(db: Database, name: str, now: dt.datetime) -> str | None:
    """Who holds `name` right now, if anyone."""
    async with db.session() as session:
        lease = await session.get(LeaderLease, name)
    if lease is None or lease.expires_at <= now:
        return None
    return lease.holder
