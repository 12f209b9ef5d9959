"""build_app(settings) -> AsyncApp: the Bolt app, its Web API client and the services it needs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, SystemClock
from bot.config import AuditConfig, Settings
from bot.db import Database

log = logging.getLogger("auditbot")


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


def build_app(
    settings: Settings,
    config: AuditConfig,
    db: Database,
    *,
    clock: Clock | None = None,
    client: AsyncWebClient | None = None,
) -> AsyncApp:
    """The Bolt app with every listener registered; the signing secret is always checked."""
    settings.require_slack()
    client = client or build_client(settings)
    services = Services(settings, config, db, clock or SystemClock(), client)
    bolt_logger = logging.getLogger("auditbot.bolt")
    bolt_logger.addFilter(_drop_token_warning)
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret,
        client=client,
        logger=bolt_logger,
        request_verification_enabled=True,
    )

    async def provide_services(context, next) -> None:
        context["services"] = services
        await next()

    app.use(provide_services)

    from handlers import register

    register(app)
    app.services = services  # type: ignore[attr-defined]  # for the web app and the scheduler
    return app


def _drop_token_warning(record: logging.LogRecord) -> bool:
    # Bolt reads SLACK_BOT_TOKEN itself and warns that our client's token wins; it is the same one.
    return "`token` will be unused" not in record.getMessage()


def services_of(app: AsyncApp) -> Services:
    return app.services  # type: ignore[attr-defined,no-any-return]
