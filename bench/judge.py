"""Judging throughput: auditbot's judge pass against the ideal n / concurrency × latency.

usage: python bench/judge.py [--n 200] [--concurrency 20] [--latency 1.0] [--rounds 3]

The fake OpenAI-compatible server (tests/fakes/openai_api.py) runs in its own process and holds
each answer `--latency` seconds (asyncio.sleep in the server). Each round judges `--n` stored
replies under a new model name (so nothing is cached) through `bot.judge.runner.judge_replies`:
claims, prompts, the real `openai` SDK, parsing and storing every verdict in SQLite. In the same
round a floor sends the same requests with the SDK at the same concurrency and stores nothing.
Prints the median of each, their ratio to the ideal (target ≤ 1.3×) and to the floor. Exit 1
with --strict if the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

import openai  # noqa: E402

from bot.core.clock import FrozenClock  # noqa: E402
from bot.core.config import AuditConfig  # noqa: E402
from bot.core.db import Database  # noqa: E402
from bot.judge.criteria import criteria_for  # noqa: E402
from bot.judge.prompt import JudgeInput, build_request, response_format  # noqa: E402
from bot.judge.runner import judge_replies  # noqa: E402
from tests.bot.judge.support import judge_config, judge_services, replies  # noqa: E402
from tests.fakes.openai_api import API_KEY  # noqa: E402

TARGET = 1.3
NOW = "2026-11-27T08:00:00+00:00"


def serve_fake(latency: float) -> None:
    """The helper process: the fake on loopback; prints its URL, serves until stdin closes."""
    from tests.fakes.openai_api import FakeOpenAI

    with FakeOpenAI(latency=latency) as fake:
        print(fake.url, flush=True)
        sys.stdin.read()


def texts(n: int) -> list[str]:
    return [
        f"Hi Dana,\n\nThanks for writing in about order {1000 + i}. Your refund was issued today and "
        f"should reach your card within 5 business days.\n\nBest,\nSupport"
        for i in range(n)
    ]


async def floor(url: str, n: int, concurrency: int, model: str) -> float:
    """The same n requests through the SDK, `concurrency` at a time, nothing stored."""
    criteria = criteria_for(AuditConfig())
    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=url, max_retries=0, timeout=60)
    gate = asyncio.Semaphore(concurrency)

    async def one(text: str) -> None:
        request = build_request(criteria, JudgeInput(text, "Where is my refund?"))
        async with gate:
            await client.chat.completions.create(
                model=model, messages=request.messages, response_format=response_format(request, True)
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in texts(n)))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


async def auditbot(db: Database, url: str, ids: list[int], concurrency: int, model: str) -> float:
    fake = type("Fake", (), {"url": url})()
    config = judge_config(
        AuditConfig(), fake, model=model, concurrency=concurrency, max_replies_per_day=10**9, timeout_s=60
    )
    services = judge_services(db, config, FrozenClock(NOW))
    started = time.perf_counter()
    summary = await judge_replies(services, ids)
    elapsed = time.perf_counter() - started
    if summary.judged != len(ids):
        raise SystemExit(f"judged {summary.judged} of {len(ids)}: {summary.line()}")
    return elapsed


async def main(args: argparse.Namespace) -> int:
    os.environ["OPENAI_API_KEY"] = API_KEY
    helper = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        url = helper.stdout.readline().strip()  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as scratch:
            db = Database(f"sqlite:///{Path(scratch) / 'bench.db'}")
            await db.upgrade()
            ids = await replies(db, texts(args.n), FrozenClock(NOW).now())
            ours, floors = [], []
            for round_ in range(args.rounds):
                floors.append(await floor(url, args.n, args.concurrency, f"floor-{round_}"))
                ours.append(await auditbot(db, url, ids, args.concurrency, f"bench-{round_}"))
            await db.dispose()
    finally:
        helper.stdin.close()  # type: ignore[union-attr]
        helper.wait(timeout=30)
    ideal = args.n / args.concurrency * args.latency
    mine, base = statistics.median(ours), statistics.median(floors)
    ratio = mine / ideal
    setup = f"{args.n} at concurrency {args.concurrency}, {args.latency:g} s per call; {args.rounds} rounds"
    print(f"replies    {setup}")
    print(f"ideal      {ideal:6.2f} s   (n / concurrency × latency)")
    print(
        f"floor      {base:6.2f} s   (the SDK alone, nothing stored): {', '.join(f'{t:.2f}' for t in floors)}"
    )
    rounds = ", ".join(f"{t:.2f}" for t in ours)
    print(f"auditbot   {mine:6.2f} s   (claims, prompts, SDK, verdicts stored): {rounds}")
    print(f"ratio      {ratio:.2f}x the ideal (target <= {TARGET}x), {mine / base:.2f}x the floor")
    print(f"load avg   {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    met = ratio <= TARGET
    print("result     " + ("meets the target" if met else "MISSES the target"))
    return 0 if met or not args.strict else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve_fake(float(sys.argv[2]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    sys.exit(asyncio.run(main(parser.parse_args())))
