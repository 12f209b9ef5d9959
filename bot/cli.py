"""`auditbot`: one command, with subcommands. Exit codes: 0 ok, 1 runtime failure, 2 bad input."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__
from bot.clock import Clock, SystemClock
from bot.config import AuditConfig, ConfigError, Settings, effective, load_config

if TYPE_CHECKING:  # imported where used: `auditbot import` starts its worker before these load
    from bot.app import Services  # Slack Bolt: seconds that commands without Slack need not pay
    from bot.db import Database  # SQLAlchemy

log = logging.getLogger("auditbot")


class UsageError(Exception):
    """Bad input: exit 2 with this message."""


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
            from bot.db import Database

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
        from bot.app import Services, build_client

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
    for path in (Path(__file__).with_name("migrations") / "versions").glob("*.py"):
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
    from bot.db import head_revision

    try:
        current = await db.current_revision()
    except Exception as exc:
        raise RuntimeError(f"database unreachable: {type(exc).__name__}: {exc}") from exc
    if current != head_revision():
        raise ConfigError(
            f"database schema is at {current or 'nothing'}, not {head_revision()}: run `auditbot db upgrade`"
        )


Command = Callable[[argparse.Namespace, CliEnv], Awaitable[int]]

# subcommand -> "module:function"; each service module owns its command.
COMMANDS: dict[str, str] = {
    "run": "bot.server:command_run",
    "import": "bot.ingest_cli:command_import",
    "sample": "bot.sampling_cli:command_sample",
    "digest": "bot.digest_cli:command_digest",
    "deliver": "bot.outbox:command_deliver",
    "export": "bot.export:command_export",
    "db": "bot.cli:command_db",
    "config": "bot.cli:command_config",
    "manifest": "bot.manifest:command_manifest",
}

EXPORT_KINDS = ("replies", "findings", "reviews", "defects", "groups", "corrections")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-26") from exc


def _week(value: str) -> str:
    try:
        dt.date.fromisoformat(value + "-1")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO week like 2026-W48") from exc
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditbot", description="The audit layer for AI customer support, in Slack."
    )
    parser.add_argument("--version", action="version", version=f"auditbot {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the bot (Socket Mode if SLACK_APP_TOKEN, else HTTP)")
    run.add_argument("--http", action="store_true", help="serve HTTP even if SLACK_APP_TOKEN is set")
    run.add_argument("--port", type=int, help="HTTP port (default $PORT or 3000)")
    run.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    run.add_argument("--no-scheduler", action="store_true", help="do not run scheduled jobs")

    imp = sub.add_parser("import", help="import AI replies from a JSONL or CSV file (- for stdin)")
    imp.add_argument("path", help="file path, or - for standard input")
    imp.add_argument("--source", help="source name for records without one (default: import)")
    imp.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file name")
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")

    sample = sub.add_parser("sample", help="draw and post the daily sample")
    sample.add_argument("--date", type=_date, help="the day whose scheduled run to do (default today)")
    sample.add_argument("--dry-run", action="store_true", help="print Block Kit JSON, post nothing")
    sample.add_argument("--seed", type=int, help="random seed (default: derived from the date)")

    digest = sub.add_parser("digest", help="post the weekly digest")
    digest.add_argument("--week", type=_week, help="ISO week like 2026-W48 (default: last week)")
    digest.add_argument("--dry-run", action="store_true", help="print Block Kit JSON, post nothing")

    deliver = sub.add_parser("deliver", help="deliver pending outbox effects now")
    deliver.add_argument("--dead", action="store_true", help="retry dead letters too")

    export = sub.add_parser("export", help="export data for analysts")
    export.add_argument("kind", choices=EXPORT_KINDS)
    export.add_argument("--since", type=_date, help="only rows created on or after this date")
    export.add_argument("--format", choices=["csv", "jsonl"], help="default csv (jsonl for corrections)")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")

    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade", "current"])

    config = sub.add_parser("config", help="configuration")
    config.add_argument("action", choices=["check"])
    config.add_argument("--file", help="config file (default $AUDITBOT_CONFIG or ./auditbot.toml)")

    manifest = sub.add_parser("manifest", help="print the Slack app manifest")
    manifest.add_argument("--http-url", help="public base URL: HTTP mode instead of Socket Mode")
    return parser


async def command_db(args: argparse.Namespace, env: CliEnv) -> int:
    from bot.db import Database

    db = Database(env.settings.database_url)
    try:
        if args.action == "upgrade":
            await db.upgrade()
            print(f"database at revision {await db.current_revision()}")
        else:
            print(await db.current_revision() or "(empty)")
    finally:
        await db.dispose()
    return 0


async def command_config(args: argparse.Namespace, env: CliEnv) -> int:
    config = load_config(env.settings, args.file)
    print(json.dumps(effective(env.settings, config), indent=2, default=str))
    print("config ok", file=sys.stderr)
    return 0


def resolve(name: str) -> Command:
    module, _, func = COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Bolt and the SDK log request bodies at DEBUG; keep them quiet.
        for noisy in ("auditbot.bolt", "slack_sdk", "slack_bolt", "httpx", "aiosqlite", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's message names the variable
        print(f"auditbot: bad environment: {exc}", file=sys.stderr)
        return 2
    env = CliEnv(settings)
    try:
        return asyncio.run(_run(resolve(args.command), args, env))
    except ConfigError as exc:
        print(f"auditbot: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"auditbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.debug("failure", exc_info=True)
        print(f"auditbot: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _run(command: Command, args: argparse.Namespace, env: CliEnv) -> int:
    try:
        return await command(args, env)
    finally:
        await env.close()


if __name__ == "__main__":
    sys.exit(main())
