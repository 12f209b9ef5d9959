"""The CLI tests' fixture: a fresh, migrated database, the CLI pointed at it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.core.db import Database


async def migrate(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    await db.dispose()


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI pointed at a fresh, migrated database, run from an empty directory."""
    asyncio.run(migrate(database_url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("AUDITBOT_CONFIG", raising=False)
    return database_url
