"""Database URLs, SQLite pragmas, migrations and health, on the configured backend."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
import sqlalchemy as sa

from bot.core.db import Database, async_url, head_revision, is_disk_full, is_unavailable
from bot.core.settings import ConfigError
from tests.conftest import backend


def test_urls_map_to_async_drivers() -> None:
    assert async_url("sqlite:///auditbot.db") == "sqlite+aiosqlite:///auditbot.db"
    assert async_url("postgresql://u:p@h:5432/d") == "postgresql+asyncpg://u:p@h:5432/d"
    assert async_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    with pytest.raises(ConfigError, match="unsupported"):
        async_url("mysql://u@h/d")
    with pytest.raises(ConfigError):
        async_url("not a url")


async def test_upgrade_reaches_head_and_is_repeatable(db: Database) -> None:
    assert await db.current_revision() == head_revision()
    await db.upgrade()
    assert await db.current_revision() == head_revision()


async def test_sqlite_uses_wal_and_busy_timeout(db: Database) -> None:
    if backend() != "sqlite":
        pytest.skip("SQLite only")
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await conn.execute(sa.text("PRAGMA busy_timeout"))).scalar_one() >= 5000


async def test_unique_source_id(db: Database) -> None:
    import datetime as dt

    from sqlalchemy.exc import IntegrityError

    from bot.core.models import Reply

    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)

    def reply() -> Reply:
        return Reply(source="s", external_id="R-1", ticket_id="T", created_at=now, reply="x", ingested_at=now)

    async with db.transaction() as session:
        session.add(reply())
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            session.add(reply())


async def test_ping_false_when_unreachable() -> None:
    db = Database("postgresql://postgres@127.0.0.1:1/none")
    assert await db.ping() is False
    await db.dispose()


def test_a_closed_connection_is_an_outage_a_parameter_that_cannot_be_bound_is_not() -> None:
    closed = asyncpg.exceptions.InterfaceError("cannot call Connection.fetch(): connection is closed")
    assert is_unavailable(closed)
    assert is_unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
    wrapped = sa.exc.InterfaceError("SELECT ?", {}, sqlite3.InterfaceError("Error binding parameter 1"))
    assert not is_unavailable(wrapped)  # a bug to report, not an outage to wait out
    assert not is_unavailable(sqlite3.InterfaceError("Error binding parameter 1"))


# A server that cannot serve the connection now is an outage, waited out; a statement or credentials
# it refuses are not (waiting would not help: reported at once).
@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"), True),
        (
            asyncpg.exceptions.CrashShutdownError(
                "terminating connection because of crash of another process"
            ),
            True,
        ),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.exceptions.ConnectionFailureError("could not receive data from server"), True),
        (asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint"), False),
        (asyncpg.exceptions.UndefinedTableError('relation "replies" does not exist'), False),
        (asyncpg.exceptions.InvalidPasswordError('password authentication failed for user "x"'), False),
        (asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"), False),
    ],
    ids=lambda value: type(value).__name__,
)
def test_an_outage_is_told_by_its_sqlstate(error: Exception, outage: bool) -> None:
    assert is_unavailable(error) is outage
    wrapped = sa.exc.DBAPIError("SELECT 1", {}, error)  # as SQLAlchemy raises it, caused by it
    wrapped.__cause__ = error
    assert is_unavailable(wrapped) is outage


def test_a_full_disk_is_told_apart_on_both_databases() -> None:
    assert is_disk_full(asyncpg.exceptions.DiskFullError("could not extend file: No space left on device"))
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert not is_disk_full(asyncpg.exceptions.UniqueViolationError("duplicate key"))
