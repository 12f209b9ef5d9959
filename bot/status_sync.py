"""Tracker status back into Slack: polling open groups' issues, and the vendors' webhooks.

When an issue is done the group is fixed (time to fix stored), its card says "✅ Fixed" and the
reviewers who caught it are thanked in the thread; a reopened issue reopens the group.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.defects import fix_group, group_for_issue, reopen_group
from bot.effect_queue import state_change_pending
from bot.effects import integrations
from bot.models import DefectGroup
from bot.outbox import deliver_pending
from integrations.base import IntegrationError, IssueRef, IssueState

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger("auditbot.status_sync")

REOPEN_WINDOW = dt.timedelta(days=30)  # fixed groups polled this long for a reopened issue
SIGNATURE_HEADERS = {"jira": "X-Hub-Signature", "linear": "Linear-Signature", "github": "X-Hub-Signature-256"}


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
    registry = integrations(services)
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


def webhook_routes(services: Services) -> list[Route]:
    """`POST /webhooks/{jira,linear,github}`, each checked with its vendor's signature."""
    from integrations import github, jira, linear

    vendors = {"jira": jira, "linear": linear, "github": github}

    async def receive(request: Request) -> Response:
        name = request.path_params["vendor"]
        module = vendors.get(name)
        if module is None:
            return JSONResponse({"ok": False, "error": "unknown tracker"}, status_code=404)
        secret = getattr(services.settings, f"{name}_webhook_secret", None)
        body = await request.body()
        if not secret or not module.verify_signature(
            secret, body, request.headers.get(SIGNATURE_HEADERS[name])
        ):
            # Without a configured secret nothing can be verified, so nothing is accepted.
            return JSONResponse({"ok": False, "error": "bad or missing signature"}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"ok": False, "error": "body is not JSON"}, status_code=400)
        parsed = module.parse_webhook(payload) if isinstance(payload, dict) else None
        if parsed is None:
            return JSONResponse({"ok": True, "ignored": True})
        change = await apply_issue_state(services, name, *parsed)
        task = BackgroundTask(deliver_pending, services) if change else None
        return JSONResponse({"ok": True, "change": change}, background=task)

    return [Route("/webhooks/{vendor}", receive, methods=["POST"])]
