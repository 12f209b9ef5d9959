"""`auditbot import PATH|-`: stream a JSONL or CSV export into the database, reporting bad lines.

Exit 0 when at least one record was good (imported now or already present: re-importing the same
file is not an error) or the input was empty; 2 when the input cannot be read or every line was
rejected; 1 when the database fails (batches committed before the failure stay).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

import orjson

from bot.cli.env import CliEnv, Failure, UsageError
from bot.ingest.pipeline import Batches, Transactions, frozen_heap
from bot.ingest.rows import Checks, Preparer
from integrations.jsonl import Format, InputError, Reject

if TYPE_CHECKING:  # imported once the worker runs: loading SQLAlchemy takes a while
    pass

PRINT_REJECTS = 50  # on the terminal; the rejects file always gets all of them
STDIN_REJECTS = Path("stdin.rejects.jsonl")


async def command_import(args: argparse.Namespace, env: CliEnv) -> int:
    source = args.source or "import"
    fmt: Format = args.format or ("csv" if args.path.lower().endswith(".csv") else "jsonl")
    stream, total, rejects_path = _open(args.path)
    label = "stdin" if args.path == "-" else args.path
    show = not args.no_progress and sys.stderr.isatty()
    progress = Progress(sys.stderr, total) if show else None
    rejects = Rejects(rejects_path, label)
    read = 0
    batches: Batches | None = None
    try:
        checks = Checks.from_config(env.config.detectors)
        sqlite = env.settings.database_url.partition(":")[0].partition("+")[0] == "sqlite"
        # Rows as text on both databases: SQLite stores that, PostgreSQL's COPY path stages it.
        preparer = Preparer(checks.detector, default_source=source, as_text=True)
        batches = Batches(stream, fmt, preparer, env.clock)
        # Forked before the database opens its driver thread, and before the database code
        # loads: the worker starts on the input meanwhile.
        batches.start()
        from bot.ingest.store import IngestResult, store_prepared

        totals = IngestResult()
        db = await env.database()
        with frozen_heap():
            async with Transactions(db, sqlite) as transactions:
                async for batch, now, position in batches:
                    read += batch.lines
                    for reject in batch.rejects:
                        if progress:
                            progress.clear()
                        rejects.add(reject)
                    if batch.rows:
                        session = await transactions.session()
                        totals.add(await store_prepared(session, batch, checks=checks, now=now))
                        await transactions.done(len(batch.rows))
                    if progress:
                        progress.show(position, read)
    except OSError as exc:
        if is_disk_full(exc):
            raise Failure(_stopped(label, read, "the disk is full")) from exc
        raise UsageError(f"{label}: cannot read: {exc.strerror or exc}") from exc
    except InputError as exc:
        raise UsageError(f"{label}: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.partition(".")[0] not in ("sqlalchemy", "asyncpg", "sqlite3", "aiosqlite"):
            raise
        from bot.core.db import describe_failure

        raise Failure(_stopped(label, read, describe_failure(exc))) from exc
    finally:
        if batches:
            batches.close()
        if progress:
            progress.clear()
        rejects.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    print(
        f"read {read}, imported {totals.imported}, already present {totals.already_present}, "
        f"rejected {rejects.count}"
    )
    if rejects.count:
        print(f"rejected lines written to {rejects_path}", file=sys.stderr)
    if rejects.count and not totals.received:
        print(f"auditbot: {label}: every line was rejected", file=sys.stderr)
        return 2
    return 0


def _stopped(label: str, read: int, why: str) -> str:
    return (
        f"{label}: the import stopped while storing lines up to {read:,}: {why}. The transaction in "
        "progress was rolled back (no half batch is stored); what was committed before it stays, and "
        "importing the same input again skips it."
    )


def is_disk_full(exc: BaseException) -> bool:
    from bot.core.db import is_disk_full as full

    return full(exc)


def _open(path: str) -> tuple[BinaryIO, int | None, Path]:
    """The input stream, its size when known, and where its rejects go."""
    if path == "-":
        return sys.stdin.buffer, None, STDIN_REJECTS
    file = Path(path)
    try:
        stream = file.open("rb")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not file.is_file():
        stream.close()
        raise UsageError(f"{path}: not a regular file")
    return stream, file.stat().st_size, file.with_name(file.name + ".rejects.jsonl")


class Rejects:
    """Every rejected line to the rejects file; the first few to stderr as PATH:LINE: reason."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label
        self.count = 0
        self._file: BinaryIO | None = None

    def add(self, reject: Reject) -> None:
        self.count += 1
        if self._file is None:
            self._file = self.path.open("wb")  # a new import replaces the last one's rejects
        record = {"line": reject.line, "reason": reject.reason, "raw": reject.raw}
        self._file.write(orjson.dumps(record) + b"\n")
        if self.count <= PRINT_REJECTS:
            print(f"{self.label}:{reject.line}: {reject.reason}", file=sys.stderr)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        elif self.path.exists():
            self.path.unlink()  # a stale file from an earlier run would describe the wrong input
        if self.count > PRINT_REJECTS:
            print(f"… and {self.count - PRINT_REJECTS} more (all in {self.path})", file=sys.stderr)


class Progress:
    """One self-overwriting line on a terminal: bytes read of the total, and records."""

    def __init__(self, out: TextIO, total: int | None) -> None:
        self.out = out
        self.total = total
        self.started = time.monotonic()
        self._shown = False

    def show(self, done: int, records: int) -> None:
        mb = done / 1e6
        if self.total:
            share = done / self.total
            text = f"importing: {mb:.1f} / {self.total / 1e6:.1f} MB ({share:.0%}), {records} records"
        else:
            text = f"importing: {mb:.1f} MB, {records} records"
        rate = records / max(time.monotonic() - self.started, 1e-6)
        self.out.write(f"\r{text}, {rate:,.0f}/s ")
        self.out.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._shown = False
