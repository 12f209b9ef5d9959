"""`auditbot worker` as real processes: two of them share one outbox and one schedule.

Forty thread posts wait in the outbox and the day's sample is due: two workers start on the same
database (PostgreSQL in the suite's PostgreSQL run), and every post and every sample message goes
out once; posts queued in a group's thread sequence reach each thread in the order they were
queued. A worker stopped with a delivery under way finishes it, takes nothing more, and exits 0;
the next worker delivers the rest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.db import Database
from bot.core.models import DefectGroup
from bot.defects.queue import thread_sequence
from bot.delivery.outbox import enqueue
from bot.delivery.slack import OUTBOX_EVENT
from bot.sample.posting import HEADER_EVENT, ITEM_EVENT
from tests.conftest import backend
from tests.fakes.slack_api import FakeSlack
from tests.fakes.tcp_proxy import TcpProxy
from tests.processes import (
    STARTUP_DEADLINE_S,
    STOP_DEADLINE_S,
    TEAM_CONFIG,
    Bot,
    bot_env,
    count_rows,
    run_cli,
    write_config,
)
from tests.test_sample_races import SIZE, config_due_now, yesterdays_replies

POSTS = 40


async def queued_thread_posts(
    fake: FakeSlack, database_url: str, count: int, first: int = 0, *, in_order: bool = False
) -> str:
    """A defect group whose card is in the defects channel, and `count` thread posts queued for it
    (numbered from `first`); `in_order`: in the group's thread sequence, as the product queues them."""
    client = AsyncWebClient(token=fake.token, base_url=fake.url)
    card = (await client.chat_postMessage(channel="C0DEFECTS", text="defect group card"))["ts"]
    now = dt.datetime.now(dt.UTC)
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            group = DefectGroup(
                fingerprint=f"fp-worker-{first}",
                open_key=f"fp-worker-{first}",
                title="Wrong plan in the greeting",
                category="wrong_plan",
                severity="major",
                channel="C0DEFECTS",
                thread_ts=card,
                created_at=now,
            )
            session.add(group)
            await session.flush()
            for n in range(first, first + count):
                payload = {"group_id": group.id, "text": f"thread post {n}"}
                sequence = thread_sequence(group.id) if in_order else None
                await enqueue(
                    session, "slack.thread_post", f"worker-test:{n}", payload, now, sequence=sequence
                )
    finally:
        await db.dispose()
    return card


def thread_posts(fake: FakeSlack) -> Counter[str]:
    """Each queued post's text, counted over the successful chat.postMessage calls."""
    return Counter(
        c.args["text"]
        for c in fake.calls("chat.postMessage")
        if c.ok and (c.args.get("metadata") or {}).get("event_type") == OUTBOX_EVENT
    )


def delivered(bot: Bot) -> int:
    """What the worker says it delivered, summed over its outbox passes."""
    return sum(int(m.group(1)) for line in bot.lines if (m := re.search(r"outbox: delivered (\d+)", line)))


async def test_two_workers_deliver_each_outbox_item_and_the_sample_once(
    fake_slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    env = bot_env(fake_slack, database_url, AUDITBOT_CONFIG=write_config(tmp_path, config_due_now()))
    assert run_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    await yesterdays_replies(database_url)
    await queued_thread_posts(fake_slack, database_url, POSTS)
    fake_slack.slow_down("chat.postMessage", 0.05)  # the drain takes a while: both workers are in it
    workers = [Bot(["worker"], env, tmp_path) for _ in range(2)]
    try:
        for worker in workers:
            await worker.logged("worker started")
        await workers[0].until(lambda: sum(thread_posts(fake_slack).values()) >= POSTS, "every thread post")
        await workers[0].until(
            lambda: len(fake_slack.messages("C0AUDIT")) >= SIZE + 1, "the sample's header and items"
        )
    finally:
        for worker in workers:
            await worker.stop()
    logs = "\n\n".join(w.log() for w in workers)
    assert [w.proc.returncode for w in workers] == [0, 0], logs
    assert thread_posts(fake_slack) == Counter(f"thread post {n}" for n in range(POSTS)), logs
    assert sum(delivered(w) for w in workers) == POSTS, logs  # no row delivered by both
    assert await count_rows(database_url, "outbox", "status = 'done'") == POSTS
    sample = [
        c.args["metadata"]
        for c in fake_slack.calls("chat.postMessage")
        if c.ok and c.args.get("channel") == "C0AUDIT"
    ]
    kinds = Counter(m["event_type"] for m in sample)
    assert kinds == Counter({HEADER_EVENT: 1, ITEM_EVENT: SIZE}), logs
    assert len({str(m["event_payload"]) for m in sample}) == SIZE + 1  # each message once
    assert "Traceback" not in logs and "outbox pass failed" not in logs, logs


async def test_two_workers_keep_each_thread_in_the_order_its_posts_were_queued(
    fake_slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    env = bot_env(fake_slack, database_url, AUDITBOT_CONFIG=write_config(tmp_path))
    assert run_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    per_group = 8
    cards = [
        await queued_thread_posts(fake_slack, database_url, per_group, per_group * g, in_order=True)
        for g in range(3)
    ]
    fake_slack.slow_down("chat.postMessage", 0.05)  # both workers are in the drain at once
    for g in range(len(cards)):  # each thread's first post is slow: the other worker could overtake it
        fake_slack.hold(f"thread post {per_group * g}", 1.0)
    workers = [Bot(["worker", "--no-scheduler"], env, tmp_path) for _ in range(2)]
    total = per_group * len(cards)
    try:
        for worker in workers:
            await worker.logged("worker started")
        await workers[0].until(lambda: sum(thread_posts(fake_slack).values()) >= total, "every thread post")
    finally:
        for worker in workers:
            await worker.stop()
    logs = "\n\n".join(w.log() for w in workers)
    assert thread_posts(fake_slack) == Counter(f"thread post {n}" for n in range(total)), logs
    for g, card in enumerate(cards):
        posted = [m["text"] for m in fake_slack.thread("C0DEFECTS", card)]
        assert posted == [f"thread post {n}" for n in range(per_group * g, per_group * (g + 1))], logs


async def test_a_stopped_worker_finishes_its_delivery_and_leaves_the_rest(
    fake_slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    env = bot_env(fake_slack, database_url, AUDITBOT_CONFIG=write_config(tmp_path))
    assert run_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    await queued_thread_posts(fake_slack, database_url, 5)
    fake_slack.slow_down("chat.postMessage", 2.0)
    first = Bot(["worker", "--no-scheduler"], env, tmp_path)
    try:
        await first.logged("worker started")
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        # Until the first post is on its way to Slack (its row claimed, the fake holding the answer).
        while not await count_rows(database_url, "outbox", "status = 'delivering'"):
            assert time.monotonic() < deadline and first.proc.poll() is None, first.log()
            await asyncio.sleep(0.02)
        took = await first.stop()
    finally:
        first.kill()
    assert first.proc.returncode == 0, first.log()
    assert took < STOP_DEADLINE_S
    assert "stopped" in first.log() and "cancelled" not in first.log(), first.log()
    assert sum(thread_posts(fake_slack).values()) == 1  # the one under way went out; no other was begun
    assert await count_rows(database_url, "outbox", "status = 'done'") == 1
    assert await count_rows(database_url, "outbox", "status = 'pending'") == 4

    fake_slack.slow_down("chat.postMessage", 0)
    second = Bot(["worker", "--no-scheduler"], env, tmp_path)
    try:
        await second.until(lambda: sum(thread_posts(fake_slack).values()) >= 5, "the other four posts")
    finally:
        await second.stop()
    assert thread_posts(fake_slack) == Counter(f"thread post {n}" for n in range(5)), second.log()
    assert await count_rows(database_url, "outbox", "status = 'done'") == 5


@pytest.mark.skipif(backend() != "postgresql", reason="a database server that goes away: PostgreSQL")
async def test_a_worker_rides_out_a_database_outage_and_stops_during_one(
    fake_slack: FakeSlack, database_url: str, proxy: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    cable, through_proxy = proxy
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%a").lower()
    no_catch_up = TEAM_CONFIG + f'\n[sampling]\ndays = []\n\n[digest]\nday = "{tomorrow}"\n'
    env = bot_env(fake_slack, through_proxy, AUDITBOT_CONFIG=write_config(tmp_path, no_catch_up))
    await queued_thread_posts(fake_slack, database_url, 3)
    worker = Bot(["worker"], env, tmp_path)
    try:
        await worker.until(lambda: sum(thread_posts(fake_slack).values()) >= 3, "the first three posts")
        cable.cut()
        await worker.logged("the database cannot be reached")
        await queued_thread_posts(fake_slack, database_url, 2, first=3)  # written while it is away
        cable.restore()
        await worker.logged("the database is back")
        await worker.until(
            lambda: sum(thread_posts(fake_slack).values()) >= 5, "the two posts queued meanwhile"
        )
        cable.cut()
        took = await worker.stop()  # the leader lease cannot be released: it runs out by itself
    finally:
        worker.kill()
        cable.restore()
    assert worker.proc.returncode == 0, worker.log()
    assert took < STOP_DEADLINE_S
    assert "Traceback" not in worker.log(), worker.log()
    assert thread_posts(fake_slack) == Counter(f"thread post {n}" for n in range(5)), worker.log()
