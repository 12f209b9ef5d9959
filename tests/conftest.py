"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL via DATABASE_URL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.settings import Settings
from tests.fakes.tcp_proxy import TcpProxy

pytest_plugins = ["tests.fakes.plugin"]

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUDITBOT_SHARED", REPO.parent / "shared"))
DEV_DATA = SHARED / "data" / "dev"
SPECS = SHARED / "specs"

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


def backend() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return "postgresql" if url.startswith(("postgresql", "postgres")) else "sqlite"


def fresh_database_url(directory: Path) -> str:
    """A fresh, empty database: a SQLite file in `directory`, or a new PostgreSQL database."""
    url = os.environ.get("DATABASE_URL", "")
    if backend() == "sqlite":
        return f"sqlite:///{directory / 'auditbot.db'}"
    return _fresh_postgres_database(url)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh, empty database for one test."""
    return fresh_database_url(tmp_path)


def _fresh_postgres_database(url: str) -> str:
    """Create a throwaway database next to the configured one, dropped at exit."""
    import asyncio

    from bot.core.db import create_engine

    base = make_url(url)
    name = f"auditbot_t_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        engine = create_engine(str(base), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    asyncio.run(create())
    _CREATED.append((str(base), name))
    return base.set(database=name).render_as_string(hide_password=False)


_CREATED: list[tuple[str, str]] = []


def pytest_sessionfinish(session, exitstatus) -> None:  # type: ignore[no-untyped-def]
    if not _CREATED:
        return
    import asyncio

    from bot.core.db import create_engine

    async def drop() -> None:
        engine = create_engine(_CREATED[0][0], isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            for _, name in _CREATED:
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()

    asyncio.run(drop())


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """The test database (PostgreSQL), migrated, and a URL that reaches it through a proxy that
    can cut it off (`tests/fakes/tcp_proxy.py`)."""
    direct = Database(database_url)
    await direct.upgrade()
    await direct.dispose()
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)
    finally:
        proxy.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock("2026-11-27T08:00:00+00:00")


@pytest.fixture
def config() -> AuditConfig:
    return AuditConfig.model_validate(
        {
            "slack": {
                "audit_channel": "C0AUDIT",
                "defects_channel": "C0DEFECTS",
                "digest_channel": "C0DIGEST",
                "reviewers": ["U0REV1", "U0REV2"],
                "admins": ["U0ADMIN"],
                "timezone": "Europe/Berlin",
            }
        }
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        database_url=database_url,
        ingest_secret="test-ingest-secret",
    )
