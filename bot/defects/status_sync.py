"""Tracker status back into Slack: polling open groups' issues, and applying a vendor's change.

When an issue is done the group is fixed (time to fix stored), its card says "✅ Fixed" and the
reviewers who caught it are thanked in the thread; a reopened issue reopens the group.

Webhook deliveries are taken once and in order (`receive_webhook`): a delivery is claimed by its
vendor id (`X-GitHub-Delivery`, `Linear-Delivery`, `X-Atlassian-Webhook-Identifier`; a hash of
the body when there is none) in the transaction that applies it, so a repeat changes nothing; one
sent (or, for Jira, about an event) more than STALE_AFTER ago is refused; and a change that
happened before the group's last status change (`status_changed_at`, set by every change, in
Slack or from the tracker) never overrides it. A polled state is the issue as it is now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.core.access import claim_event
from bot.core.models import DefectGroup
from bot.defects.effects import deliver_pending
from bot.defects.groups import fix_group, group_for_issue, reopen_group
from bot.defects.queue import state_change_pending
from bot.delivery.vendors import vendors
from integrations.base import Delivery, IntegrationError, IssueRef, IssueState

if TYPE_CHECKING:
    from bot.core.services import Services

log = logging.getLogger("auditbot.status_sync")

REOPEN_WINDOW = dt.timedelta(days=30)  # fixed groups polled this long for a reopened issue
STALE_AFTER = dt.timedelta(minutes=5)  # webhook deliveries sent longer ago than this are refused


@dataclass
class SyncReport:
    checked: int = 0
    fixed: int = 0
    reopened: int = 0
    errors: int = 0


@dataclass
class WebhookOutcome:
    """What the endpoint answers: its status and body, and whether the group changed."""

    status: int = 200
    change: str | None = None
    answer: dict[str, Any] = field(default_factory=lambda: {"ok": True})


async def receive_webhook(
    services: Services,
    tracker: str,
    delivery: Delivery,
    body: bytes,
    parsed: tuple[str, IssueState] | None,
) -> WebhookOutcome:
    """A signed webhook delivery: refused when stale, once when repeated, never back in time."""
    now = services.clock.now()
    if delivery.sent_at is not None and now - delivery.sent_at > STALE_AFTER:
        log.info("refused a %s delivery sent at %s", tracker, delivery.sent_at.isoformat())
        return WebhookOutcome(400, None, {"ok": False, "error": "stale delivery"})
    seen = f"webhook:{tracker}:" + (delivery.id or hashlib.sha256(body).hexdigest())[:100]
    if parsed is None:
        return WebhookOutcome(answer={"ok": True, "ignored": True})
    change = await apply_issue_state(services, tracker, *parsed, at=delivery.event_at, delivery=seen)
    if change in (DUPLICATE, OLDER):
        return WebhookOutcome(answer={"ok": True, "change": None, "ignored": change})
    return WebhookOutcome(change=change, answer={"ok": True, "change": change})


DUPLICATE = "duplicate delivery"
OLDER = "older than the group's last change"


async def apply_issue_state(
    services: Services,
    tracker: str,
    key: str,
    state: IssueState,
    *,
    at: dt.datetime | None = None,
    delivery: str | None = None,
) -> str | None:
    """Bring the group with this issue in line with the tracker; returns "fixed"/"reopened"/None,
    or DUPLICATE / OLDER when a webhook delivery (`delivery`, claimed here) changes nothing.

    `at` is when the tracker says the state changed (None: it is the state now, as polled)."""
    now = services.clock.now()
    async with services.db.transaction() as session:
        if delivery is not None and not await claim_event(session=session, event_id=delivery, now=now):
            return DUPLICATE
        group = await group_for_issue(session, tracker, key)
        if group is None:
            return None
        if at is not None and group.status_changed_at is not None and at < group.status_changed_at:
            log.info("%s %s: a change from %s is older than the group's last", tracker, key, at.isoformat())
            return OLDER
        # Our own pending "done"/"open" (a fix in Slack, a reopening after a recurrence) must not be
        # undone by reading the old state back.
        if state == "done" and group.status == "open":
            if await state_change_pending(session, group.id):  # type: ignore[arg-type]
                return None
            await fix_group(
                session=session,
                group_id=group.id,
                now=now,
                via_tracker=True,
                at=at,
                config=services.config,  # type: ignore[arg-type]
            )
            return "fixed"
        if state == "open" and group.status in ("fixed", "wont_fix"):
            if await state_change_pending(session, group.id):  # type: ignore[arg-type]
                return None
            await reopen_group(session=session, group_id=group.id, now=now, via_tracker=True, at=at)  # type: ignore[arg-type]
            return "reopened"
    return None


async def sync_tracker_status(services: Services) -> SyncReport:
    """Poll the issues of open groups (and of recently fixed ones) and apply what changed."""
    report = SyncReport()
    since = services.clock.now() - REOPEN_WINDOW
    stmt = sa.select(DefectGroup).where(
        DefectGroup.tracker != "none",
        DefectGroup.tracker_key.is_not(None),
        sa.or_(
            DefectGroup.status == "open",
            sa.and_(DefectGroup.status == "fixed", DefectGroup.fixed_at >= since),
        ),
    )
    async with services.db.session() as session:
        groups = list((await session.execute(stmt.order_by(DefectGroup.id))).scalars())
    registry = vendors(services)
    for group in groups:
        tracker = registry.trackers.get(group.tracker)
        if tracker is None:
            continue
        report.checked += 1
        try:
            state = await tracker.get_state(
                IssueRef(key=group.tracker_key or "", url=group.tracker_url or "")
            )
        except IntegrationError as exc:
            log.warning("status of %s %s unknown: %s", group.tracker, group.tracker_key, exc)
            report.errors += 1
            continue
        change = await apply_issue_state(services, group.tracker, group.tracker_key or "", state)
        report.fixed += change == "fixed"
        report.reopened += change == "reopened"
    if report.fixed or report.reopened:
        await deliver_pending(services)
    return report
