"""Time to the ack for signed button clicks: the real app against a bare Bolt app that only acks.

usage: python bench/ack.py [--clicks 1000] [--concurrency 20] [--database-url URL] [--strict]

Both apps run under a real uvicorn server on loopback (each in its own thread and event loop),
with the fake Slack Web API on loopback too. Clicks alternate between the two apps in rounds so
drift hits both alike; after each round of the real app we wait for its listeners to store the
verdicts, so its after-ack work does not slow the bare app's next round. Prints p50/p99 for both
and the p99 ratio (target ≤ 1.5). Exits 1 if a verdict is missing, or with --strict if the
target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.routing import Route

from bot.app import build_app, build_client
from bot.config import AuditConfig, Settings
from bot.db import Database
from bot.models import Review
from bot.views import ids
from bot.web import build_web
from tests.bot.seed_reviews import seed_items
from tests.fakes.signing import TEST_SIGNING_SECRET, block_actions_payload, interaction_body, sign
from tests.fakes.slack_api import FakeSlack

TARGET = 1.5
ROUNDS = 10
WARMUP = 40
STORE_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """An ASGI app under uvicorn on a loopback port, in a thread with its own event loop."""

    def __init__(self, make_app) -> None:  # type: ignore[no-untyped-def]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self._make_app = make_app
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        config = uvicorn.Config(
            self._make_app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=120,  # a loaded machine must not close a connection mid-round
        )
        self.server = uvicorn.Server(config)
        self.server.run()

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not (self.server and self.server.started):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.should_exit = True
        self.thread.join(timeout=20)


def bare_app(fake: FakeSlack):  # type: ignore[no-untyped-def]
    """The floor: Bolt with the same signature check and authorization, a listener that only acks."""
    app = AsyncApp(
        signing_secret=TEST_SIGNING_SECRET,
        client=AsyncWebClient(token=fake.token, base_url=fake.url),
    )

    async def only_ack(ack) -> None:  # type: ignore[no-untyped-def]
        await ack()

    app.action(re.compile(".*"))(only_ack)
    handler = AsyncSlackRequestHandler(app)

    async def endpoint(request):  # type: ignore[no-untyped-def]
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])


def bodies(item_ids: list[int]) -> list[bytes]:
    return [
        interaction_body(block_actions_payload(ids.VERDICT_CORRECT, str(i), user_id="U0REV1"))
        for i in item_ids
    ]


async def fire(url: str, payloads: list[bytes], concurrency: int) -> list[float]:
    """POST each signed click, at most `concurrency` in flight; seconds to each (ack) response."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(body: bytes) -> float:
            async with gate:
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                headers.update(sign(body, TEST_SIGNING_SECRET, int(time.time())))
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")
                return elapsed

        return list(await asyncio.gather(*(one(b) for b in payloads)))


async def stored(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(sa.select(sa.func.count()).select_from(Review))).scalar_one())


async def wait_stored(db: Database, expected: int) -> None:
    deadline = time.monotonic() + STORE_TIMEOUT
    while await stored(db) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {await stored(db)} of {expected} verdicts stored")
        await asyncio.sleep(0.05)


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


async def main(args: argparse.Namespace) -> int:
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='auditbot-bench-')}/bench.db"
    config = AuditConfig.model_validate(
        {"slack": {"audit_channel": "C0AUDIT", "reviewers": ["U0REV1"], "timezone": "Europe/Berlin"}}
    )
    with FakeSlack() as fake:
        settings = Settings(
            _env_file=None,
            slack_bot_token=fake.token,
            slack_signing_secret=TEST_SIGNING_SECRET,
            slack_api_url=fake.url,
            database_url=url,
        )
        setup = Database(url)
        await setup.upgrade()
        # Every click is on its own posted item, so every click stores (and edits) one verdict.
        poster = build_client(settings)
        count = args.clicks + WARMUP
        stamps = [(await poster.chat_postMessage(channel="C0AUDIT", text="item"))["ts"] for _ in range(count)]
        items = await seed_items(setup, count, message_ts=stamps)
        await setup.dispose()

        def real_app():  # type: ignore[no-untyped-def]
            # Built inside the server thread so its engine's connections belong to that loop.
            return build_web(build_app(settings, config, Database(url)))

        check = Database(url)
        with Served(real_app) as real, Served(lambda: bare_app(fake)) as bare:
            warm, measured = items[:WARMUP], items[WARMUP:]
            await fire(bare.url, bodies(warm), args.concurrency)
            await fire(real.url, bodies(warm), args.concurrency)
            await wait_stored(check, WARMUP)
            times: dict[str, list[float]] = {"bare": [], "real": []}
            size = -(-len(measured) // ROUNDS)
            done = WARMUP
            for start in range(0, len(measured), size):
                chunk = measured[start : start + size]
                times["bare"] += await fire(bare.url, bodies(chunk), args.concurrency)
                times["real"] += await fire(real.url, bodies(chunk), args.concurrency)
                done += len(chunk)
                await wait_stored(check, done)
            total = await stored(check)
            deadline = time.monotonic() + STORE_TIMEOUT  # the message edit follows the commit
            while len(fake.calls("chat.update")) < total and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            updates = len(fake.calls("chat.update"))
        await check.dispose()

    p50 = {k: quantile(v, 0.50) * 1000 for k, v in times.items()}
    p99 = {k: quantile(v, 0.99) * 1000 for k, v in times.items()}
    ratio = p99["real"] / p99["bare"]
    print(f"{args.clicks} signed clicks per app, concurrency {args.concurrency}, {url.split(':')[0]}")
    print(f"  bare Bolt (ack only): p50 {p50['bare']:7.2f} ms   p99 {p99['bare']:7.2f} ms")
    print(f"  auditbot            : p50 {p50['real']:7.2f} ms   p99 {p99['real']:7.2f} ms")
    p50_ratio = p50["real"] / p50["bare"]
    print(f"  ratio               : p50 {p50_ratio:.2f}x   p99 {ratio:.2f}x (target <= {TARGET}x)")
    print(f"  verdicts stored     : {total} of {count} clicks; item messages edited: {updates}")
    if total != count:
        print("FAIL: not every click stored its verdict")
        return 1
    if ratio > TARGET:
        print(f"MISS: p99 ratio {ratio:.2f}x is above the {TARGET}x target")
        return 1 if args.strict else 0
    print("OK")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the p99 target is missed")
    sys.exit(asyncio.run(main(parser.parse_args())))
