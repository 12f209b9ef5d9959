"""Slack Web API calls made by effects: the client, and its failures mapped onto IntegrationError."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.core.services import Services
from integrations.base import AuthError, PermanentError, TransientError

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
