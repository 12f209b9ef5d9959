"""What the process benchmarks share (bench/ack.py, bench/webhook.py): servers in child processes,
the fake Slack in its own process, a scratch database, the auditbot process's environment, quantiles.

Run as a script, this module is the fake Slack process (`FakeSlackProcess` starts it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

# Clients keep idle connections for less than uvicorn's timeout_keep_alive (5 s), so they never send
# on a connection the server is closing: that request is reset, and httpx does not resend a POST
# (ReadError). With httpx's default (also 5 s) a few requests in ten thousand were lost that way.
KEEPALIVE_S = 2.0

from bot.core.db import create_engine  # noqa: E402

GENERATOR = Path(os.environ.get("AUDITBOT_SHARED", REPO.parent / "shared")) / "tools" / "gen_replies.py"
START_TIMEOUT = 60.0
BOT_TOKEN = "xoxb-test-token"
CONFIG = """
[slack]
audit_channel = "C0AUDIT"
reviewers = ["U0REV1"]
timezone = "Europe/Berlin"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def generate(n: int, workdir: Path) -> Path:
    out = workdir / "generated"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--plain", "-n", str(n), "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out / "replies.jsonl"


# -- processes -----------------------------------------------------------------------------------


class Server:
    """A server subprocess on a loopback port; stderr goes to a file shown if it fails."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        port: int,
        workdir: Path,
        path: str = "/slack/events",
    ) -> None:
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}{path}"
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, env=env, cwd=workdir, stdout=log, stderr=log)

    async def ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"http://127.0.0.1:{self.port}/healthz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start:\n{self.tail()}")
                await asyncio.sleep(0.1)

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the server has used; 0 where /proc is missing."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly (a profiler writes out)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def auditbot_env(url: str, slack_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of an auditbot process on `url`, the fake Slack and CONFIG, plus `extra`."""
    from tests.fakes.signing import TEST_SIGNING_SECRET

    (workdir / "auditbot.toml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AUDITBOT_", "DATABASE_"))}
    env.update(
        PYTHONPATH=str(REPO),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=TEST_SIGNING_SECRET,
        SLACK_API_URL=slack_url,
        DATABASE_URL=url,
        AUDITBOT_CONFIG=str(workdir / "auditbot.toml"),
    )
    env.update(extra)
    return env


def auditbot_server(env: dict[str, str], workdir: Path, *, wrap: str | None, path: str) -> Server:
    """`auditbot run --http --no-scheduler` on a free port, `wrap` (a profiler, say) before it."""
    port = free_port()
    run = [sys.executable, "-m", "bot.cli", "run", "--http", "--no-scheduler", "--host", "127.0.0.1"]
    argv = [*shlex.split(wrap or ""), *run, "--port", str(port)]
    return Server("auditbot", argv, env, port, workdir, path)


def serve_fake_slack() -> int:
    """Fake Slack in this process: prints its URL, answers "updates" with the chat.update count."""
    from tests.fakes.slack_api import FakeSlack

    with FakeSlack() as fake:
        print(fake.url, flush=True)
        for line in sys.stdin:  # until the bench closes our stdin
            if line.strip() == "updates":
                print(len(fake.calls("chat.update")), flush=True)
    return 0


class FakeSlackProcess:
    """The fake Slack Web API in a child process (this module run as a script), asked over its stdin."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url:
            raise RuntimeError("fake Slack did not start")

    def updates(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("updates\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


# -- database ------------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(url: str | None) -> Iterator[str]:
    """A temporary SQLite file, or a PostgreSQL database created next to `url` and dropped after."""
    if not url or make_url(url).get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="auditbot-bench-") as tmp:
            yield url or f"sqlite:///{tmp}/bench.db"
        return
    base = make_url(url)
    name = f"auditbot_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        engine = create_engine(str(base.render_as_string(hide_password=False)), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(sa.text(sql))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    sys.exit(serve_fake_slack())


def bench_main(
    args: argparse.Namespace,
    serve_bare: Callable[[int, str], int],
    measure: Callable[[argparse.Namespace, str, FakeSlackProcess, Path], Awaitable[int]],
) -> int:
    """A process bench's entry point: the bare server when this process is asked to be it, else
    the fake Slack in its own process, a scratch database and the measurement."""
    if args.serve_bare:
        return serve_bare(int(args.serve_bare[0]), args.serve_bare[1])
    fake = FakeSlackProcess()
    try:
        with scratch_database(args.database_url) as url, tempfile.TemporaryDirectory() as tmp:
            return asyncio.run(measure(args, url, fake, Path(tmp)))
    finally:
        fake.stop()
