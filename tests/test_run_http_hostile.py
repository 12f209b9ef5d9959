"""`auditbot run --http` as a real process under hostile requests: statuses, peak memory, /healthz, logs.

Peak memory is the process's own high-water mark (VmHWM in /proc/PID/status), read before and
after six concurrent 50 MB bodies; the bound is on its growth, so it does not depend on timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.core.db import Database
from tests.conftest import SIGNING_SECRET, fresh_database_url
from tests.fakes.slack_api import FakeSlack
from tests.processes import STARTUP_DEADLINE_S
from tests.processes import bot_env as _bot_env
from tests.processes import free_port as _free_port
from tests.processes import run_cli as _auditbot

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")

INGEST_SECRET = "hostile-ingest-secret"
JIRA_SECRET = "hostile-jira-secret"
BIG = 50 * 1000 * 1000
CONCURRENT = 6
GROWTH_LIMIT_KB = 20 * 1024
CUSTOMER_TEXT = "Dana-Secretname"  # in every body sent: must never reach the log


def _wait_until_listening(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"auditbot exited {proc.returncode}")
        try:
            httpx.get(base + "/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)  # waiting for the port to open, not for a result
    raise AssertionError("auditbot did not start listening")


@dataclass
class Bot:
    base: str
    port: int
    pid: int
    log: Path
    database_url: str

    def peak_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """One bot for the module, with /ingest and the Jira webhook enabled and a runaway team rule."""
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "auditbot.toml").write_text('[[detectors.rules]]\nname = "runaway"\npattern = "(a+)+$"\n')
    url = fresh_database_url(tmp_path_factory.mktemp("db"))
    with FakeSlack() as fake:
        env = _bot_env(fake, url)
        env.update(
            INGEST_SECRET=INGEST_SECRET,
            JIRA_WEBHOOK_SECRET=JIRA_SECRET,
            AUDITBOT_CONFIG=str(tmp / "auditbot.toml"),
        )
        upgraded = _auditbot("db", "upgrade", env=env, cwd=tmp)
        assert upgraded.returncode == 0, upgraded.stderr
        port = _free_port()
        env["PORT"] = str(port)
        log = tmp / "auditbot.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", "--http", "--host", "127.0.0.1", "--no-scheduler"],
                env=env,
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_listening(base, proc)
            yield Bot(base, port, proc.pid, log, url)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert CUSTOMER_TEXT not in text, "customer text was logged"


def _ingest_headers(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(INGEST_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Auditbot-Timestamp": ts,
        "X-Auditbot-Signature": f"sha256={sig}",
        "Content-Type": "application/json",
    }


async def _raw_post(port: int, path: str, headers: dict[str, str], size: int, chunked: bool) -> int:
    """POST `size` bytes, declared or chunked, and return the status, whenever the server answers
    (an early answer stops the sending: the server need not read what it refused)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nHost: auditbot\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {size}\r\n"
    writer.write(head.encode() + b"\r\n")
    chunk = (CUSTOMER_TEXT.encode() + b" ") * 4096

    async def send() -> None:
        sent = 0
        while sent < size:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            await writer.drain()
            sent += len(chunk)
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        status = await asyncio.wait_for(reader.readline(), timeout=120)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)  # a reset connection ends the sending
        writer.close()
    return int(status.split()[1])


SIGNATURES = {
    "/slack/events": {"X-Slack-Request-Timestamp": "NOW", "X-Slack-Signature": "v0=" + "0" * 64},
    "/ingest": {"X-Auditbot-Timestamp": "NOW", "X-Auditbot-Signature": "sha256=" + "0" * 64},
    "/webhooks/jira": {"X-Hub-Signature": "sha256=" + "0" * 64},
}


@pytest.mark.parametrize("path", list(SIGNATURES))
async def test_six_concurrent_50mb_bodies_grow_the_process_by_under_20mb(bot: Bot, path: str) -> None:
    """Findings 3–5: refused by the declared size (413) or the missing signature (401) before a byte
    is read; a streamed body with a forged signature is read only up to the limit (413)."""
    forged = {k: str(int(time.time())) if v == "NOW" else v for k, v in SIGNATURES[path].items()}
    cases = [({}, False, 413), ({}, True, 401), (forged, False, 413), (forged, True, 413)]
    for headers, chunked, _ in cases:  # warm up: the same code paths once, small
        await _raw_post(bot.port, path, headers, 2_000_000, chunked)
    before, rows = bot.peak_kb(), await _rows(bot)
    for headers, chunked, status in cases:
        statuses = await asyncio.gather(
            *(_raw_post(bot.port, path, headers, BIG, chunked) for _ in range(CONCURRENT))
        )
        assert statuses == [status] * CONCURRENT, (headers, chunked)
    growth = bot.peak_kb() - before
    print(f"{path}: peak RSS growth {growth} KB over {len(cases)} rounds of {CONCURRENT} x 50 MB")
    assert growth < GROWTH_LIMIT_KB
    assert await _rows(bot) == rows  # nothing written
    async with httpx.AsyncClient(base_url=bot.base) as http:
        assert (await http.get("/healthz")).status_code == 200


async def _rows(bot: Bot) -> dict[str, int]:
    db = Database(bot.database_url)
    try:
        async with db.session() as session:
            tables = ("replies", "findings", "reviews", "outbox", "seen_events")
            return {
                t: (await session.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in tables
            }
    finally:
        await db.dispose()


async def test_a_signed_array_of_zeros_is_refused_with_a_short_answer_and_healthz_answers(bot: Bot) -> None:
    """Finding 3: a signed 5 MB array of 2.6 M zeros was a 230 MB answer and a 1.44 GB peak."""
    zeros = b"[" + b",".join([b"0"] * 2_600_000) + b"]"
    before, rows = bot.peak_kb(), await _rows(bot)
    async with httpx.AsyncClient(base_url=bot.base, timeout=120) as http:
        request = asyncio.create_task(http.post("/ingest", content=zeros, headers=_ingest_headers(zeros)))
        health = []
        while not request.done():
            health.append((await http.get("/healthz")).status_code)
            await asyncio.sleep(0.02)
        response = await request
    growth = bot.peak_kb() - before
    print(
        f"zeros: answer {len(response.content)} bytes, peak RSS growth {growth} KB, /healthz x{len(health)}"
    )
    assert response.status_code == 413 and len(response.content) < 200
    assert "2600000 records in one request" in response.json()["error"]
    assert health and set(health) == {200}
    assert await _rows(bot) == rows
    assert growth < 150 * 1024  # parsing the array once; the answer and the errors no longer grow with it


async def test_a_12_byte_unsigned_body_is_401(bot: Bot) -> None:
    """Finding 4: an unsigned body that is not JSON was a 500 and a 60-line traceback in the log."""
    async with httpx.AsyncClient(base_url=bot.base) as http:
        response = await http.post("/slack/events", content=b"{not json!!}")
    assert response.status_code == 401
    # the module's teardown reads the whole log: no traceback, no customer text


async def test_a_runaway_team_rule_cannot_stall_the_bot(bot: Bot) -> None:
    """Finding 7: `(a+)+$` on 40 `a`s and `!` froze /ingest and /healthz (only SIGKILL ended it)."""
    items = [
        {"id": "RUN-1", "ticket_id": "T-1", "created_at": "2026-11-26T10:00:00Z", "reply": "a" * 40 + "!"},
        {"id": "RUN-2", "ticket_id": "T-2", "created_at": "2026-11-26T10:00:00Z", "reply": "a" * 40},
    ]
    body = json.dumps(items).encode()
    async with httpx.AsyncClient(base_url=bot.base, timeout=60) as http:
        response, health = await asyncio.gather(
            http.post("/ingest", content=body, headers=_ingest_headers(body)), http.get("/healthz")
        )
    assert response.status_code == 202 and response.json()["imported"] == 2
    assert health.status_code == 200
    db = Database(bot.database_url)
    try:
        async with db.session() as session:
            sql = "SELECT r.external_id, f.kind FROM findings f JOIN replies r ON r.id = f.reply_id"
            found = (await session.execute(sa.text(sql + " WHERE r.external_id LIKE 'RUN-%'"))).all()
    finally:
        await db.dispose()
    assert [tuple(row) for row in found] == [("RUN-2", "rule:runaway")]


def test_the_signing_secret_is_not_logged(bot: Bot) -> None:
    assert SIGNING_SECRET not in bot.log.read_text()
