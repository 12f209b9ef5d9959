"""Autogenerate an Alembic revision from bot/models.py: `python scripts/new_migration.py MESSAGE REV`.

It upgrades a scratch SQLite database to the newest revision, then compares it with the models.
Review the generated file before committing; tests/bot/test_migration.py checks models and
migrations agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command

from bot.core.db import Database, alembic_config


async def main(message: str, rev_id: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(f"sqlite:///{Path(scratch) / 'autogen.db'}")
        await db.upgrade()
        async with db.engine.begin() as conn:
            await conn.run_sync(
                lambda c: command.revision(
                    alembic_config(c), message=message, autogenerate=True, rev_id=rev_id
                )
            )
        await db.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
