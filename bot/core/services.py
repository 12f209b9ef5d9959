"""What listeners, jobs and commands share: settings, team config, database, clock, Slack client."""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.clock import Clock, SystemClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.inflight import Inflight
from bot.core.settings import Settings


@dataclass
class Services:
    """What listeners and jobs need, handed to every listener as `context["services"]`."""

    settings: Settings
    config: AuditConfig
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    client: AsyncWebClient | None = None
    extras: dict[str, object] = field(default_factory=dict)
    inflight: Inflight = field(default_factory=Inflight)  # acknowledged work a stop must finish


# Methods whose repetition changes nothing, so a request lost with its connection may be re-sent.
# Posting methods are not here: the outbox and the sample poster retry those themselves, after
# looking for the message they may already have posted.
IDEMPOTENT_METHODS = frozenset(
    {
        "apps.connections.open",
        "auth.test",
        "chat.update",
        "conversations.history",
        "conversations.replies",
        "usergroups.users.list",
        "users.info",
        "views.publish",
        "views.update",
    }
)


class IdempotentRetryHandler(AsyncConnectionErrorRetryHandler):
    """The SDK's retry on a dropped connection, for idempotent methods only (never a post)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        if method not in IDEMPOTENT_METHODS:
            return False
        return await super()._can_retry_async(state=state, request=request, response=response, error=error)


def build_client(settings: Settings) -> AsyncWebClient:
    """The Web API client, pointed at `SLACK_API_URL`, waiting out 429s (Retry-After).

    A 429 means Slack did nothing, so every method is retried after it. A dropped connection
    is retried only for idempotent methods: the SDK's default would re-send `chat.postMessage`
    blindly and could post twice."""
    base_url = settings.slack_api_url
    if not base_url.endswith("/"):
        base_url += "/"
    retries = [IdempotentRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=5)]
    return AsyncWebClient(
        token=settings.slack_bot_token, base_url=base_url, timeout=15, retry_handlers=retries
    )
