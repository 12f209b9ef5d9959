"""`auditbot` as a real process against the fakes: its environment, its log, its signals.

Waits are bounded and poll for a condition (the port answering, a log line, a connection in the
fake); nothing here sleeps to let something happen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import REPO, SIGNING_SECRET
from tests.fakes.slack_api import FakeSlack

_days = itertools.count()  # each seeding gets a batch of its own day (one batch per channel and day)
STARTUP_DEADLINE_S = 30
STOP_DEADLINE_S = 30  # what platforms give a process between SIGTERM and SIGKILL

TEAM_CONFIG = """\
[slack]
audit_channel = "C0AUDIT"
defects_channel = "C0DEFECTS"
digest_channel = "C0DIGEST"
reviewers = ["U0REV1", "U0REV2"]
admins = ["U0ADMIN", "U0ADMIN2"]
timezone = "UTC"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(fake: FakeSlack, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of an `auditbot` process pointed at the fake Slack and `database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AUDITBOT_"))}
    env.update(
        SLACK_API_URL=fake.url,
        SLACK_BOT_TOKEN=fake.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        DATABASE_URL=database_url,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def write_config(directory: Path, text: str = TEAM_CONFIG) -> str:
    path = directory / "auditbot.toml"
    path.write_text(text)
    return str(path)


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`auditbot ARGS` to its end."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_bench(
    name: str, *args: str, database_url: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`python bench/NAME ARGS --database-url URL` from the repository, to its end."""
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / name), *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


class Bot:
    """A running `auditbot` process; its merged stdout/stderr is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.port = int(env.get("PORT") or 0)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return "\n".join(self.lines)

    async def until(
        self, condition: Callable[[], object], what: str, timeout: float = STARTUP_DEADLINE_S
    ) -> None:
        """Poll `condition` until it holds; fail (with the log) if the process ends or time is up."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"auditbot exited {self.proc.returncode} before {what}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log()}")
            await asyncio.sleep(0.02)

    async def logged(self, text: str, timeout: float = STARTUP_DEADLINE_S) -> None:
        await self.until(lambda: any(text in line for line in self.lines), f"the log line {text!r}", timeout)

    async def listening(self) -> None:
        """Until /healthz answers."""

        def answers() -> bool:
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code in (200, 503)
            except httpx.TransportError:
                return False

        await self.until(answers, "the HTTP port")

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_DEADLINE_S) -> float:
        """Send `signum`; the seconds the process took to exit (fail past `timeout`)."""
        started = time.monotonic()
        self.proc.send_signal(signum)
        while self.proc.poll() is None:
            if time.monotonic() - started > timeout:
                self.proc.kill()
                raise AssertionError(f"auditbot did not exit within {timeout} s:\n{self.log()}")
            await asyncio.sleep(0.02)
        self._reader.join(5)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)


async def posted_items(fake: FakeSlack, database_url: str, count: int, **kw: object) -> list[int]:
    """`count` sample items whose messages exist in the fake's audit channel (ids returned)."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.core.db import Database
    from tests.bot.seed_reviews import seed_items

    client = AsyncWebClient(token=fake.token, base_url=fake.url)
    stamps = [
        (await client.chat_postMessage(channel="C0AUDIT", text=f"item {n}"))["ts"] for n in range(count)
    ]
    db = Database(database_url)
    day = dt.date(2026, 1, 1) + dt.timedelta(days=next(_days))
    try:
        return await seed_items(db, count, message_ts=stamps, day=day, **kw)  # type: ignore[arg-type]
    finally:
        await db.dispose()


async def count_rows(database_url: str, table: str, where: str = "") -> int:
    """SELECT count(*) from `table` in the database the process uses."""
    import sqlalchemy as sa

    from bot.core.db import Database

    db = Database(database_url)
    try:
        async with db.session() as session:
            sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
            return int((await session.execute(sa.text(sql))).scalar_one())
    finally:
        await db.dispose()


async def message_ts(database_url: str, item_id: int) -> str:
    """The ts of a sample item's message."""
    import sqlalchemy as sa

    from bot.core.db import Database
    from bot.core.models import SampleItem

    db = Database(database_url)
    try:
        async with db.session() as session:
            stmt = sa.select(SampleItem.message_ts).where(SampleItem.id == item_id)
            return str((await session.execute(stmt)).scalar_one())
    finally:
        await db.dispose()
