"""Engine, sessions and migrations for SQLite (aiosqlite, WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.core.config import ConfigError

MIGRATIONS = Path(__file__).parent.parent / "migrations"
SQLITE_BUSY_MS = 10_000
# Execution option marking a connection's transaction as a write transaction (see `writing`).
WRITE = "auditbot_write"


def async_url(url: str) -> str:
    """Map `sqlite:///…` and `postgresql://…` to their async drivers."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ConfigError(f"DATABASE_URL: unsupported database {backend!r}; use sqlite or postgresql")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, **kw: object) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    target = async_url(url)
    if target.startswith("sqlite"):
        kw.setdefault("connect_args", {"timeout": SQLITE_BUSY_MS / 1000})
        engine = create_async_engine(target, **kw)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            # A write transaction takes SQLite's write lock before its first statement, so its
            # reads and writes are one serialised unit (BEGIN IMMEDIATE waits out the busy timeout
            # for another writer). Without it, pysqlite begins a transaction only at the first
            # INSERT/UPDATE/DELETE: what it read before may be stale by then, and `FOR UPDATE`
            # locks nothing on SQLite. Read-only sessions keep pysqlite's default.
            if conn.get_execution_options().get(WRITE):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kw.setdefault("pool_pre_ping", True)
    return create_async_engine(target, **kw)


class Database:
    """The engine and a session factory; one per process."""

    def __init__(self, url: str, **engine_kw: object) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kw)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed at the end (rolled back on an exception)."""
        async with self.sessions() as session, writing(session):
            yield session

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception:  # any failure means "not reachable" to /healthz
            return False
        return True

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current)

    async def dispose(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def writing(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Begin a write transaction on `session` (committed at the end, as `session.begin()`).

    On SQLite it takes the database's write lock when it begins (BEGIN IMMEDIATE), so two write
    transactions never interleave; on PostgreSQL it is an ordinary transaction, whose row locks
    (`FOR UPDATE`) and conditional updates do the same job. Use it for every transaction that may
    write; the session must not have begun one yet.
    """
    async with session.begin():
        await session.connection(execution_options={WRITE: True})
        yield session


def alembic_config(connection: Connection | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def insert_ignore(session: AsyncSession, model: Any, values: dict[str, Any], conflict: str) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on both backends; True when the row was inserted."""
    dialect = session.bind.dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = builder(model).values(**values).on_conflict_do_nothing(index_elements=[conflict])
    result = await session.execute(stmt)
    return bool(result.rowcount)
