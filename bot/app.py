"""build_app(settings) -> AsyncApp: the Bolt app, its Web API client and the services it needs."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener_start_handler import AsyncListenerStartHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.clock import Clock, SystemClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.services import Services, build_client
from bot.core.settings import Settings

log = logging.getLogger("auditbot")


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
    # Bolt runs each listener's body in a task of its own after the ack: a stop must finish them.
    app.listener_runner.listener_start_handler = TrackListeners(services)

    from handlers import register

    register(app)
    app.services = services  # type: ignore[attr-defined]  # for the web app and the scheduler
    return app


class TrackListeners(AsyncListenerStartHandler):
    """Registers every listener task (started after the ack) with `services.inflight`."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(self, request: object, response: object) -> None:
        self.services.inflight.add()


def _drop_token_warning(record: logging.LogRecord) -> bool:
    # Bolt reads SLACK_BOT_TOKEN itself and warns that our client's token wins; it is the same one.
    return "`token` will be unused" not in record.getMessage()


def services_of(app: AsyncApp) -> Services:
    return app.services  # type: ignore[attr-defined,no-any-return]
