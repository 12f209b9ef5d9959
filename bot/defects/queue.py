"""Queueing effects in the caller's transaction, with keys that make each one happen once."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import AuditConfig
from bot.core.models import Defect, DefectGroup, OutboxItem, SampleItem
from bot.core.places import Place, group_place
from bot.delivery.outbox import enqueue


def _unique(kind: str, group_id: int | None) -> str:
    return f"{kind}:g{group_id}:{uuid.uuid4().hex}"


def thread_sequence(group_id: int) -> str:
    """A group's thread posts go out in the order they were queued (bot.delivery.outbox)."""
    return f"slack.thread:g{group_id}"


def tracker_sequence(group_id: int) -> str:
    """So do its tracker comments and state changes: a fix's "done" is never overtaken by the
    "open" of a later recurrence. (Its issue's creation, which they wait for, is not in it.)"""
    return f"tracker:g{group_id}"


# The effects delivered in the order they were queued, each in its group's sequence.
_SEQUENCED = {
    "slack.thread_post": thread_sequence,
    "tracker.comment": tracker_sequence,
    "tracker.set_state": tracker_sequence,
}


async def queue_effect(
    session: AsyncSession, kind: str, key: str, payload: dict[str, Any], now: dt.datetime
) -> OutboxItem:
    """`enqueue`, in the group's sequence (`payload["group_id"]`) for the effects whose order shows."""
    sequenced = _SEQUENCED.get(kind)
    sequence = sequenced(payload["group_id"]) if sequenced else None
    return await enqueue(session, kind, key, payload, now, sequence=sequence)


async def queue_card(session: AsyncSession, group: DefectGroup, now: dt.datetime) -> OutboxItem:
    """Post the card if it never was (one deterministic row), else edit it with the latest state."""
    post_key = f"slack.group_card:g{group.id}:post"
    exists = await session.execute(sa.select(OutboxItem.id).where(OutboxItem.idempotency_key == post_key))
    key = (
        post_key
        if group.thread_ts is None and exists.first() is None
        else _unique("slack.group_card", group.id)
    )
    return await queue_effect(session, "slack.group_card", key, {"group_id": group.id}, now)


def _occurrence_key(defect_id: int) -> str:
    return f"slack.thread_post:defect:{defect_id}"


async def queue_thread_post(
    session: AsyncSession,
    group: DefectGroup,
    text: str,
    now: dt.datetime,
    defect_id: int | None = None,
    *,
    again: bool = False,
) -> OutboxItem:
    """A post in the group's thread; with `defect_id`, the occurrence's post (once, unless `again`:
    a defect that moved to another group is posted there too, under a key of its own)."""
    if defect_id and again:
        key = f"{_occurrence_key(defect_id)}:moved:{uuid.uuid4().hex}"
    else:
        key = _occurrence_key(defect_id) if defect_id else _unique("slack.thread_post", group.id)
    payload = {"group_id": group.id, "text": text, "defect_id": defect_id}
    return await queue_effect(session, "slack.thread_post", key, payload, now)


async def queue_item_link(
    session: AsyncSession, group: DefectGroup, item: SampleItem, defect: Defect, now: dt.datetime
) -> OutboxItem:
    payload = {"group_id": group.id, "item_id": item.id}
    return await queue_effect(session, "slack.item_link", f"slack.item_link:defect:{defect.id}", payload, now)


async def queue_create_issue(
    session: AsyncSession, group: DefectGroup, *, project: str | None, labels: list[str], now: dt.datetime
) -> OutboxItem:
    payload = {"group_id": group.id, "project": project, "labels": list(labels)}
    key = f"tracker.create_issue:g{group.id}"
    return await queue_effect(session, "tracker.create_issue", key, payload, now)


async def queue_tracker_comment(
    session: AsyncSession,
    group: DefectGroup,
    now: dt.datetime,
    *,
    defect_id: int | None = None,
    text: str | None = None,
) -> OutboxItem | None:
    if group.tracker == "none":
        return None
    key = (
        f"tracker.comment:g{group.id}:defect:{defect_id}"
        if defect_id
        else _unique("tracker.comment", group.id)
    )
    payload = {"group_id": group.id, "defect_id": defect_id, "text": text}
    return await queue_effect(session, "tracker.comment", key, payload, now)


async def queue_set_state(
    session: AsyncSession, group: DefectGroup, state: str, now: dt.datetime
) -> OutboxItem:
    payload = {"group_id": group.id, "state": state}
    key = _unique("tracker.set_state", group.id)
    return await queue_effect(session, "tracker.set_state", key, payload, now)


async def queue_helpdesk_note(session: AsyncSession, defect: Defect, now: dt.datetime) -> OutboxItem:
    key = f"helpdesk.note:defect:{defect.id}"
    return await queue_effect(session, "helpdesk.note", key, {"defect_id": defect.id}, now)


async def state_change_pending(session: AsyncSession, group_id: int) -> bool:
    """True while a state change we made is not yet on the tracker (don't read the old state back)."""
    stmt = sa.select(OutboxItem.id).where(
        OutboxItem.idempotency_key.like(f"tracker.set_state:g{group_id}:%"),
        OutboxItem.status != "done",
    )
    return (await session.execute(stmt)).first() is not None


async def occurrence_place(session: AsyncSession, defect_id: int, config: AuditConfig) -> Place | None:
    """A defect's occurrence post (the message with its Move button) and its group's owners."""
    defect = await session.get(Defect, defect_id)
    if defect is None:
        return None
    group = await group_place(session, defect.group_id, config)
    key = _occurrence_key(defect_id)
    stmt = (  # its latest post: a defect moved to another group is posted again there
        sa.select(OutboxItem.result)
        .where(sa.or_(OutboxItem.idempotency_key == key, OutboxItem.idempotency_key.like(f"{key}:moved:%")))
        .order_by(OutboxItem.id.desc())
        .limit(1)
    )
    posted = (await session.execute(stmt)).scalar_one_or_none() or {}
    return Place(defect_id, None, posted.get("ts"), group.owners if group else ())


async def wake_tracker_effects(session: AsyncSession, group_id: int, now: dt.datetime) -> None:
    """The group's issue exists now: its comments and state changes waiting for it are due."""
    await session.execute(
        sa.update(OutboxItem)
        .where(
            OutboxItem.status == "pending",
            sa.or_(
                OutboxItem.idempotency_key.like(f"tracker.comment:g{group_id}:%"),
                OutboxItem.idempotency_key.like(f"tracker.set_state:g{group_id}:%"),
            ),
        )
        .values(next_attempt_at=now)
    )
