"""Find a message this app may already have posted, by the Slack message metadata it carries.

Only asked when a message was claimed but its ts never stored (a crash or a lost answer between
Slack accepting the post and our commit), so the calls are rare and bounded: at most `PAGES`
pages. A lookup that Slack refuses (rate limited beyond the client's retries, missing scope, ...)
or that runs out of pages answers None, and the caller posts again: a duplicate message is
visible and harmless to the numbers (both copies carry the same item id, and verdicts are one per
item and reviewer), while an item never posted would silently shrink the day's sample.
Transport errors propagate: the claim stays and the next run looks again."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError

log = logging.getLogger("auditbot.lookup")

Page = Callable[[str | None], Awaitable[Any]]
PAGES = 10
HISTORY_LIMIT = 100  # Slack caps it (15 for apps distributed outside the Marketplace): we follow cursors
REPLIES_LIMIT = 200
CLOCK_SKEW = dt.timedelta(minutes=10)  # our clock against Slack's, when a bound comes from our clock


def slack_ts(moment: dt.datetime) -> str:
    """A Slack timestamp ("seconds.micros") for an aware datetime."""
    return f"{moment.timestamp():.6f}"


def carries(message: dict[str, Any], event_type: str, key: str, value: int) -> bool:
    """Whether `message` has our metadata naming this object."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == event_type and payload.get(key) == value


async def find_in_thread(
    client: Any, channel: str, thread_ts: str, *, event_type: str, key: str, value: int
) -> str | None:
    """The ts of a reply in the thread carrying this metadata, if Slack shows one."""

    async def page(cursor: str | None) -> Any:
        return await client.conversations_replies(
            channel=channel, ts=thread_ts, include_all_metadata=True, limit=REPLIES_LIMIT, cursor=cursor
        )

    return await _search(page, "conversations.replies", event_type, key, value)


async def find_in_channel(
    client: Any, channel: str, oldest: str, *, event_type: str, key: str, value: int
) -> str | None:
    """The ts of a top-level message after `oldest` carrying this metadata, newest first."""

    async def page(cursor: str | None) -> Any:
        return await client.conversations_history(
            channel=channel, oldest=oldest, include_all_metadata=True, limit=HISTORY_LIMIT, cursor=cursor
        )

    return await _search(page, "conversations.history", event_type, key, value)


async def _search(page: Page, method: str, event_type: str, key: str, value: int) -> str | None:
    cursor = None
    for _ in range(PAGES):
        try:
            response = await page(cursor)
        except SlackApiError as exc:
            log.warning(
                "%s refused (%s): cannot tell whether %s %s was posted; posting it again",
                method,
                exc.response.get("error"),
                key,
                value,
            )
            return None
        for message in response.get("messages") or []:
            if carries(message, event_type, key, value):
                return str(message["ts"])
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None  # read to the end: it was never posted
    log.warning("%s %s not within %d pages of %s: posting it again", key, value, PAGES, method)
    return None
