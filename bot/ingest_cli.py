"""`auditbot import PATH|-`: stream a JSONL or CSV export into the database, reporting bad lines.

Exit 0 when at least one record was good (imported now or already present: re-importing the same
file is not an error) or the input was empty; 2 when the input cannot be read or every line was
rejected; 1 when the database fails (batches committed before the failure stay).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractAsyncContextManager
from itertools import chain, islice
from multiprocessing import get_context
from pathlib import Path
from typing import BinaryIO, TextIO

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import CliEnv, UsageError
from bot.clock import Clock
from bot.db import Database, async_url
from bot.ingest import Checks, IngestResult, store_prepared
from bot.ingest_rows import Prepared, Preparer
from integrations.jsonl import Format, Reject, read_batches

PRINT_REJECTS = 50  # on the terminal; the rejects file always gets all of them
STDIN_REJECTS = Path("stdin.rejects.jsonl")
BATCH_LINES = 2000  # JSONL lines per batch (and per transaction)
READ_BYTES = 1 << 20  # read this much at a time, then cut it into batches
IN_FLIGHT = 3  # batches handed to the worker ahead of the database: overlap, bounded memory
COMMIT_ROWS = 20_000
SQLITE_CACHE_KB = 32_768


async def command_import(args: argparse.Namespace, env: CliEnv) -> int:
    source = args.source or "import"
    fmt: Format = args.format or ("csv" if args.path.lower().endswith(".csv") else "jsonl")
    stream, total, rejects_path = _open(args.path)
    label = "stdin" if args.path == "-" else args.path
    show = not args.no_progress and sys.stderr.isatty()
    progress = Progress(sys.stderr, total) if show else None
    totals = IngestResult()
    rejects = Rejects(rejects_path, label)
    read = 0
    batches: Batches | None = None
    try:
        checks = Checks.from_config(env.config.detectors)
        sqlite = async_url(env.settings.database_url).startswith("sqlite")
        preparer = Preparer(checks.detector, default_source=source, sqlite=sqlite)
        batches = Batches(stream, fmt, preparer, env.clock)
        batches.start()  # before the database opens its driver thread: the worker is forked
        db = await env.database()
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
        raise UsageError(f"{label}: cannot read: {exc.strerror or exc}") from exc
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


class Transactions:
    """One transaction per COMMIT_ROWS rows: fewer, larger commits write each index page less often.

    On a failure the open transaction is rolled back; those committed before it stay.
    """

    def __init__(self, db: Database, sqlite: bool) -> None:
        self._db = db
        self._sqlite = sqlite
        self._open: AbstractAsyncContextManager[AsyncSession] | None = None
        self._session: AsyncSession | None = None
        self._rows = 0

    async def session(self) -> AsyncSession:
        if self._session is None:
            self._open = self._db.transaction()
            self._session = await self._open.__aenter__()
            if self._sqlite:  # a larger page cache for this connection's bulk writes (default 2 MB)
                await self._session.execute(sa.text(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}"))
        return self._session

    async def done(self, rows: int) -> None:
        self._rows += rows
        if self._rows >= COMMIT_ROWS:
            await self._end(None)

    async def _end(self, exc: BaseException | None) -> None:
        if self._open is not None:
            opened, self._open, self._session, self._rows = self._open, None, None, 0
            await opened.__aexit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)

    async def __aenter__(self) -> Transactions:
        return self

    async def __aexit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        await self._end(exc)


Item = tuple[Prepared, dt.datetime, int]  # a batch, its time of import, input bytes read after it


class Batches:
    """Prepared batches in input order; JSONL goes through a worker process when it is larger
    than one batch, so parsing and detectors run while the main process writes to the database.
    """

    def __init__(self, stream: BinaryIO, fmt: Format, preparer: Preparer, clock: Clock) -> None:
        self._stream = stream
        self._fmt = fmt
        self._preparer = preparer
        self._clock = clock
        self._chunks: Iterator[tuple[list[bytes], int]] = iter(())
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[tuple[Future[Prepared], dt.datetime, int]] = deque()
        self._position = 0

    def start(self) -> None:
        """Read ahead and start the worker if there is more than one batch."""
        if self._fmt != "jsonl":
            return
        self._chunks = _chunks(self._stream)
        ahead = list(islice(self._chunks, 2))
        self._chunks = chain(ahead, self._chunks)
        if len(ahead) < 2:
            return
        sys.stdout.flush()  # a forked child must not write out the parent's buffered output again
        sys.stderr.flush()
        self._pool = ProcessPoolExecutor(
            1, mp_context=get_context("fork"), initializer=_start_worker, initargs=(self._preparer,)
        )
        for _ in range(IN_FLIGHT):
            if not self._submit():
                break

    def _submit(self) -> bool:
        assert self._pool is not None
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        lines, first = chunk
        now = self._clock.now()
        self._position += sum(map(len, lines))
        self._pending.append((self._pool.submit(_prepare, lines, first, now), now, self._position))
        return True

    async def __aiter__(self) -> AsyncIterator[Item]:
        if self._fmt == "csv":
            for batch in read_batches(self._stream, fmt="csv", default_source=self._preparer.default_source):
                now = self._clock.now()
                prepared = self._preparer.records(batch.records, now)
                prepared.rejects, prepared.lines = batch.rejects, batch.lines
                yield prepared, now, batch.bytes_read
        elif self._pool is None:
            for lines, first in self._chunks:
                now = self._clock.now()
                self._position += sum(map(len, lines))
                yield self._preparer.lines(lines, first, now), now, self._position
        else:
            while self._pending:
                future, now, position = self._pending.popleft()
                prepared = await asyncio.wrap_future(future)
                self._submit()
                yield prepared, now, position

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _chunks(stream: BinaryIO) -> Iterator[tuple[list[bytes], int]]:
    """Lines (with their ends) in batches of at most BATCH_LINES, and the first one's number."""
    number = 1
    while lines := stream.readlines(READ_BYTES):
        for start in range(0, len(lines), BATCH_LINES):
            part = lines[start : start + BATCH_LINES]
            yield part, number
            number += len(part)


_worker: Preparer | None = None


def _start_worker(preparer: Preparer) -> None:
    global _worker
    _worker = preparer
    # The heap inherited from the parent is never garbage: keep the collector from walking it
    # again and again (and from copying its pages) while the batches come and go.
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle


def _prepare(lines: list[bytes], first: int, now: dt.datetime) -> Prepared:
    assert _worker is not None
    return _worker.lines(lines, first, now)


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
