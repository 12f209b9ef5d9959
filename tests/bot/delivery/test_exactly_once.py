"""Exactly once toward every vendor: the worker dies between the vendor's answer and our commit.

The fault hook is in the fake: it carries the request out, then kills the caller instead of
answering (SimulatedKill, which nothing in the worker catches). The row stays claimed; once its
lease has run out a new worker (a "restarted" process: new Services, same database and vendors)
delivers it again, and the effect's own guard (a ref searched for, a client-chosen id, an
idempotency key, message metadata) finds what the dead worker did instead of doing it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.core.models import DefectGroup, OutboxItem, SampleItem
from bot.defects.effects import deliver_pending
from bot.delivery import outbox
from tests.bot.defect_support import Vendors, make_services
from tests.bot.vendor_fakes import SimulatedKill


def is_post(path_end: str) -> Callable[[httpx.Request], bool]:
    return lambda r: r.method in ("POST", "PUT") and r.url.path.endswith(path_end)


def graphql(operation: str) -> Callable[[httpx.Request], bool]:
    return lambda r: f"{operation}(" in r.content.decode()


@dataclass(frozen=True)
class Case:
    kind: str  # the outbox effect that is interrupted
    vendor: str  # which fake kills
    kill_on: Callable[[httpx.Request], bool]
    count: Callable[[Vendors], int]  # the effects the vendor holds
    defect: dict[str, Any]  # how the two defects are filed


def jira_comments(v: Vendors) -> int:
    return sum(len(i["comments"]) for i in v.jira.issues.values())


def github_comments(v: Vendors) -> int:
    return sum(len(i["comments"]) for i in v.github.issues.values())


CASES = {
    "jira comment": Case(
        "tracker.comment", "jira", is_post("/comment"), jira_comments, {"category": "template_error"}
    ),
    "github comment": Case(
        "tracker.comment", "github", is_post("/comments"), github_comments, {"category": "wrong_information"}
    ),
    "linear comment": Case(
        "tracker.comment",
        "linear",
        graphql("commentCreate"),
        lambda v: len(v.linear.comments),
        {"category": "personalization"},
    ),
    "zendesk note": Case(
        "helpdesk.note",
        "zendesk",
        lambda r: r.method == "PUT" and r.url.path.count("/") == 4,  # the ticket update, not its tags
        lambda v: len(v.zendesk.notes),
        {"category": "tone", "helpdesk_note": True, "source": "zendesk"},
    ),
    "intercom note": Case(
        "helpdesk.note",
        "intercom",
        is_post("/reply"),
        lambda v: sum(len(p) for p in v.intercom.parts.values()),
        {"category": "tone", "helpdesk_note": True, "source": "intercom", "ticket_id": "215"},
    ),
}


async def rows(db, kind: str | None = None) -> list[OutboxItem]:  # type: ignore[no-untyped-def]
    stmt = sa.select(OutboxItem).order_by(OutboxItem.id)
    if kind:
        stmt = stmt.where(OutboxItem.kind == kind)
    async with db.session() as session:
        return list((await session.execute(stmt)).scalars())


async def restart(services, db, clock, settings, fake_slack, vendors):  # type: ignore[no-untyped-def]
    """A new worker process after the dead one's lease ran out."""
    clock.advance(seconds=outbox.LEASE.total_seconds() + 1)
    fresh = make_services(db, clock, services.config, settings, fake_slack.url, vendors)
    for _ in range(3):  # follow-ups (a card edit after the issue) are due a moment later
        await deliver_pending(fresh)
        clock.advance(minutes=2)
    return fresh


@pytest.mark.parametrize("name", list(CASES))
async def test_killed_after_the_vendor_answered_one_effect_after_restart(
    name, services, seed, vendors, db, clock, settings, fake_slack
):
    case = CASES[name]
    template = name.replace(" ", "_")
    await seed.defect(services, template_id=template, reviewer="U0REV1", **case.defect)
    await deliver_pending(services)  # the first occurrence: card, issue, …
    before = case.count(vendors)
    await seed.defect(services, template_id=template, reviewer="U0REV2", **case.defect)
    getattr(vendors, case.vendor).kill_after(case.kill_on)

    with pytest.raises(SimulatedKill):
        await deliver_pending(services)
    assert case.count(vendors) == before + 1  # the vendor did it; we never heard
    interrupted = [r for r in await rows(db, case.kind) if r.status == "delivering"]
    assert len(interrupted) == 1

    await restart(services, db, clock, settings, fake_slack, vendors)
    assert case.count(vendors) == before + 1  # found, not done again
    assert {r.status for r in await rows(db)} == {"done"}
    (again,) = [r for r in await rows(db, case.kind) if r.id == interrupted[0].id]
    assert again.attempts == 2


async def test_slack_posts_killed_after_slack_answered_are_found_not_repeated(
    services, seed, db, clock, settings, fake_slack, vendors
):
    """The card, the occurrence in its thread, the link under the sample item: each posted, then
    the worker dies before storing the answer; the retry finds the message by its metadata."""
    fake_slack.use_clock(clock.now)  # Slack's ts is the time of posting
    item_id = await seed.item()
    posted = await services.client.chat_postMessage(channel="C0AUDIT", text="the sample item")
    async with db.transaction() as session:
        await session.execute(
            sa.update(SampleItem).where(SampleItem.id == item_id).values(message_ts=posted["ts"])
        )
    await seed.defect(services, item_id=item_id, category="tone")
    died: list[str] = []

    async def die_once_per_kind(row: OutboxItem, _outcome: outbox.Outcome) -> None:
        if row.kind.startswith("slack.") and row.kind not in died:
            died.append(row.kind)
            raise SimulatedKill(row.kind)

    for _ in range(3):  # three workers, each killed right after one Slack post
        with pytest.raises(SimulatedKill):
            await deliver_pending(services, after_effect=die_once_per_kind)
        clock.advance(seconds=outbox.LEASE.total_seconds() + 1)
    await restart(services, db, clock, settings, fake_slack, vendors)

    assert sorted(died) == ["slack.group_card", "slack.item_link", "slack.thread_post"]
    posts = [c for c in fake_slack.calls("chat.postMessage") if c.ok and c.args["channel"] == "C0DEFECTS"]
    assert len(posts) == 2  # one card, one occurrence in its thread
    assert len(fake_slack.thread("C0AUDIT", posted["ts"])) == 1  # one link under the sample item
    async with db.session() as session:
        (group,) = (await session.execute(sa.select(DefectGroup))).scalars().all()
    assert [m["ts"] for m in fake_slack.messages("C0DEFECTS")] == [group.thread_ts]
    assert len(fake_slack.thread("C0DEFECTS", group.thread_ts)) == 1
    assert {r.status for r in await rows(db)} == {"done"}
    lookups = fake_slack.calls("conversations.history") + fake_slack.calls("conversations.replies")
    assert len(lookups) == 3  # one lookup per interrupted post, none for the others


async def test_a_slack_post_whose_connection_dropped_is_not_sent_again_blindly(
    services, seed, db, clock, fake_slack
):
    """Slack posts the message and the connection drops before the answer: the client does not
    re-send it (that retry would be blind); the outbox's retry looks first and adopts it."""
    fake_slack.use_clock(clock.now)
    fake_slack.hang_up("chat.postMessage", times=1)  # the card
    await seed.defect(services, category="tone")
    first = await deliver_pending(services)
    assert first.retried >= 1
    assert len([c for c in fake_slack.calls("chat.postMessage")]) == 1  # no SDK re-send
    clock.advance(hours=1)
    await deliver_pending(services)
    assert len(fake_slack.messages("C0DEFECTS")) == 1
    assert {r.status for r in await rows(db)} == {"done"}
