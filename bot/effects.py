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

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import sqlalchemy as sa
from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import issue_content
from bot.effect_queue import queue_card
from bot.models import Defect, DefectGroup, OutboxItem, Reply, SampleItem
from bot.outbox import Deferred, Outcome
from bot.redact import safe_mrkdwn, truncate
from bot.views.defect import GroupCard, build_group_card, build_thread_post, card_text, link
from integrations.base import (
    AuthError,
    HelpdeskSink,
    IntegrationError,
    IssueRef,
    IssueTracker,
    PermanentError,
    Section,
    TransientError,
)

if TYPE_CHECKING:
    from bot.app import Services
    from bot.config import AuditConfig, Settings

log = logging.getLogger("auditbot.effects")

HELPDESK_TAGS = ("auditbot",)
SLACK_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope"}
SLACK_TRANSIENT_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}
TRACKER_ENV = {
    "jira": "JIRA_URL, JIRA_EMAIL and JIRA_API_TOKEN",
    "linear": "LINEAR_API_KEY",
    "github": "GITHUB_TOKEN and GITHUB_REPO",
}


@dataclass
class Integrations:
    """The trackers and helpdesks effects talk to; tests put instances with fake transports here."""

    trackers: dict[str, IssueTracker] = field(default_factory=dict)
    helpdesks: dict[str, HelpdeskSink] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, config: AuditConfig) -> Integrations:
        """Every vendor whose credentials are set in the environment."""
        from integrations import github, jira, linear
        from integrations.intercom import IntercomClient
        from integrations.zendesk import ZendeskClient

        trackers = {"jira": jira.from_settings(settings), "linear": linear.from_settings(settings)}
        trackers["github"] = github.from_settings(settings)
        helpdesks = {
            "zendesk": ZendeskClient.from_settings(settings, config),
            "intercom": IntercomClient.from_settings(settings, config),
        }
        return cls(
            {k: v for k, v in trackers.items() if v is not None},
            {k: v for k, v in helpdesks.items() if v is not None},
        )

    def tracker(self, name: str) -> IssueTracker:
        found = self.trackers.get(name)
        if found is None:
            need = TRACKER_ENV.get(name, "its credentials")
            raise PermanentError(f"routing names tracker {name!r} but it is not configured: set {need}")
        return found


def integrations(services: Services) -> Integrations:
    """The services' registry, built from the environment on first use."""
    found = services.extras.get("integrations")
    if not isinstance(found, Integrations):
        found = Integrations.from_settings(services.settings, services.config)
        services.extras["integrations"] = found
    return found


# -- delivery ------------------------------------------------------------------------------------

Effect = Callable[["Services", OutboxItem], Awaitable[Outcome]]


async def run_effect(services: Services, row: OutboxItem) -> Outcome:
    effect = EFFECTS.get(row.kind)
    if effect is None:
        raise PermanentError(f"unknown outbox effect {row.kind!r}")
    return await effect(services, row)


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
    tracker = integrations(services).tracker(group.tracker)
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

    return Outcome({"key": ref.key, "url": ref.url, "id": ref.id, "marker": draft.marker}, apply)


async def _comment(services: Services, row: OutboxItem) -> Outcome:
    payload = row.payload or {}
    group = await _group(services, payload["group_id"])
    if group.tracker == "none":
        return Outcome({"skipped": "no tracker"})
    issue = _issue(group)
    tracker = integrations(services).tracker(group.tracker)
    if payload.get("defect_id"):
        async with services.db.session() as session:
            sections = await issue_content.occurrence_sections(session, group, payload["defect_id"])
    else:
        sections = [Section("Update from auditbot", payload.get("text") or "")]
    await tracker.add_comment(issue, sections)
    return Outcome({"key": issue.key})


async def _set_state(services: Services, row: OutboxItem) -> Outcome:
    payload = row.payload or {}
    group = await _group(services, payload["group_id"])
    issue = _issue(group)
    await integrations(services).tracker(group.tracker).set_state(issue, payload["state"])
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
    sink = integrations(services).helpdesks.get(reply.source)
    if sink is None:
        return Outcome({"skipped": f"no helpdesk configured for source {reply.source!r}"})
    note = await sink.add_note(
        ticket_id=reply.ticket_id, body=body, tags=HELPDESK_TAGS, idempotency_key=row.idempotency_key
    )
    return Outcome({"ticket_id": note.ticket_id, "note_id": note.note_id})


async def load_card(session: AsyncSession, group_id: int) -> GroupCard:
    """The card as the database says it is now."""
    from bot.defects import reviewers

    group = await session.get(DefectGroup, group_id, populate_existing=True)
    if group is None:
        raise PermanentError(f"defect group {group_id} no longer exists")
    merged_into = None
    if group.merged_into_id:
        target = await session.get(DefectGroup, group.merged_into_id)
        merged_into = target.title if target else None
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
    )


async def _group_card(services: Services, row: OutboxItem) -> Outcome:
    group_id = (row.payload or {})["group_id"]
    async with services.db.session() as session:
        card = await load_card(session, group_id)
        group = await session.get(DefectGroup, group_id)
        assert group is not None
    blocks = [b.to_dict() for b in build_group_card(card)]
    text = card_text(card)
    client = _client(services)
    if group.thread_ts:
        await _slack(client.chat_update(channel=group.channel, ts=group.thread_ts, text=text, blocks=blocks))
        return Outcome({"ts": group.thread_ts, "edited": True})
    if not row.idempotency_key.endswith(":post"):
        raise Deferred(f"the card of group {group_id} is not posted yet")
    posted = await _slack(client.chat_postMessage(channel=group.channel, text=text, blocks=blocks))
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
    posted = await _slack(
        _client(services).chat_postMessage(
            channel=group.channel,
            thread_ts=group.thread_ts,
            text=truncate(payload["text"], 3000),
            blocks=blocks,
        )
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
    posted = await _slack(
        _client(services).chat_postMessage(channel=item.channel, thread_ts=item.message_ts, text=text)
    )
    return Outcome({"ts": posted["ts"]})


EFFECTS: dict[str, Effect] = {
    "tracker.create_issue": _create_issue,
    "tracker.comment": _comment,
    "tracker.set_state": _set_state,
    "helpdesk.note": _helpdesk_note,
    "slack.group_card": _group_card,
    "slack.thread_post": _thread_post,
    "slack.item_link": _item_link,
}


async def announce_dead_letter(services: Services, row: OutboxItem, error: str) -> None:
    """Tell the defects channel that an effect gave up, so a person fixes the cause and retries."""
    channel = services.config.slack.defects_channel
    if services.client is None or not channel:
        return
    about = (row.payload or {}).get("group_id")
    what = f"`{row.kind}`" + (f" for defect group #{about}" if about else "")
    text = (
        f"⚠️ auditbot could not deliver {what} after {row.attempts} attempt(s): "
        f"{truncate(safe_mrkdwn(error), 600)}\nIt will not be retried on its own: fix the cause, "
        "then run `auditbot deliver --dead`."
    )
    try:
        await _slack(services.client.chat_postMessage(channel=channel, text=text))
    except IntegrationError as exc:  # Slack itself may be what is failing; the row stays dead
        log.warning("could not announce dead letter %s: %s", row.id, exc)


def _client(services: Services) -> Any:
    if services.client is None:
        raise PermanentError("no Slack client: SLACK_BOT_TOKEN is not set")
    return services.client


async def _slack(call: Awaitable[Any]) -> Any:
    """Await a Web API call, mapping its failures onto the IntegrationError hierarchy."""
    try:
        return await call
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        status = exc.response.status_code
        detail = f"slack answered {status} {error or 'error'}"
        if status == 429 or status >= 500 or error in SLACK_TRANSIENT_ERRORS:
            retry = exc.response.headers.get("Retry-After") if exc.response.headers else None
            raise TransientError(detail, vendor="slack", status=status, retry_after=_seconds(retry)) from exc
        if error in SLACK_AUTH_ERRORS:
            raise AuthError(detail, vendor="slack", status=status) from exc
        raise PermanentError(detail, vendor="slack", status=status) from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise TransientError(f"slack unreachable: {type(exc).__name__}", vendor="slack") from exc


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
