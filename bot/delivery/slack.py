"""Slack Web API calls made by effects: the client, its failures mapped onto IntegrationError, and
posting a message once.

`post_once` puts the outbox row's id in the message's metadata. A retry of a row that may have
posted already (an earlier attempt failed after sending, or its worker died before recording
the answer) first looks for a message carrying that id, in the thread or in the channel since
the row was queued, and adopts it instead of posting again (see bot.delivery.lookup)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.core.models import OutboxItem
from bot.core.services import Services
from bot.delivery.lookup import CLOCK_SKEW, find_in_channel, find_in_thread, slack_ts
from integrations.base import AuthError, PermanentError, TransientError

OUTBOX_EVENT = "auditbot_outbox"  # message metadata: {"outbox_id": <row id>}

SLACK_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope"}
SLACK_TRANSIENT_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}


def slack_client(services: Services) -> Any:
    """The services' Web API client; a permanent failure when the bot has no token."""
    if services.client is None:
        raise PermanentError("no Slack client: SLACK_BOT_TOKEN is not set")
    return services.client


async def call_slack(call: Awaitable[Any]) -> Any:
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


def may_have_happened(row: OutboxItem) -> bool:
    """Whether an earlier attempt at this row may have reached the vendor (so look before acting)."""
    return row.attempts > 1 or row.last_error is not None


async def post_once(
    services: Services, row: OutboxItem, *, channel: str, thread_ts: str | None = None, **message: Any
) -> dict[str, Any]:
    """chat.postMessage for this outbox row, at most once: {"ts", "channel"} of the message."""
    client = slack_client(services)
    metadata = {"event_type": OUTBOX_EVENT, "event_payload": {"outbox_id": row.id}}
    if may_have_happened(row):
        found = {"event_type": OUTBOX_EVENT, "key": "outbox_id", "value": row.id}
        if thread_ts:
            ts = await call_slack(find_in_thread(client, channel, thread_ts, **found))  # type: ignore[arg-type]
        else:
            since = slack_ts(row.created_at - CLOCK_SKEW)
            ts = await call_slack(find_in_channel(client, channel, since, **found))  # type: ignore[arg-type]
        if ts is not None:
            return {"ts": ts, "channel": channel, "found": True}
    posted = await call_slack(
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, metadata=metadata, **message)
    )
    return {"ts": posted["ts"], "channel": posted["channel"]}
