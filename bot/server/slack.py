"""Before serving: the bot token (auth.test) and the app token (apps.connections.open) checked.

A token Slack refuses stops `auditbot run` with one line naming the variable (exit 2), instead of
a process that retries for ever while claiming to serve. Slack being unreachable is retried a
few times, then stops the run (exit 1).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.core.settings import README_SETUP, ConfigError

log = logging.getLogger("auditbot")

REFUSED = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
    "missing_scope",
    "no_permission",
    "ekm_access_denied",
}
TRIES = 4
FIRST_WAIT = 1.0


async def check_slack(client: Any, app_token: str | None, *, sleep: Any = asyncio.sleep) -> None:
    """Raise ConfigError (one line) if Slack refuses the bot token, or the app token when given."""
    await _checked(lambda: client.auth_test(), "SLACK_BOT_TOKEN", "the Bot User OAuth Token", sleep)
    if app_token:
        what = "an app-level token (xapp-…) with connections:write"
        await _checked(
            lambda: client.apps_connections_open(app_token=app_token), "SLACK_APP_TOKEN", what, sleep
        )


async def _checked(call: Any, variable: str, what: str, sleep: Any) -> None:
    wait = FIRST_WAIT
    for attempt in range(1, TRIES + 1):
        try:
            await call()
            return
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            if error in REFUSED or exc.response.status_code in (401, 403):
                raise ConfigError(
                    f"Slack refused {variable} ({error}): it must be {what}; see {README_SETUP}"
                ) from None
            problem = f"Slack answered {exc.response.status_code} {error}"
            if exc.response.status_code < 500 and error != "ratelimited":
                raise RuntimeError(f"checking {variable}: {problem}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            problem = f"Slack unreachable ({type(exc).__name__})"
        if attempt == TRIES:
            raise RuntimeError(f"checking {variable}: {problem}; is SLACK_API_URL right?")
        log.warning("checking %s: %s; trying again in %.0f s", variable, problem, wait)
        await sleep(wait)
        wait *= 2
