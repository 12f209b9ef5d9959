"""The bulk import pipeline: a forked worker parses and checks batches while the main process stores them.

The worker reads the input itself (file or stdin), builds rows and per-reply findings, and sends
packed batches down a pipe (marshal for rows, the rest pickled without a memo); the main process
stores each batch in transactions of COMMIT_ROWS rows. Nothing here loads SQLAlchemy at import:
the worker is forked before the database code loads.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import gc
import io
import marshal
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager, suppress
from itertools import chain, islice
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, BinaryIO, NoReturn

from bot.core.clock import Clock
from bot.ingest.rows import Prepared, Preparer
from integrations.jsonl import Format, read_batches

if TYPE_CHECKING:  # imported once the worker runs: loading SQLAlchemy takes a while
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.core.db import Database

BATCH_LINES = 2000  # JSONL lines per batch (and per transaction on PostgreSQL)
BATCH_BYTES = 2 << 20  # a batch ends early at this much input: long lines make fewer per batch
COMMIT_ROWS = 20_000
SQLITE_CACHE_KB = 32_768


class Transactions:
    """On SQLite, one transaction per COMMIT_ROWS rows: fewer, larger commits write each index
    page less often. On PostgreSQL, one per batch: its one insert takes the new keys in key order
    (bot.ingest.staging), so a transaction that holds no other keys cannot deadlock with another
    import's, and PostgreSQL's commits cost little.

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
                from sqlalchemy import text

                await self._session.execute(text(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}"))
        return self._session

    async def done(self, rows: int) -> None:
        self._rows += rows
        if self._rows >= COMMIT_ROWS or not self._sqlite:
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
WORKER_AHEAD = 5  # packed batches (~1.1 MB each) the worker may queue for sending
PIPE_BYTES = 1 << 20  # kernel buffer between the worker and the main process (Linux): about one batch
# The worker's collector: the default (700, 10, 10) collects several times per batch, walking
# rows that live until the batch is sent; an import makes no cyclic garbage to speak of.
WORKER_GC_THRESHOLD = (20_000, 10, 10)


class Batches:
    """Prepared batches in input order. JSONL larger than one batch goes through a forked worker
    process that reads the rest of the input itself, parses and validates it, runs the per-reply
    detectors and sends each batch down a pipe while the main process writes the previous ones.

    The main process receives and unpacks each batch in its own thread, between database calls:
    a second busy Python thread would make SQLite's per-row GIL hand-offs wait their turn.
    """

    def __init__(self, stream: BinaryIO, fmt: Format, preparer: Preparer, clock: Clock) -> None:
        self._stream = stream
        self._fmt = fmt
        self._preparer = preparer
        self._clock = clock
        self._ahead: list[tuple[list[bytes], int]] = []
        self._worker: int | None = None  # its pid
        self._pipe: Connection | None = None

    def start(self) -> None:
        """Read ahead and fork the worker if there is more than one batch."""
        if self._fmt != "jsonl":
            return
        chunks = _chunks(self._stream)
        self._ahead = list(islice(chunks, 2))
        if len(self._ahead) < 2:
            return
        sys.stdout.flush()  # a forked child must not write out the parent's buffered output again
        sys.stderr.flush()
        read_fd, write_fd = os.pipe()
        with suppress(OSError):  # a larger pipe lets the worker run a batch or two ahead
            fcntl.fcntl(write_fd, F_SETPIPE_SZ, PIPE_BYTES)
        pid = os.fork()
        if pid == 0:  # the worker, which never returns from here
            os.close(read_fd)
            _work(
                Connection(write_fd, readable=False), chain(self._ahead, chunks), self._preparer, self._clock
            )
        os.close(write_fd)
        self._worker, self._pipe, self._ahead = pid, Connection(read_fd, writable=False), []

    async def __aiter__(self) -> AsyncIterator[Item]:
        if self._fmt == "csv":
            for batch in read_batches(self._stream, fmt="csv", default_source=self._preparer.default_source):
                now = self._clock.now()
                prepared = self._preparer.records(batch.records, now)
                prepared.rejects, prepared.lines = batch.rejects, batch.lines
                yield prepared, now, batch.bytes_read
        elif self._pipe is None:
            position = 0
            for lines, first in chain(self._ahead, _chunks(self._stream)):
                now = self._clock.now()
                position += sum(map(len, lines))
                yield self._preparer.lines(lines, first, now), now, position
        else:
            while True:
                try:
                    item = _unpack(self._pipe.recv_bytes())
                except EOFError:
                    raise RuntimeError("the import's worker process ended unexpectedly") from None
                if item is None:
                    return
                if isinstance(item, str):
                    raise RuntimeError(f"the import's worker process failed: {item}")
                yield item

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()  # a worker still sending gets EPIPE and ends
            self._pipe = None
        if self._worker is not None:
            with suppress(ProcessLookupError):
                os.kill(self._worker, signal.SIGTERM)
            os.waitpid(self._worker, 0)
            self._worker = None


F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Python 3.10+ on Linux; 1031 is Linux's value


def _work(
    pipe: Connection, chunks: Iterator[tuple[list[bytes], int]], preparer: Preparer, clock: Clock
) -> NoReturn:
    """The worker process's whole life: prepare and send every batch, then None (or the error).

    A thread sends the packed batches, up to WORKER_AHEAD of them queued, so that the main
    process's slower moments (a commit) do not stop the preparing: here no thread competes with
    SQLite, and a blocked write waits without holding the GIL.
    """
    code = 0
    outbox: queue.Queue[bytes | None] = queue.Queue(WORKER_AHEAD)
    broken = threading.Event()

    def send() -> None:
        try:
            while (message := outbox.get()) is not None:
                pipe.send_bytes(message)
        except OSError:  # the main process stopped reading: it has failed or been stopped
            broken.set()

    def put(message: bytes | None) -> None:
        while True:
            if broken.is_set():
                raise BrokenPipeError
            try:
                outbox.put(message, timeout=0.1)  # to notice a sender that has stopped
                return
            except queue.Full:
                continue

    sender = threading.Thread(target=send, name="auditbot-import-sender", daemon=True)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # The heap inherited from the parent is never garbage (and walking it would copy its pages).
        gc.freeze()
        gc.set_threshold(*WORKER_GC_THRESHOLD)
        sender.start()
        position = 0
        for lines, first in chunks:
            now = clock.now()
            position += sum(map(len, lines))
            put(_pack(preparer.lines(lines, first, now), now, position))
        put(pickle.dumps(None))
    except BrokenPipeError:
        code = 1
    except BaseException as exc:  # reported to the main process, which fails with it
        code = 1
        with suppress(BrokenPipeError):
            put(pickle.dumps(f"{type(exc).__name__}: {exc}"))
    finally:
        with suppress(BrokenPipeError):
            put(None)
        if sender.is_alive():
            sender.join()
        os._exit(code if not broken.is_set() else 1)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the collector from walking again and again what is loaded by now (the code, the
    settings, SQLAlchemy): it lives as long as the import."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _pack(batch: Prepared, now: dt.datetime, position: int) -> bytes:
    """A batch as bytes for the pipe. Rows as text hold only str, int, bool and None: they go
    with marshal, which the main process reads back faster than pickle (rows of Python values
    hold datetimes, and are pickled). The rest is pickled without a memo: little in it repeats."""
    rows: bytes | None = None
    with suppress(ValueError):  # "unmarshallable object"
        rows, batch.rows = marshal.dumps(batch.rows), []
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.fast = True
    pickler.dump((rows, batch, now, position))
    return out.getvalue()


def _unpack(message: bytes) -> Item | str | None:
    item = pickle.loads(message)
    if isinstance(item, tuple):
        rows, batch, now, position = item
        if rows is not None:
            batch.rows = marshal.loads(rows)
        return batch, now, position
    return item  # None at the end, or the worker's error


def _chunks(stream: BinaryIO) -> Iterator[tuple[list[bytes], int]]:
    """Lines (with their ends) in batches of BATCH_LINES, or fewer where they reach BATCH_BYTES,
    and the first one's number."""
    number, part, size = 1, [], 0
    for line in stream:
        part.append(line)
        size += len(line)
        if len(part) == BATCH_LINES or size >= BATCH_BYTES:
            yield part, number
            number += len(part)
            part, size = [], 0
    if part:
        yield part, number
