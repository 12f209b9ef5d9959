"""Engine, sessions and migrations for SQLite (aiosqlite, WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

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
from sqlalchemy.util import await_only

from bot.core.settings import ConfigError

log = logging.getLogger("auditbot.db")

MIGRATIONS = Path(__file__).parent.parent / "migrations"
SQLITE_BUSY_MS = 10_000
CONNECT_TIMEOUT_S = 5  # a PostgreSQL host that does not answer fails a connect after this
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0)  # then every 2 s while the patience lasts
# Seconds a new connection may wait for the database to come back (see `Database.patience`);
# None means the Database's own setting. `fail_fast()` sets 0 for a block.
_PATIENCE: ContextVar[float | None] = ContextVar("db_patience", default=None)
_RERUN: ContextVar[bool] = ContextVar("db_rerun", default=False)
# Execution option marking a connection's transaction as a write transaction (see `writing`).
WRITE = "auditbot_write"
T = TypeVar("T")


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


def create_engine(url: str, **kw: object) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and enforced foreign keys.

    SQL parameters (customer text, emails, phone numbers) never appear in logs or error messages.
    """
    target = async_url(url)
    kw.setdefault("hide_parameters", True)
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
    kw.setdefault("connect_args", {"timeout": CONNECT_TIMEOUT_S})
    return create_async_engine(target, **kw)


# PostgreSQL's SQLSTATEs that say the server cannot serve this connection now, rather than that the
# statement is wrong: class 08 (connection exceptions: 08003 a connection closed midway, 08006 a
# connection failure), a server shutting down or starting up (57P01 an administrator's shutdown or a
# terminated backend, 57P02 a crash shutdown, 57P03 cannot connect now), and 53300 too many
# connections (replicas overlapping during a deploy). asyncpg's errors and SQLAlchemy's wrappers of
# them both carry `sqlstate`.
OUTAGE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (as opposed to a bad statement)."""
    asyncpg = sys.modules.get("asyncpg")  # not loaded: no asyncpg error can be in the chain
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError | TimeoutError | sa.exc.TimeoutError):
            return True
        if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
            return True
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in OUTAGE_STATES):
            return True
        # asyncpg's "connection is closed" (no SQLSTATE: it never reached the server); not
        # sqlite3's InterfaceError (a parameter it cannot bind), a bug to report, not an outage.
        if (
            asyncpg is not None
            and isinstance(error, asyncpg.InterfaceError)
            and "closed" in str(error).lower()
        ):
            return True
        error = error.__cause__ or error.__context__
    return False


def is_rerun() -> bool:
    """Whether `Database.patiently` is running its work again after a lost connection: the first
    run's commit may have landed with its answer lost, so work found done is work done."""
    return _RERUN.get()


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the database's space) is full."""
    error: BaseException | None = exc
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        text = str(error).lower()
        if "database or disk is full" in text or "no space left on device" in text:
            return True
        if getattr(error, "sqlstate", None) == "53100":  # PostgreSQL's disk_full
            return True
        error = error.__cause__ if error.__cause__ is not error else None
    return False


def describe_failure(exc: BaseException) -> str:
    """One line on why the database failed, without the SQL or SQLAlchemy's links."""
    if is_disk_full(exc):
        return "the disk is full (no space left for the database)"
    if is_unavailable(exc):
        return f"the database cannot be reached ({type(exc).__name__})"
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return f"the database failed: {type(cause).__name__}: {first[:300]}"


@contextmanager
def fail_fast() -> Iterator[None]:
    """Within this block, a database that cannot be reached fails at once instead of waiting."""
    token = _PATIENCE.set(0.0)
    try:
        yield
    finally:
        _PATIENCE.reset(token)


class Database:
    """The engine and a session factory; one per process.

    `patience` (seconds, default 0): while it lasts, opening a new connection to a database that
    cannot be reached is retried instead of failing, so work that was already acknowledged waits
    out a short outage (a failover, a restart) rather than being lost. Pooled connections are
    checked before use, so a dead one is replaced by a new (waiting) connection."""

    def __init__(self, url: str, *, patience: float = 0.0, **engine_kw: object) -> None:
        self.url = url
        self.patience = patience
        self.engine = create_engine(url, **engine_kw)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.engine.sync_engine, "do_connect", self._connect)

    def _patience(self) -> float:
        override = _PATIENCE.get()
        return self.patience if override is None else override

    def _connect(self, dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        """Open a DBAPI connection, retrying an unreachable database while the patience lasts."""
        patience = self._patience()
        if patience <= 0:
            return None  # the dialect connects as usual
        deadline = time.monotonic() + patience
        for attempt in range(10_000):
            try:
                return dialect.connect(*cargs, **cparams)
            except Exception as exc:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                if not is_unavailable(exc) or time.monotonic() + delay > deadline:
                    raise
                if attempt == 0:
                    log.warning("database unreachable (%s): waiting for it", type(exc).__name__)
                await_only(asyncio.sleep(delay))
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session, closed at the end.

        Once the block is done, a connection lost while closing (the rollback of a read's open
        transaction) loses nothing: what was committed is committed, and the server drops the
        rest with the connection. So it is logged, not raised into work that has succeeded; and
        when the block failed, its own failure is raised, not the lost connection's."""
        failure: BaseException | None = None
        try:
            async with self.sessions() as session:
                try:
                    yield session
                except BaseException as exc:
                    failure = exc
                    raise
        except Exception as exc:
            if exc is failure or not is_unavailable(exc):
                raise
            if failure is not None:
                context = failure.__context__
                try:
                    raise failure
                finally:
                    # Its own context too: not the lost connection, which would make a logic
                    # error look like an outage to `is_unavailable` (and to `patiently`).
                    failure.__context__ = context
            log.info("database connection lost while closing a finished session (%s)", type(exc).__name__)

    async def patiently(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work(session)` in a session of its own, run again from the start when the connection
        is lost midway, while the patience lasts (a new connection then waits for the database).

        For work that may run twice: reads, and writes whose transactions are idempotent (an
        upsert, a claim), since a commit whose answer was lost may have landed."""
        deadline = time.monotonic() + self._patience()
        for attempt in range(10_000):
            # A new connection waits only for what is left of the patience, not all of it again.
            token = _PATIENCE.set(max(deadline - time.monotonic(), 0.0))
            rerun = _RERUN.set(attempt > 0)
            try:
                async with self.session() as session:
                    return await work(session)
            except Exception as exc:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                if not is_unavailable(exc) or time.monotonic() + delay > deadline:
                    raise
                log.warning("database connection lost midway (%s): trying again", type(exc).__name__)
                await asyncio.sleep(delay)
            finally:
                _PATIENCE.reset(token)
                _RERUN.reset(rerun)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed at the end (rolled back on an exception)."""
        async with self.sessions() as session, writing(session):
            yield session

    async def ping(self) -> bool:
        """Whether the database answers now (never waits out an outage: /healthz must say so)."""
        try:
            with fail_fast():
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


def insert_or_ignore(dialect: str, table: Any, *conflict: str) -> Any:
    """`INSERT INTO table … ON CONFLICT (conflict) DO NOTHING` for `dialect` (both backends)."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    raise RuntimeError(f"unsupported database {dialect!r}")


async def insert_ignore(session: AsyncSession, model: Any, values: dict[str, Any], conflict: str) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on both backends; True when the row was inserted."""
    stmt = insert_or_ignore(session.get_bind().dialect.name, model, conflict).values(**values)
    result = await session.execute(stmt)
    return bool(result.rowcount)
