"""What listeners, jobs and commands share: settings, team config, database, clock, Slack client."""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.clock import Clock, SystemClock
from bot.core.config import AuditConfig
from bot.core.db import Database
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


def build_client(settings: Settings) -> AsyncWebClient:
    """The Web API client, pointed at `SLACK_API_URL`, waiting out 429s (Retry-After)."""
    base_url = settings.slack_api_url
    if not base_url.endswith("/"):
        base_url += "/"
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=base_url, timeout=15)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=5))
    return client
