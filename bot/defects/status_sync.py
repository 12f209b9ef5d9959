"""Tracker status back into Slack: polling open groups' issues, and applying a vendor's change.

When an issue is done the group is fixed (time to fix stored), its card says "✅ Fixed" and the
reviewers who caught it are thanked in the thread; a reopened issue reopens the group.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from bot.core.models import DefectGroup
from bot.defects.effects import deliver_pending
from bot.defects.groups import fix_group, group_for_issue, reopen_group
from bot.defects.queue import state_change_pending
from bot.delivery.vendors import vendors
from integrations.base import IntegrationError, IssueRef, IssueState

if TYPE_CHECKING:
    from bot.core.services import Services

log = logging.getLogger("auditbot.status_sync")

REOPEN_WINDOW = dt.timedelta(days=30)  # fixed groups polled this long for a reopened issue


@dataclass
class SyncReport:
    checked: int = 0
    fixed: int = 0
    reopened: int = 0
    errors: int = 0


async def apply_issue_state(services: Services, tracker: str, key: str, state: IssueState) -> str | None:
    """Bring the group with this issue in line with the tracker; returns "fixed"/"reopened"/None."""
    now = services.clock.now()
    async with services.db.transaction() as session:
        group = await group_for_issue(session, tracker, key)
        if group is None:
            return None
        if state == "done" and group.status == "open":
            await fix_group(session=session, group_id=group.id, now=now, via_tracker=True)  # type: ignore[arg-type]
            return "fixed"
        # Our own pending "done"/"open" must not be undone by reading the old state back.
        if state == "open" and group.status in ("fixed", "wont_fix"):
            if await state_change_pending(session, group.id):  # type: ignore[arg-type]
                return None
            await reopen_group(session=session, group_id=group.id, now=now, via_tracker=True)  # type: ignore[arg-type]
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
