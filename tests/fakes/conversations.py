"""The fake's read methods: conversations.replies and conversations.history."""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.fakes.errors import SlackError

HISTORY_LIMIT = (100, 999)  # conversations.history `limit`: default and maximum
CURSOR_PREFIX = "next_ts:"  # Slack's history cursors are base64 of "next_ts:<ts digits>"


class ConversationReads:
    """Mixed into Workspace: reads messages it stores."""

    messages: dict[str, list[dict[str, Any]]]
    bot_user_id: str
    history_cap: int

    channel: Callable[[Any], list[dict[str, Any]]]
    find: Callable[[str, str], dict[str, Any] | None]
    replies: Callable[[str, str], list[dict[str, Any]]]

    def m_conversations_replies(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        self.channel(args["channel"])
        parent = self.find(args["channel"], args["ts"])
        if parent is None:
            raise SlackError("thread_not_found")
        replies = self.replies(args["channel"], args["ts"])
        if replies:
            parent = {**parent, "reply_users": [self.bot_user_id], "subscribed": False}
        shown = [_as_read(m, _flag(args.get("include_all_metadata"))) for m in [parent, *replies]]
        return {"messages": shown, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def m_conversations_history(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        """Top-level messages newest first, between `oldest` and `latest`, a page at a time."""
        messages = self.channel(args["channel"])
        oldest = _ts_arg(args.get("oldest"), "invalid_ts_oldest") or Decimal(0)
        latest = _ts_arg(args.get("latest"), "invalid_ts_latest")
        inclusive = _flag(args.get("inclusive"))
        try:
            limit = int(args.get("limit") or HISTORY_LIMIT[0])
        except ValueError:
            raise SlackError("invalid_arguments", ["[ERROR] limit must be an integer"]) from None
        limit = min(max(limit, 1), self.history_cap)

        def in_range(ts: Decimal) -> bool:
            after = ts >= oldest if inclusive else ts > oldest
            before = latest is None or (ts <= latest if inclusive else ts < latest)
            return after and before

        shown = [
            m
            for m in reversed(messages)
            if m.get("thread_ts") in (None, m["ts"]) and in_range(Decimal(m["ts"]))
        ]
        if args.get("cursor"):
            start = _cursor_ts(args["cursor"])
            shown = [m for m in shown if Decimal(m["ts"]) <= start]
        page, rest = shown[:limit], shown[limit:]
        cursor = base64.b64encode(f"{CURSOR_PREFIX}{rest[0]['ts']}".encode()).decode() if rest else ""
        return {
            "messages": [_as_read(m, _flag(args.get("include_all_metadata"))) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }


# -- argument and message helpers -----------------------------------------------------------


def _flag(value: Any) -> bool:
    """A boolean argument as Slack reads it: the SDK sends "1"/"0", JSON bodies send true/false."""
    return value is True or str(value).lower() in ("1", "true")


def _ts_arg(value: Any, error: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        ts = Decimal(str(value))
    except InvalidOperation:
        raise SlackError(error) from None
    if not ts.is_finite():
        raise SlackError(error)
    return ts


def _cursor_ts(cursor: str) -> Decimal:
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if not decoded.startswith(CURSOR_PREFIX):
        raise SlackError("invalid_cursor")
    try:
        return Decimal(decoded.removeprefix(CURSOR_PREFIX))
    except InvalidOperation:
        raise SlackError("invalid_cursor") from None


def _as_read(message: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
    """A stored message as a read method returns it: metadata only when asked for."""
    shown = copy.deepcopy(message)
    if not with_metadata:
        shown.pop("metadata", None)
    return shown
