"""Effects of one sequence are delivered in the order they were queued, by one worker or two."""

from __future__ import annotations

import sqlalchemy as sa

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
