"""The single migration creates exactly the tables, columns and indexes that bot.core.models declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import bot.core.models  # noqa: F401  (registers every table on SQLModel.metadata)
from bot.core.db import Database


async def test_migration_matches_the_models(db: Database) -> None:
    def differences(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    async with db.engine.connect() as conn:
        found = await conn.run_sync(differences)
    assert found == []
