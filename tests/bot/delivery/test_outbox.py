"""The outbox worker: retries, Retry-After, dead letters, claims, and exactly-once toward vendors."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from bot.cli.deliver import command_deliver
from bot.cli.env import CliEnv
from bot.core.models import DefectGroup, OutboxItem
from bot.defects.effects import deliver_pending
from bot.delivery import outbox
from bot.delivery.outbox import enqueue


class SimulatedKill(BaseException):
    """The worker process dies: nothing after this point runs (not even `except Exception`)."""


async def rows(db, kind: str | None = None) -> list[OutboxItem]:
    stmt = sa.select(OutboxItem).order_by(OutboxItem.id)
    if kind:
        stmt = stmt.where(OutboxItem.kind == kind)
    async with db.session() as session:
        return list((await session.execute(stmt)).scalars())


async def all_groups(db) -> list[DefectGroup]:
    async with db.session() as session:
        return list((await session.execute(sa.select(DefectGroup).order_by(DefectGroup.id))).scalars())


async def rounds(services, n: int) -> None:
    """`n` scheduled worker runs, an hour apart (beyond any backoff below the cap)."""
    for _ in range(n):
        await deliver_pending(services)
        services.clock.advance(hours=1)


async def test_enqueue_is_idempotent_per_key(db, clock):
    async with db.transaction() as session:
        first = await enqueue(session, "slack.thread_post", "k1", {"a": 1}, clock.now())
        again = await enqueue(session, "slack.thread_post", "k1", {"a": 2}, clock.now())
    assert first.id == again.id
    assert [(r.idempotency_key, r.payload) for r in await rows(db)] == [("k1", {"a": 1})]


@pytest.mark.parametrize("timeouts", [False, True], ids=["5xx", "timeouts"])
async def test_tracker_down_then_up_delivers_everything_exactly_once(
    services, seed, vendors, fake_slack, timeouts
):
    vendors.jira.down, vendors.jira.timeouts = True, timeouts
    for reviewer in ("U0REV1", "U0REV2", "U0REV1"):
        await seed.defect(services, reviewer=reviewer)  # one group
    await seed.defect(services, template_id="shipping_v2")  # another group
    await rounds(services, 3)

    create = await rows(services.db, "tracker.create_issue")
    assert [r.status for r in create] == ["pending", "pending"] and all(r.attempts == 3 for r in create)
    assert not vendors.jira.issues and all("jira" in (r.last_error or "") for r in create)
    assert all(r.next_attempt_at > services.clock.now() - dt.timedelta(hours=1) for r in create)

    vendors.jira.down = False
    await rounds(services, 2)
    assert {r.status for r in await rows(services.db)} == {"done"}
    assert sorted(vendors.jira.issues) == ["SUP-1", "SUP-2"]  # exactly one issue per group
    assert sorted(len(i["comments"]) for i in vendors.jira.issues.values()) == [0, 2]  # none lost or doubled
    assert len(vendors.zendesk.notes) == 4
    for group in await all_groups(services.db):
        assert group.tracker_key and group.thread_ts
        assert len(fake_slack.thread("C0CONTENT", group.thread_ts)) == group.occurrences


async def test_lost_answer_to_a_create_finds_the_issue_instead_of_making_another(services, seed, vendors):
    vendors.jira.lose_answers = True  # Jira creates the issue, the answer never arrives
    await seed.defect(services)
    await deliver_pending(services)
    assert len(vendors.jira.issues) == 1
    (create,) = await rows(services.db, "tracker.create_issue")
    assert create.status == "pending"

    vendors.jira.lose_answers = False
    services.clock.advance(hours=1)
    await deliver_pending(services)
    assert list(vendors.jira.issues) == ["SUP-1"]
    assert (await all_groups(services.db))[0].tracker_key == "SUP-1"


@pytest.mark.parametrize(
    ("category", "template"),
    [("template_error", "t1"), ("personalization", "t2"), ("wrong_information", "t3")],
    ids=["jira", "linear", "github"],
)
async def test_worker_killed_after_the_vendor_answered(services, seed, vendors, category, template):
    await seed.defect(services, category=category, template_id=template)
    await seed.defect(services, category=category, template_id=template, reviewer="U0REV2")

    async def kill_after_create(row: OutboxItem, _outcome: outbox.Outcome) -> None:
        if row.kind == "tracker.create_issue":
            raise SimulatedKill

    with pytest.raises(SimulatedKill):
        await deliver_pending(services, after_effect=kill_after_create)
    fake = {
        "template_error": vendors.jira,
        "personalization": vendors.linear,
        "wrong_information": vendors.github,
    }
    issues = fake[category].issues
    assert len(issues) == 1
    (create,) = await rows(services.db, "tracker.create_issue")
    assert create.status == "delivering"  # claimed, never finished

    await deliver_pending(services)  # another worker, while the lease holds: leaves it alone
    assert (await rows(services.db, "tracker.create_issue"))[0].status == "delivering"

    services.clock.advance(seconds=outbox.LEASE.total_seconds() + 1)
    await deliver_pending(services)
    await rounds(services, 1)
    assert len(issues) == 1  # the marker search / client id found the first one
    assert {r.status for r in await rows(services.db)} == {"done"}
    (group,) = await all_groups(services.db)
    assert group.tracker_key
    comments = (
        vendors.linear.comments if category == "personalization" else next(iter(issues.values()))["comments"]
    )
    assert len(comments) == 1


async def test_401_is_not_retried_and_is_dead_lettered_in_slack(services, seed, vendors, fake_slack):
    vendors.jira.status = 401
    await seed.defect(services)
    report = await deliver_pending(services)

    (create,) = await rows(services.db, "tracker.create_issue")
    assert (create.status, create.attempts) == ("dead", 1)
    assert len(vendors.jira.requests) == 1 and report.dead == 1
    (notice,) = [m for m in fake_slack.messages("C0AUDIT") if "could not deliver" in m["text"]]
    assert "tracker.create_issue" in notice["text"] and "auditbot deliver --retry-dead" in notice["text"]
    assert "401" in notice["text"]

    vendors.jira.status = None  # credentials fixed; a person retries the dead letters
    services.clock.advance(minutes=5)
    revived = await deliver_pending(services, include_dead=True)
    assert revived.revived == 1
    assert list(vendors.jira.issues) == ["SUP-1"]
    assert {r.status for r in await rows(services.db)} == {"done"}


async def test_retry_after_is_honoured(services, seed, vendors):
    vendors.jira.status, vendors.jira.headers = 429, {"Retry-After": "240"}
    await seed.defect(services)
    now = services.clock.now()
    await deliver_pending(services)

    (create,) = await rows(services.db, "tracker.create_issue")
    assert create.status == "pending" and create.next_attempt_at >= now + dt.timedelta(seconds=240)


async def test_gives_up_after_max_attempts_with_backoff(services, seed, vendors, fake_slack):
    vendors.jira.down = True
    await seed.defect(services)
    waits = []
    for _ in range(outbox.MAX_ATTEMPTS):
        before = services.clock.now()
        await deliver_pending(services)
        (create,) = await rows(services.db, "tracker.create_issue")
        if create.status == "pending":
            waits.append((create.next_attempt_at - before).total_seconds())
            services.clock.set(create.next_attempt_at)
    assert create.status == "dead" and create.attempts == outbox.MAX_ATTEMPTS
    assert waits == sorted(waits) or waits[-1] <= outbox.MAX_DELAY.total_seconds()
    assert waits[0] <= outbox.BASE_DELAY.total_seconds() and waits[-1] > 8 * outbox.BASE_DELAY.total_seconds()
    assert any("could not deliver" in m["text"] for m in fake_slack.messages("C0AUDIT"))


async def test_two_workers_never_deliver_the_same_row(services, seed, fake_slack):
    for n in range(4):
        await seed.defect(services, category="tone", template_id=f"t{n}")
    first, second = await asyncio.gather(deliver_pending(services), deliver_pending(services))
    services.clock.advance(minutes=1)  # rows that waited for a card the other worker was posting
    later = await deliver_pending(services)

    total = await rows(services.db)
    assert first.delivered + second.delivered + later.delivered == len(total) == 12
    assert {r.status for r in total} == {"done"}
    cards = fake_slack.messages("C0DEFECTS")
    assert len(cards) == 4
    assert all(len(fake_slack.thread("C0DEFECTS", c["ts"])) == 1 for c in cards)
    assert len(fake_slack.calls("chat.postMessage")) == 12  # 4 cards, 4 thread posts, 4 item links


async def test_command_deliver_flushes_and_reports(
    db, clock, config, settings, fake_slack, seed, monkeypatch, capsys
):
    settings.slack_api_url = fake_slack.url
    env = CliEnv(settings, clock=clock, _config=config, _db=db)
    services = await env.services(slack=True)
    await seed.defect(services, category="tone")
    code = await command_deliver(argparse.Namespace(dead=False), env)

    assert code == 0 and "delivered 3" in capsys.readouterr().out
    assert len(fake_slack.messages("C0DEFECTS")) == 1
