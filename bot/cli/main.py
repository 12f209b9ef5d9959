"""`auditbot`: one command, with subcommands. Exit codes: 0 ok, 1 runtime failure, 2 bad input."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

from bot import __version__
from bot.cli.env import CliEnv, Failure, UsageError
from bot.core.settings import ConfigError, Settings

log = logging.getLogger("auditbot")


Command = Callable[[argparse.Namespace, CliEnv], Awaitable[int]]

# subcommand -> "module:function", imported only when that command runs.
COMMANDS: dict[str, str] = {
    "run": "bot.cli.run:command_run",
    "worker": "bot.cli.run:command_worker",
    "import": "bot.cli.ingest:command_import",
    "sample": "bot.cli.sample:command_sample",
    "digest": "bot.cli.digest:command_digest",
    "deliver": "bot.cli.deliver:command_deliver",
    "export": "bot.cli.export:command_export",
    "db": "bot.cli.admin:command_db",
    "config": "bot.cli.admin:command_config",
    "manifest": "bot.cli.manifest:command_manifest",
    "judge": "bot.cli.judge:command_judge",
    "checks": "bot.cli.checks:command_checks",
    "report": "bot.cli.report:command_report",
}

EXPORT_KINDS = (
    *("replies", "findings", "reviews", "defects", "groups", "corrections", "judgments"),
    *("articles", "regressions"),
)
SEGMENT_DIMENSIONS = ("intent", "template", "channel", "article", "language")  # bot.digest.segments


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

    worker = sub.add_parser("worker", help="deliver the outbox and run the schedule; serves nothing")
    worker.add_argument("--no-scheduler", action="store_true", help="only deliver the outbox")

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
    deliver.add_argument(
        "--retry-dead",
        "--dead",
        dest="dead",
        action="store_true",
        help="revive dead letters and retry them too",
    )

    export = sub.add_parser("export", help="export data for analysts")
    export.add_argument("kind", choices=EXPORT_KINDS)
    export.add_argument("--since", type=_date, help="only rows created on or after this date")
    export.add_argument(
        "--format",
        choices=["csv", "jsonl", "promptfoo"],
        help="default csv (jsonl for corrections; promptfoo for regressions, which takes promptfoo|jsonl)",
    )
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.add_argument(
        "--raw",
        action="store_true",
        help="CSV: write cells as stored (formula-like cells are defused by default)",
    )

    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade", "current"])

    config = sub.add_parser("config", help="configuration")
    config.add_argument("action", choices=["check"])
    config.add_argument("--file", help="config file (default $AUDITBOT_CONFIG or ./auditbot.toml)")

    judge = sub.add_parser("judge", help="run the AI judge on a day's replies; `eval FILE`; `report`")
    judge.add_argument("--date", type=_date, help="the day whose replies to judge (default yesterday)")
    judge.add_argument("--limit", type=int, help="judge at most N replies")
    judge.add_argument("--dry-run", action="store_true", help="say what would be judged and show a request")
    actions = judge.add_subparsers(dest="judge_action", metavar="ACTION")
    evaluate = actions.add_parser("eval", help="agreement with a labelled JSONL file (nothing stored)")
    evaluate.add_argument("file", help="reply records with labels: {criterion: pass|fail}")
    evaluate.add_argument("--limit", type=int, help="at most N records")
    report = actions.add_parser("report", help="agreement with reviewers, per criterion")
    report.add_argument("--week", type=_week, help="replies reviewed in this ISO week (default: all)")
    checks = sub.add_parser("checks", help="each automatic check's volume and measured precision")
    checks.add_argument("--days", type=int, default=7, help="volume over the last N days (default 7)")
    checks.add_argument("--format", choices=["text", "jsonl"], default="text")

    reporting = sub.add_parser("report", help="reports for the team: `report segments`")
    reports = reporting.add_subparsers(dest="report", required=True, metavar="REPORT")
    by_segment = reports.add_parser("segments", help="estimated defect rate per segment, with 95% intervals")
    by_segment.add_argument("--week", type=_week, help="ISO week like 2026-W48 (default: last week)")
    by_segment.add_argument("--by", choices=SEGMENT_DIMENSIONS, help="one dimension (default: all)")
    by_segment.add_argument("--format", choices=["text", "jsonl"], default="text")

    manifest = sub.add_parser("manifest", help="print the Slack app manifest")
    manifest.add_argument("--http-url", help="public base URL: HTTP mode instead of Socket Mode")
    return parser


# Libraries that log request bodies or SQL parameters (customer text) at DEBUG: never below INFO.
BODY_LOGGERS = (
    *("auditbot.bolt", "slack_sdk", "slack_bolt", "httpx", "httpcore", "aiosqlite", "asyncpg"),
    *("openai", "httpx2"),  # the judge's SDK logs request bodies (customer text) at DEBUG
    "sqlalchemy.engine",  # at DEBUG it logs result rows; parameters are hidden by the engine
)


def quiet_logs(verbose: bool) -> None:
    """Without -v only warnings from libraries; with -v our DEBUG, and SQL without its parameters."""
    for name in BODY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


def resolve(name: str) -> Command:
    module, _, func = COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_logs(args.verbose)
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
    except Failure as exc:
        print(f"auditbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader stopped early (`auditbot … | head`): not a failure; keep the interpreter from
        # complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
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
