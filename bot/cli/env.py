"""What every subcommand gets: settings, the team config and the database (opened lazily)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.clock import Clock, SystemClock
from bot.core.config import AuditConfig, load_config
from bot.core.settings import ConfigError, Settings

if TYPE_CHECKING:  # imported where used: `auditbot import` starts its worker before these load
    from bot.core.db import Database  # SQLAlchemy
    from bot.core.services import Services  # the Slack SDK: seconds that commands without Slack need not pay


class UsageError(Exception):
    """Bad input: exit 2 with this message."""


class Failure(Exception):
    """A runtime failure explained in one line: exit 1 with this message."""


@dataclass
class CliEnv:
    """What every subcommand gets: settings, the team config and the database, opened lazily."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    _config: AuditConfig | None = None
    _db: Database | None = None

    @property
    def config(self) -> AuditConfig:
        if self._config is None:
            self._config = load_config(self.settings)
        return self._config

    async def database(self, *, upgrade_sqlite: bool = True) -> Database:
        """The database, with SQLite brought up to date; PostgreSQL must be at the newest revision."""
        if self._db is None:
            from bot.core.db import Database

            db = Database(self.settings.database_url)
            try:
                if db.engine.dialect.name == "sqlite" and upgrade_sqlite:
                    if not await _at_head(db):
                        await db.upgrade()
                else:
                    await _require_head(db)
            except BaseException:
                await db.dispose()  # else the driver's thread outlives the event loop
                raise
            self._db = db
        return self._db

    async def services(self, *, slack: bool = True) -> Services:
        """Services for a command; `slack=False` for ones that must work without a token."""
        from bot.core.services import Services, build_client

        client = None
        if slack:
            self.settings.require_slack()
            client = build_client(self.settings)
        return Services(self.settings, self.config, await self.database(), self.clock, client)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.dispose()


_REVISION = re.compile(r"^(down_)?revision(?:\s*:[^=]+)?\s*=\s*(?:['\"]([^'\"]+)['\"]|None)\s*$", re.M)


def _single_head() -> str | None:
    """The newest migration read from the version files without alembic (its import costs a
    second on every command); None unless the history is one plain chain."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (Path(__file__).parent.parent / "migrations" / "versions").glob("*.py"):
        found = _REVISION.findall(path.read_text())
        if not found:
            continue
        names = dict(found)  # {"": revision, "down_": parent or ""}
        if len(found) != 2 or not names.get(""):
            return None
        revisions.add(names[""])
        parents.add(names["down_"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def _at_head(db: Database) -> bool:
    """True when the database is already at the single head: `alembic upgrade` can be skipped."""
    import sqlalchemy as sa

    head = _single_head()
    if head is None:
        return False
    try:
        async with db.engine.connect() as conn:
            current = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
    except sa.exc.DBAPIError:  # no such table (a new database), or not a database at all
        return False
    return [tuple(row) for row in current] == [(head,)]


async def _require_head(db: Database) -> None:
    from bot.core.db import head_revision

    try:
        current = await db.current_revision()
    except Exception as exc:
        raise RuntimeError(f"database unreachable: {type(exc).__name__}: {exc}") from exc
    if current != head_revision():
        raise ConfigError(
            f"database schema is at {current or 'nothing'}, not {head_revision()}: run `auditbot db upgrade`"
        )
