"""Webhook ingest under load: signed single replies into auditbot's POST /ingest against a bare endpoint.

usage: python bench/webhook.py [--replies 2000] [--rounds 4] [--concurrency 50] [--database-url URL]

Each server runs in its own process, as in production: `auditbot run --http --no-scheduler` (its
/ingest) and a bare Starlette app with the same uvicorn settings whose one POST endpoint checks
the same HMAC signature, parses the JSON and inserts the same row (the record's columns) into the
same `replies` table of the same database, ON CONFLICT DO NOTHING on the same unique key, and
answers 202. The fake Slack Web API (auditbot checks its token at start) runs in a third process;
this process only generates load: httpx, `--concurrency` requests in flight, each one reply
record of ../shared/tools/gen_replies.py (`--plain`) under an id of its own, signed as it is sent.
Rounds alternate between the two apps (and which goes first) to spread machine noise; each app
gets fresh ids every round. After each round the rows stored under that round's ids are counted:
every reply sent must be stored exactly once and answered 202 with `imported: 1`. Prints
replies/s (median over rounds), p50/p99 latency, their ratios auditbot/bare, server CPU per reply
and the load average. Exits 1 if a reply is lost, doubled or refused. The default database is
PostgreSQL: a scratch database is created next to `--database-url` and dropped afterwards; a
SQLite URL (or `--database-url sqlite:///PATH`) works too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import sqlalchemy as sa
from _harness import (  # first: it puts the repository on sys.path
    KEEPALIVE_S,
    FakeSlackProcess,
    Server,
    auditbot_env,
    auditbot_server,
    bench_main,
    free_port,
    generate,
    quantile,
)

from bot.core.db import Database
from bot.core.models import Reply
from bot.web.ingest import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "bench-ingest-secret"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
APPS = ("bare", "auditbot")


# -- the floor: a bare endpoint that inserts the same row, in its own process --------------------


def serve_bare(port: int, url: str) -> int:
    """The floor: signature check, JSON parse, one INSERT … ON CONFLICT DO NOTHING, 202."""
    import datetime as dt
    import hmac

    import uvicorn
    from sqlalchemy.dialects import postgresql, sqlite
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from bot.core.db import create_engine  # auditbot's engine settings (pool, pre-ping)

    engine = create_engine(url)
    dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
    insert = dialect.insert(Reply.__table__).on_conflict_do_nothing(index_elements=["source", "external_id"])

    async def ingest(request: Request) -> JSONResponse:
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return JSONResponse({"error": "stale or missing timestamp"}, status_code=401)
        body = await request.body()
        if not hmac.compare_digest(sign(body, SECRET, timestamp).encode(), signature.encode()):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        r = orjson.loads(body)
        customer = r.get("customer") or {}
        row = {
            "source": r.get("source", "webhook"), "external_id": str(r["id"]),
            "ticket_id": str(r["ticket_id"]), "created_at": dt.datetime.fromisoformat(r["created_at"]),
            "reply": r["reply"], "customer_message": r.get("customer_message"),
            "ticket_url": r.get("ticket_url"), "customer_id": customer.get("id"),
            "customer_name": customer.get("name"), "customer_email": customer.get("email"),
            "customer_plan": customer.get("plan"), "template_id": r.get("template_id"),
            "kb_articles": r.get("kb_articles"), "channel": r.get("channel"), "intent": r.get("intent"),
            "language": r.get("language"), "csat": r.get("csat"), "extra": r.get("metadata"),
            "flagged": False, "ingested_at": dt.datetime.now(dt.UTC),
        }  # fmt: skip
        async with engine.begin() as conn:
            imported = (await conn.execute(insert, row)).rowcount
        counts = {"received": 1, "imported": imported, "already_present": 1 - imported, "rejected": 0}
        return JSONResponse(counts, status_code=202)

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    web = Starlette(routes=[Route("/ingest", ingest, methods=["POST"]), Route("/healthz", healthz)])
    # The same uvicorn settings as `auditbot run` (bot/server/run.py).
    uvicorn.run(
        web, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
    return 0


# -- load ----------------------------------------------------------------------------------------


@dataclass
class Round:
    """One app's round: what was sent, how fast, what the server answered and stored."""

    app: str
    tag: str
    sent: int
    seconds: float = 0.0
    times: list[float] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    stored: int = 0
    load: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds

    @property
    def good(self) -> bool:
        return self.stored == self.sent == self.answers["imported"] == sum(self.answers.values())


def bodies(records: list[dict], tag: str) -> list[bytes]:
    """Each record as one request body, under an id of its own: `{tag}-{generated id}`."""
    return [orjson.dumps({**record, "id": f"{tag}-{record['id']}"}) for record in records]


async def fire(
    client: httpx.AsyncClient, url: str, payloads: list[bytes], concurrency: int, out: Round
) -> None:
    """POST each body, signed as it is sent, at most `concurrency` in flight; times and answers in `out`."""
    gate = asyncio.Semaphore(concurrency)

    async def one(body: bytes) -> None:
        async with gate:
            now = int(time.time())
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(now),
                SIGNATURE_HEADER: sign(body, SECRET, now),
            }
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                out.answers[f"{type(exc).__name__} {exc}"[:80]] += 1
                return
            out.times.append(time.perf_counter() - started)
            answer = response.json() if response.status_code == 202 else {}
            if answer.get("imported") == 1:
                out.answers["imported"] += 1
            elif answer.get("already_present") == 1:
                out.answers["already_present"] += 1
            else:
                out.answers[f"{response.status_code} {response.text[:80]}"] += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(b) for b in payloads))
    out.seconds, out.client_cpu = time.perf_counter() - started, time.process_time() - cpu


async def stored(db: Database, tag: str) -> int:
    """Rows stored under the ids of one round (`{tag}-…`)."""
    query = sa.select(sa.func.count()).select_from(Reply).where(Reply.external_id.startswith(f"{tag}-"))
    async with db.session() as session:
        return int((await session.execute(query)).scalar_one())


async def measure(args: argparse.Namespace, url: str, fake: FakeSlackProcess, workdir: Path) -> int:
    per_app = args.warmup + args.rounds * args.replies
    pool = [orjson.loads(line) for line in generate(2 * per_app, workdir).read_bytes().splitlines()]
    check = Database(url)
    await check.upgrade()  # `auditbot db upgrade`, as a release does
    env = auditbot_env(url, fake.url, workdir, INGEST_SECRET=SECRET)
    port = free_port()
    floor = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port), url]
    servers = {"bare": Server("bare", floor, env, port, workdir, "/ingest")}
    rounds: list[Round] = []
    try:
        servers["auditbot"] = auditbot_server(env, workdir, wrap=args.wrap, path="/ingest")
        for server in servers.values():
            await server.ready()
        # One client (and pool of kept-alive connections) per app; a round opens at most `n` connections.
        n = args.concurrency
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=KEEPALIVE_S)
        async with (
            httpx.AsyncClient(limits=limits, timeout=60) as to_bare,
            httpx.AsyncClient(limits=limits, timeout=60) as to_real,
        ):
            clients = {"bare": to_bare, "auditbot": to_real}
            for number in range(-1, args.rounds):  # round -1 warms both up and is not reported
                order = APPS if number % 2 == 0 else APPS[::-1]
                for app in order:
                    size = args.warmup if number < 0 else args.replies
                    records, pool = pool[:size], pool[size:]
                    tag = f"{app}-{'warm' if number < 0 else number}"
                    result = Round(app, tag, len(records))
                    payloads = bodies(records, tag)
                    cpu = servers[app].cpu_seconds()
                    await fire(clients[app], servers[app].url, payloads, args.concurrency, result)
                    result.server_cpu = servers[app].cpu_seconds() - cpu
                    result.stored, result.load = await stored(check, tag), os.getloadavg()[0]
                    if number >= 0:
                        print(line(number, result), flush=True)
                    rounds.append(result)
    finally:
        await check.dispose()
        for server in servers.values():
            server.stop()
    return report(args, url, rounds)


def line(number: int, r: Round) -> str:
    p99 = quantile(r.times, 0.99) * 1000 if len(r.times) > 1 else float("nan")
    stored = f"stored {r.stored}/{r.sent}"
    return (
        f"  round {number} {r.app:8}: {r.rate:7.1f} replies/s  p99 {p99:7.1f} ms  {stored}  load {r.load:.2f}"
    )


def summary(rounds: list[Round]) -> dict[str, float]:
    """One app's measured rounds: median replies/s, pooled p50/p99 (ms), CPU per reply (ms)."""
    times = [t for r in rounds for t in r.times]
    sent = sum(r.sent for r in rounds)
    return {
        "rate": statistics.median(r.rate for r in rounds),
        "p50": quantile(times, 0.50) * 1000,
        "p99": quantile(times, 0.99) * 1000,
        "cpu": sum(r.server_cpu for r in rounds) * 1000 / sent,
        "client": sum(r.client_cpu for r in rounds) * 1000 / sent,
    }


def report(args: argparse.Namespace, url: str, rounds: list[Round]) -> int:
    measured = [r for r in rounds if not r.tag.endswith("-warm")]
    bare, real = (summary([r for r in measured if r.app == app]) for app in APPS)
    ratio = {k: real[k] / bare[k] for k in real}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    backend = url.split(":")[0].split("+")[0]
    size = f"{args.replies} single replies per round and app, {args.rounds} rounds"
    print(f"{size}, concurrency {args.concurrency}")
    print(f"  database            : {backend}; load average {load} ({os.cpu_count()} CPUs)")
    for label, f in (("bare Starlette", bare), ("auditbot /ingest", real)):
        speed = f"{f['rate']:7.1f} replies/s   p50 {f['p50']:7.1f} ms   p99 {f['p99']:7.1f} ms"
        print(f"  {label:20}: {speed}   server CPU {f['cpu']:5.2f} ms/reply")
    speed = f"replies/s {ratio['rate']:.2f}x   p50 {ratio['p50']:.2f}x   p99 {ratio['p99']:.2f}x"
    print(f"  auditbot / bare     : {speed}   server CPU {ratio['cpu']:.2f}x")
    client = f"{bare['client']:.2f} ms/reply (bare rounds), {real['client']:.2f} ms/reply (auditbot)"
    print(f"  load generator CPU  : {client}")
    for app in APPS:
        mine = [r for r in rounds if r.app == app]
        answers = dict(sum((r.answers for r in mine), Counter()))
        counts = f"{sum(r.stored for r in mine)} of {sum(r.sent for r in mine)} sent (warm-up included)"
        print(f"  {app + ' stored':20}: {counts}; answers {answers}")
    bad = [r.tag for r in rounds if not r.good]
    if bad:
        print("FAIL: lost, doubled or refused replies in " + ", ".join(bad))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=2000, help="requests per app and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=100, help="unreported requests per app first")
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"default: {DEFAULT_URL}")
    parser.add_argument("--wrap", help="prefix for the auditbot command, e.g. a profiler")
    parser.add_argument("--serve-bare", nargs=2, metavar=("PORT", "DATABASE_URL"), help=argparse.SUPPRESS)
    sys.exit(bench_main(parser.parse_args(), serve_bare, measure))
