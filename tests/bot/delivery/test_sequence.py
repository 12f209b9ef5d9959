"""Effects of one sequence are delivered in the order they were queued, by one worker or two."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from bot.core.db import Database
from bot.core.models import DefectGroup, OutboxItem
from bot.defects.effects import deliver_pending
from bot.defects.queue import queue_thread_post
from bot.delivery import outbox
from bot.delivery.outbox import DeliveryReport, Outcome, deliver_due, enqueue
from integrations.base import PermanentError, TransientError

# (name, sequence) in the order they are queued: a's three with one of b's and an unordered row
ROWS = [("a1", "a"), ("a2", "a"), ("b1", "b"), ("a3", "a"), ("n1", None)]


class Recorder:
    """An effect that records what it delivered, failing a named row once when told to."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.failures: dict[str, Exception] = {}
        self.before: dict[str, object] = {}  # name -> coroutine function run before delivering it

    async def __call__(self, services: object, row: OutboxItem) -> Outcome:
        name = (row.payload or {})["name"]
        if name in self.before:
            await self.before.pop(name)()  # type: ignore[operator]
        if name in self.failures:
            raise self.failures.pop(name)
        self.delivered.append(name)
        return Outcome({"name": name})


async def queue(services, rows=ROWS) -> None:  # type: ignore[no-untyped-def]
    async with services.db.transaction() as session:
        for name, sequence in rows:
            await enqueue(
                session,
                "test.record",
                f"test:{name}",
                {"name": name},
                services.clock.now(),
                sequence=sequence,
            )


async def statuses(services) -> dict[str, str]:  # type: ignore[no-untyped-def]
    async with services.db.session() as session:
        found = await session.execute(sa.select(OutboxItem.idempotency_key, OutboxItem.status))
        return {key.removeprefix("test:"): status for key, status in found.all()}


async def test_a_row_waiting_for_a_retry_holds_back_the_rest_of_its_sequence_only(services) -> None:
    recorder = Recorder()
    recorder.failures["a1"] = TransientError("slow down", vendor="test", retry_after=60)
    await queue(services)

    await deliver_due(services, {"test.record": recorder})
    assert recorder.delivered == ["b1", "n1"]  # a2 and a3 wait for a1; the others do not
    assert (await statuses(services))["a2"] == "pending"

    services.clock.advance(seconds=61)
    await deliver_due(services, {"test.record": recorder})
    assert recorder.delivered == ["b1", "n1", "a1", "a2", "a3"]
    assert set((await statuses(services)).values()) == {"done"}


async def test_a_long_sequence_held_back_leaves_room_in_the_pass_for_the_other_rows(services) -> None:
    recorder = Recorder()
    recorder.failures["a1"] = TransientError("slow down", vendor="test", retry_after=60)
    await queue(services, [(f"a{n}", "a") for n in range(1, 6)] + [("b1", "b")])

    await deliver_due(services, {"test.record": recorder}, limit=3)  # a pass sees 3 rows at a time

    assert recorder.delivered == ["b1"]


async def test_a_dead_row_no_longer_holds_back_its_sequence(services) -> None:
    recorder = Recorder()
    recorder.failures["a1"] = PermanentError("gone for good", vendor="test")
    await queue(services)

    await deliver_due(services, {"test.record": recorder})

    assert recorder.delivered == ["a2", "a3", "b1", "n1"]  # a3 right after a2, its turn come
    assert (await statuses(services))["a1"] == "dead"


async def test_a_second_worker_does_not_overtake_a_row_the_first_is_delivering(services) -> None:
    recorder = Recorder()
    effects = {"test.record": recorder}
    await queue(services)
    # The second worker lists the due rows before the first claims a1: a2 and a3 are on its list.
    listed = await outbox._due(services, services.clock.now(), 100, None)
    second = DeliveryReport()

    async def second_worker_while_a1_is_delivered() -> None:
        for row_id in listed:
            await outbox._deliver_one(services, effects, row_id, second, None)

    recorder.before["a1"] = second_worker_while_a1_is_delivered
    first = await deliver_due(services, effects)

    assert second.delivered == 2  # b1 and n1; a2 and a3 were a1's to go first
    assert recorder.delivered == ["b1", "n1", "a1", "a2", "a3"]  # each once, a's in queue order
    assert first.delivered == 3


async def test_a_flush_delivers_at_once_the_rows_its_delivery_held_back(services) -> None:
    """A button's flush of its own post, while an earlier post of the thread is on its way (a
    click just before): the post goes out right after the earlier one, not at the next pass."""
    recorder = Recorder()
    effects = {"test.record": recorder}
    await queue(services, [("a1", "a"), ("a2", "a")])
    flushes = []

    async def second_click() -> None:
        flushes.append(await deliver_due(services, effects, keys=["test:a2"]))

    recorder.before["a1"] = second_click
    first = await deliver_due(services, effects, keys=["test:a1"])

    assert flushes[0].delivered == 0  # a1 was on its way
    assert first.delivered == 2 and recorder.delivered == ["a1", "a2"]


async def test_thread_posts_go_out_in_the_order_they_were_queued_when_the_first_is_retried(
    services, seed, fake_slack
) -> None:
    await seed.defect(services)
    await deliver_pending(services)  # the card and its first post
    async with services.db.transaction() as session:
        group = (await session.execute(sa.select(DefectGroup))).scalar_one()
        for text in ("first", "second", "third"):
            await queue_thread_post(session, group, f"{text} post", services.clock.now())
    fake_slack.fail("chat.postMessage", "service_unavailable")  # the first post is retried later

    await deliver_pending(services)
    thread = [m["text"] for m in fake_slack.thread(group.channel, group.thread_ts)]
    assert not any(t in thread for t in ("first post", "second post", "third post"))

    services.clock.advance(hours=1)  # past any backoff
    await deliver_pending(services)
    thread = [m["text"] for m in fake_slack.thread(group.channel, group.thread_ts)]
    assert thread[-3:] == ["first post", "second post", "third post"]


async def plan_of(db: Database, query: sa.Executable) -> list:  # type: ignore[type-arg]
    """The database's own query plan for `query`, as its driver runs it (parameters bound)."""
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        sent.append((statement, parameters))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.session() as session:
            await session.execute(query)
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    [(statement, parameters)] = sent
    prefix = "EXPLAIN (FORMAT JSON) " if db.engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    async with db.engine.connect() as conn:
        return list((await conn.exec_driver_sql(prefix + statement, parameters)).all())  # type: ignore[arg-type]


def held_back_checks(plan: list) -> list[str]:  # type: ignore[type-arg]
    """How each read of an earlier row of the sequence is done, from the plan of either database."""
    if plan and isinstance(plan[0][0], int):  # SQLite: (id, parent, notused, detail) rows
        return [detail for *_, detail in plan if " earlier " in f" {detail} "]
    found: list[str] = []

    def walk(node: dict) -> None:  # type: ignore[type-arg]
        if str(node.get("Alias")).startswith("earlier"):
            found.append(f"{node['Node Type']} {node.get('Index Name')} {node.get('Index Cond')}")
        for child in node.get("Plans", []):
            walk(child)

    document = plan[0][0]
    walk((json.loads(document) if isinstance(document, str) else document)[0]["Plan"])
    return found


async def test_whether_a_rows_turn_has_come_is_read_from_the_waiting_rows_of_its_sequence_alone(
    services,
) -> None:
    """The held-back check seeks ix_outbox_turn by (sequence, status, id): it never reads the
    sequence's delivered rows, which grow for as long as a defect group lives, nor scans the
    other waiting rows one by one (a backlog of thousands in one thread made each pass quadratic;
    bench/outbox.py measures it)."""
    now = services.clock.now()
    later = now + dt.timedelta(hours=1)

    def row(key: str, sequence: str, status: str, due: dt.datetime) -> dict:  # type: ignore[type-arg]
        return {"kind": "test.record", "idempotency_key": f"test:{key}", "payload": {}, "sequence": sequence,
                "status": status, "attempts": 0, "next_attempt_at": due, "created_at": now}  # fmt: skip

    rows = [
        *(row(f"done{i}", "a", "done", now) for i in range(3000)),  # a long-lived group's thread
        *(row(f"retry{i}", f"b{i}", "pending", later) for i in range(1000)),  # a backlog elsewhere
        *(row(f"out{i}", f"c{i}", "delivering", later) for i in range(50)),
        *(row(f"due{i}", "a", "pending", now) for i in range(20)),
    ]
    db = services.db
    async with db.transaction() as session:
        await session.execute(sa.insert(OutboxItem), rows)
        if db.engine.dialect.name == "postgresql":
            await session.execute(sa.text("ANALYZE outbox"))
    for query in (
        outbox._due_query(now, 100, None, None),  # a pass's list
        sa.select(OutboxItem.id).where(OutboxItem.id == len(rows), outbox._its_turn()),  # a claim's check
    ):
        plan = await plan_of(db, query)
        checks = held_back_checks(plan)
        assert len(checks) == 2, (
            json.dumps(plan[0][0], indent=1) if not isinstance(plan[0][0], int) else plan
        )  # an earlier pending row, an earlier row being delivered
        for check in checks:
            assert "ix_outbox_turn" in check, checks
            if db.engine.dialect.name == "sqlite":
                assert "(sequence=? AND status=? AND id<?)" in check, checks
            else:
                assert "status" in check and "id <" in check, checks  # both in the index's seek
