"""The outbox effect kinds: how each is queued and what delivering it does.

| kind                  | does                                                                   |
| --------------------- | ---------------------------------------------------------------------- |
| tracker.create_issue  | find-or-create the group's issue; store key/url; queue a card edit      |
| tracker.comment       | comment on the issue (a later occurrence, a status change)             |
| tracker.set_state     | move the issue to done/open                                            |
| helpdesk.note         | internal note + tag `auditbot` on the source ticket (Zendesk/Intercom) |
| slack.group_card      | post the group's card (first time) or edit it in place                 |
| slack.thread_post     | post in the group's thread                                             |
| slack.item_link       | post in the sample item's thread a link to the defect thread           |

Effects read the current state from the database when delivered, so a card edit always shows the
latest count, and each returns an `Outcome` whose DB changes commit with the row marked done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Defect, DefectGroup, OutboxItem, Reply, SampleItem
from bot.core.redact import truncate
from bot.core.services import Services
from bot.defects import content as issue_content
from bot.defects.queue import queue_card, wake_tracker_effects
from bot.defects.recurrence import recurrence_sections
from bot.defects.windows import latest_window
from bot.delivery import outbox
from bot.delivery.outbox import AfterEffect, Deferred, DeliveryReport, Effects, Outcome
from bot.delivery.slack import call_slack, may_have_happened, post_once, slack_client
from bot.delivery.vendors import vendors
from bot.views.defect import GroupCard, build_group_card, build_thread_post, card_text, link
from bot.views.verification import VerificationView, verification_line
from integrations.base import IssueRef, PermanentError, Section

HELPDESK_TAGS = ("auditbot",)


async def _group(services: Services, group_id: int) -> DefectGroup:
    async with services.db.session() as session:
        group = await session.get(DefectGroup, group_id)
    if group is None:
        raise PermanentError(f"defect group {group_id} no longer exists")
    return group


def _issue(group: DefectGroup) -> IssueRef:
    if not group.tracker_key:
        raise Deferred(f"group {group.id} has no {group.tracker} issue yet")
    return IssueRef(key=group.tracker_key, url=group.tracker_url or "")


async def _create_issue(services: Services, row: OutboxItem) -> Outcome:
    payload = row.payload or {}
    group = await _group(services, payload["group_id"])
    if group.tracker_key:
        return Outcome({"key": group.tracker_key, "existing": True})
    tracker = vendors(services).tracker(group.tracker)
    async with services.db.session() as session:
        draft = await issue_content.build_draft(
            session, group, project=payload.get("project"), labels=payload.get("labels") or []
        )
    ref = await tracker.create_issue(draft, idempotency_key=row.idempotency_key)

    async def apply(session: AsyncSession) -> None:
        await session.execute(
            sa.update(DefectGroup)
            .where(DefectGroup.id == group.id, DefectGroup.tracker_key.is_(None))
            .values(tracker_key=ref.key, tracker_url=ref.url)
        )
        stored = await session.get(DefectGroup, group.id, populate_existing=True)
        assert stored is not None
        await queue_card(session, stored, services.clock.now())
        await wake_tracker_effects(session, group.id, services.clock.now())  # type: ignore[arg-type]

    return Outcome({"key": ref.key, "url": ref.url, "id": ref.id, "marker": draft.marker}, apply)


async def _comment(services: Services, row: OutboxItem) -> Outcome:
    payload = row.payload or {}
    group = await _group(services, payload["group_id"])
    if group.tracker == "none":
        return Outcome({"skipped": "no tracker"})
    issue = _issue(group)
    tracker = vendors(services).tracker(group.tracker)
    if payload.get("defect_id"):
        async with services.db.session() as session:
            sections = await issue_content.occurrence_sections(session, group, payload["defect_id"])
    elif payload.get("verification_id"):  # the fix did not hold: the new cases
        async with services.db.session() as session:
            sections = await recurrence_sections(session, payload["verification_id"])
    else:
        sections = [Section("Update from auditbot", payload.get("text") or "")]
    await tracker.add_comment(issue, sections, key=row.idempotency_key, retry=may_have_happened(row))
    return Outcome({"key": issue.key})


async def _set_state(services: Services, row: OutboxItem) -> Outcome:
    payload = row.payload or {}
    group = await _group(services, payload["group_id"])
    issue = _issue(group)
    await vendors(services).tracker(group.tracker).set_state(issue, payload["state"])
    return Outcome({"key": issue.key, "state": payload["state"]})


async def _helpdesk_note(services: Services, row: OutboxItem) -> Outcome:
    async with services.db.session() as session:
        defect = await session.get(Defect, (row.payload or {})["defect_id"])
        if defect is None:
            raise PermanentError("the defect no longer exists")
        reply = await session.get(Reply, defect.reply_id)
        group = await session.get(DefectGroup, defect.group_id)
        assert reply is not None and group is not None
        body = await issue_content.note_body(session, defect, group)
    sink = vendors(services).helpdesks.get(reply.source)
    if sink is None:
        return Outcome({"skipped": f"no helpdesk configured for source {reply.source!r}"})
    note = await sink.add_note(
        ticket_id=reply.ticket_id, body=body, tags=HELPDESK_TAGS, idempotency_key=row.idempotency_key
    )
    return Outcome({"ticket_id": note.ticket_id, "note_id": note.note_id})


async def load_card(session: AsyncSession, group_id: int, min_reviews: int = 10) -> GroupCard:
    """The card as the database says it is now (`min_reviews`: `[verify] min_reviews`)."""
    from bot.defects.groups import reviewers

    group = await session.get(DefectGroup, group_id, populate_existing=True)
    if group is None:
        raise PermanentError(f"defect group {group_id} no longer exists")
    merged_into = None
    if group.merged_into_id:
        target = await session.get(DefectGroup, group.merged_into_id)
        merged_into = target.title if target else None
    window = await latest_window(session, group_id)
    verification = None
    if window is not None:
        view = VerificationView(
            window.status, window.started_at, window.ends_at, window.segment, min_reviews,
            window.traffic, window.matches, window.reviewed, window.decided_at,
        )  # fmt: skip
        verification = verification_line(view)
    return GroupCard(
        group_id=group_id,
        title=group.title,
        category=group.category,
        severity=group.severity,
        occurrences=group.occurrences,
        status=group.status,
        owner=group.owner,
        tracker=group.tracker,
        tracker_key=group.tracker_key,
        tracker_url=group.tracker_url,
        caught_by=tuple(await reviewers(session, group_id)),
        reason=group.reason,
        merged_into=merged_into,
        verification=verification,
    )


async def _group_card(services: Services, row: OutboxItem) -> Outcome:
    group_id = (row.payload or {})["group_id"]
    async with services.db.session() as session:
        card = await load_card(session, group_id, services.config.verify.min_reviews)
        group = await session.get(DefectGroup, group_id)
        assert group is not None
    blocks = [b.to_dict() for b in build_group_card(card)]
    text = card_text(card)
    client = slack_client(services)
    if group.thread_ts:
        await call_slack(
            client.chat_update(channel=group.channel, ts=group.thread_ts, text=text, blocks=blocks)
        )
        return Outcome({"ts": group.thread_ts, "edited": True})
    if not row.idempotency_key.endswith(":post"):
        raise Deferred(f"the card of group {group_id} is not posted yet")
    posted = await post_once(services, row, channel=group.channel or "", text=text, blocks=blocks)
    ts, channel = posted["ts"], posted["channel"]

    async def apply(session: AsyncSession) -> None:
        await session.execute(
            sa.update(DefectGroup)
            .where(DefectGroup.id == group_id, DefectGroup.thread_ts.is_(None))
            .values(thread_ts=ts, channel=channel)
        )

    return Outcome({"ts": ts, "channel": channel}, apply)


async def _thread_post(services: Services, row: OutboxItem) -> Outcome:
    payload = row.payload or {}
    group = await _group(services, payload["group_id"])
    if not group.thread_ts:
        raise Deferred(f"the card of group {group.id} is not posted yet")
    blocks = [b.to_dict() for b in build_thread_post(payload["text"], payload.get("defect_id"))]
    posted = await post_once(
        services,
        row,
        channel=group.channel or "",
        thread_ts=group.thread_ts,
        text=truncate(payload["text"], 3000),
        blocks=blocks,
    )
    return Outcome({"ts": posted["ts"]})


async def _item_link(services: Services, row: OutboxItem) -> Outcome:
    payload = row.payload or {}
    group = await _group(services, payload["group_id"])
    async with services.db.session() as session:
        item = await session.get(SampleItem, payload["item_id"])
    if item is None or not item.message_ts or not item.channel:
        return Outcome({"skipped": "the sample item has no message"})
    thread = issue_content.slack_link(group.channel, group.thread_ts)
    if thread is None:
        raise Deferred(f"the card of group {group.id} is not posted yet")
    text = f"🐞 Filed as a defect: {link(thread, truncate(group.title, 150))} — follow the fix in its thread."
    posted = await post_once(services, row, channel=item.channel, thread_ts=item.message_ts, text=text)
    return Outcome({"ts": posted["ts"]})


EFFECTS: Effects = {
    "tracker.create_issue": _create_issue,
    "tracker.comment": _comment,
    "tracker.set_state": _set_state,
    "helpdesk.note": _helpdesk_note,
    "slack.group_card": _group_card,
    "slack.thread_post": _thread_post,
    "slack.item_link": _item_link,
}


async def deliver_pending(
    services: Services,
    *,
    include_dead: bool = False,
    limit: int = 100,
    keys: Sequence[str] | None = None,
    after_effect: AfterEffect | None = None,
    stop: asyncio.Event | None = None,
) -> DeliveryReport:
    """Deliver the due defect effects (optionally only `keys`); `include_dead` revives dead letters;
    once `stop` is set, no further row is claimed."""
    return await outbox.deliver_due(
        services,
        EFFECTS,
        include_dead=include_dead,
        limit=limit,
        keys=keys,
        after_effect=after_effect,
        stop=stop,
    )
