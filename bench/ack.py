"""Time to the ack for signed button clicks: auditbot against a bare Bolt app that only acks.

usage: python bench/ack.py [--clicks 1000] [--concurrency 20] [--database-url URL] [--strict]

Each server runs in its own process, as in production: `auditbot run --http --no-scheduler` and a
bare Bolt app (same signature check, same uvicorn settings, a listener that only acks). The fake
Slack Web API runs in a third process; this process only seeds the items and generates load
(httpx, `--concurrency` clicks in flight, each signed). Every click is "Correct" on its own posted
item, so each stores one verdict and edits one message. Rounds alternate between the two apps
(and which goes first) to spread machine noise; after each auditbot round we wait until its
verdicts are stored, so its after-ack work does not run into the bare app's next round. Prints
p50/p99 for both and their ratio (target p99 ≤ 1.5×). Exits 1 if a verdict is missing, or with
--strict if the target is missed. `--database-url postgresql://…` runs on a scratch database
created next to the given one and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from _harness import (  # first: it puts the repository on sys.path
    BOT_TOKEN,
    KEEPALIVE_S,
    FakeSlackProcess,
    Server,
    auditbot_env,
    auditbot_server,
    bench_main,
    free_port,
    quantile,
)

from bot.core.db import Database
from bot.core.models import Review
from bot.views import ids
from tests.bot.seed_reviews import seed_items
from tests.fakes.signing import (
    TEST_SIGNING_SECRET,
    block_actions_payload,
    interaction_body,
    sign,
)

TARGET = 1.5
ROUNDS = 10
WARMUP = 40
STORE_TIMEOUT = 120.0


# -- the floor: the bare app, in its own process ----------------------------------------------


def serve_bare(port: int, slack_url: str) -> int:
    """The floor: Bolt with the same signature check and authorization, a listener that only acks."""
    import re

    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    app = AsyncApp(
        signing_secret=TEST_SIGNING_SECRET,
        client=AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=slack_url),
    )

    async def only_ack(ack) -> None:  # type: ignore[no-untyped-def]
        await ack()

    app.action(re.compile(".*"))(only_ack)
    handler = AsyncSlackRequestHandler(app)

    async def endpoint(request):  # type: ignore[no-untyped-def]
        return await handler.handle(request)

    async def healthz(_):  # type: ignore[no-untyped-def]
        return PlainTextResponse("ok")

    web = Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"]), Route("/healthz", healthz)])
    # The same uvicorn settings as `auditbot run` (bot/server.py).
    uvicorn.run(web, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    return 0


# -- database ------------------------------------------------------------------------------------


async def stored(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(sa.select(sa.func.count()).select_from(Review))).scalar_one())


async def wait_stored(db: Database, expected: int) -> None:
    deadline = time.monotonic() + STORE_TIMEOUT
    while await stored(db) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {await stored(db)} of {expected} verdicts stored")
        await asyncio.sleep(0.02)


async def seed(url: str, slack_url: str, token: str, count: int) -> list[tuple[int, str]]:
    """`count` sample items with their message ts, each posted in the fake (so chat.update finds it)."""
    from slack_sdk.web.async_client import AsyncWebClient

    db = Database(url)
    await db.upgrade()
    poster = AsyncWebClient(token=token, base_url=slack_url)
    stamps = [(await poster.chat_postMessage(channel="C0AUDIT", text="item"))["ts"] for _ in range(count)]
    items = await seed_items(db, count, message_ts=stamps)
    await db.dispose()
    return list(zip(items, stamps, strict=True))


# -- load ----------------------------------------------------------------------------------------


def bodies(items: list[tuple[int, str]]) -> list[bytes]:
    """A "Correct" click on each item, on its own message (a click elsewhere is refused)."""
    return [
        interaction_body(block_actions_payload(ids.VERDICT_CORRECT, str(i), user_id="U0REV1", message_ts=ts))
        for i, ts in items
    ]


async def fire(client: httpx.AsyncClient, url: str, payloads: list[bytes], concurrency: int) -> list[float]:
    """POST each signed click, at most `concurrency` in flight; seconds to each (ack) response."""
    gate = asyncio.Semaphore(concurrency)

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


async def measure(args: argparse.Namespace, url: str, fake: FakeSlackProcess, workdir: Path) -> int:
    count = args.clicks + WARMUP
    items = await seed(url, fake.url, BOT_TOKEN, count)
    env = auditbot_env(url, fake.url, workdir)
    real = auditbot_server(env, workdir, wrap=args.wrap, path="/slack/events")
    port = free_port()
    floor = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port), fake.url]
    bare = Server("bare", floor, env, port, workdir)
    check = Database(url)
    times: dict[str, list[float]] = {"bare": [], "real": []}
    try:
        await real.ready()
        await bare.ready()
        # One client (and pool of kept-alive connections) per app, so no round opens connections.
        limits = httpx.Limits(
            max_connections=args.concurrency,
            max_keepalive_connections=args.concurrency,
            keepalive_expiry=KEEPALIVE_S,
        )
        async with (
            httpx.AsyncClient(limits=limits, timeout=30) as to_bare,
            httpx.AsyncClient(limits=limits, timeout=30) as to_real,
        ):
            apps = {"bare": (to_bare, bare.url), "real": (to_real, real.url)}
            warm, measured = items[:WARMUP], items[WARMUP:]
            await fire(*apps["bare"], bodies(warm), args.concurrency)
            await fire(*apps["real"], bodies(warm), args.concurrency)
            await wait_stored(check, WARMUP)
            cpu = {"bare": -bare.cpu_seconds(), "real": -real.cpu_seconds(), "client bare": 0.0}
            cpu["client real"] = 0.0
            size = -(-len(measured) // ROUNDS)
            done = WARMUP
            for number, start in enumerate(range(0, len(measured), size)):
                chunk = bodies(measured[start : start + size])
                for name in ("bare", "real") if number % 2 == 0 else ("real", "bare"):
                    started = time.process_time()
                    times[name] += await fire(*apps[name], chunk, args.concurrency)
                    cpu[f"client {name}"] += time.process_time() - started
                    if name == "real":
                        done += len(chunk)
                        await wait_stored(check, done)
        total = await stored(check)
        deadline = time.monotonic() + STORE_TIMEOUT  # the message edit follows the commit
        while (updates := fake.updates()) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        cpu["bare"] += bare.cpu_seconds()
        cpu["real"] += real.cpu_seconds()
    finally:
        await check.dispose()
        real.stop()
        bare.stop()
    return report(args, url, times, cpu, total, count, updates)


def report(
    args: argparse.Namespace,
    url: str,
    times: dict[str, list[float]],
    cpu: dict[str, float],
    total: int,
    count: int,
    updates: int,
) -> int:
    p50 = {k: quantile(v, 0.50) * 1000 for k, v in times.items()}
    p99 = {k: quantile(v, 0.99) * 1000 for k, v in times.items()}
    ratio, p50_ratio = p99["real"] / p99["bare"], p50["real"] / p50["bare"]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.clicks} signed clicks per app, concurrency {args.concurrency}, {url.split(':')[0]}")
    print(f"  load average        : {load} ({os.cpu_count()} CPUs)")
    print(f"  bare Bolt (ack only): p50 {p50['bare']:7.2f} ms   p99 {p99['bare']:7.2f} ms")
    print(f"  auditbot            : p50 {p50['real']:7.2f} ms   p99 {p99['real']:7.2f} ms")
    print(f"  ratio               : p50 {p50_ratio:.2f}x   p99 {ratio:.2f}x (target <= {TARGET}x)")
    clicks = len(times["real"])
    per_click = {k: v * 1000 / clicks for k, v in cpu.items()}
    print(f"  server CPU per click: bare {per_click['bare']:.2f} ms, auditbot {per_click['real']:.2f} ms")
    client = f"{per_click['client bare']:.2f} ms (bare rounds), {per_click['client real']:.2f} ms (auditbot)"
    print(f"  load generator CPU  : {client}")
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
    parser.add_argument("--wrap", help="prefix for the auditbot command, e.g. a profiler")
    parser.add_argument("--serve-bare", nargs=2, metavar=("PORT", "SLACK_URL"), help=argparse.SUPPRESS)
    sys.exit(bench_main(parser.parse_args(), serve_bare, measure))
