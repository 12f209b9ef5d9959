"""The state and method logic behind the fake Slack Web API (no HTTP here)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import mimetypes
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.blockkit import check_blocks, check_view
from tests.fakes.conversations import HISTORY_LIMIT, ConversationReads
from tests.fakes.errors import SlackError

# Required arguments, from shared/specs/slack/method-docs/*.json (test_fake_slack checks the copy).
REQUIRED = {
    "auth.test": (),
    "chat.postMessage": ("channel",),
    "chat.update": ("channel", "ts"),
    "chat.postEphemeral": ("channel", "user"),
    "views.open": ("view",),
    "views.update": ("view",),
    "views.publish": ("user_id", "view"),
    "users.info": ("user",),
    "usergroups.users.list": ("usergroup",),
    "conversations.replies": ("channel", "ts"),
    "conversations.history": ("channel",),
    "files.getUploadURLExternal": ("filename", "length"),
    "files.completeUploadExternal": ("files",),
}
CHANNEL_ID = re.compile(r"^[CGDUW][A-Z0-9]{2,}$")
FIRST_TS = 1_700_000_000_000_000  # microseconds; every ts handed out is later than this
MAX_VIEW_BYTES = 250_000


class Workspace(ConversationReads):
    """One team: users, groups, channels with their messages, views and files."""

    def __init__(
        self,
        *,
        team_id: str,
        bot_user_id: str,
        bot_id: str,
        channels: set[str],
        single_use_triggers: bool,
    ) -> None:
        self.team_id, self.bot_user_id, self.bot_id = team_id, bot_user_id, bot_id
        self.channels = channels
        self.single_use_triggers = single_use_triggers
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.now: Callable[[], dt.datetime] | None = None  # set: ts follow this clock, as Slack's do
        self.history_cap = HISTORY_LIMIT[1]
        self.clear()

    def clear(self) -> None:
        """Forget everything posted; keep users, groups and channels."""
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, str] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.used_triggers: set[str] = set()
        self.seq = 0
        self.last_micros = 0

    def add_user(self, user_id: str, name: str, real_name: str = "", tz: str = "UTC") -> None:
        """Make users.info know `user_id`."""
        offset = ZoneInfo(tz).utcoffset(dt.datetime.now(dt.UTC).replace(tzinfo=None))
        real = real_name or name
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real,
            "deleted": False,
            "is_bot": False,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "profile": {"real_name": real, "display_name": name, "team": self.team_id},
        }

    def next_ts(self) -> str:
        self.seq += 1
        micros = FIRST_TS + self.seq * 100
        if self.now is not None:
            micros = int(self.now().timestamp() * 1_000_000)
        micros = max(micros, self.last_micros + 1)  # unique and increasing, even on a frozen clock
        self.last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}0FAKE{self.seq:06d}"

    def call(self, method: str, args: dict[str, Any], base_url: str) -> dict[str, Any]:
        """Run one Web API method; raises SlackError for an `ok: false` answer."""
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None or method not in REQUIRED:
            raise SlackError("unknown_method")
        missing = [name for name in REQUIRED[method] if args.get(name) in (None, "")]
        if missing:
            code = "missing_argument" if method.startswith("files.") else "invalid_arguments"
            raise SlackError(code, [f"[ERROR] missing required field: {name}" for name in missing])
        return {"ok": True, **handler(args, base_url)}

    # -- lookups ----------------------------------------------------------------------------

    def channel(self, channel: Any) -> list[dict[str, Any]]:
        known = channel in self.channels if self.channels else CHANNEL_ID.match(str(channel))
        if not known:
            raise SlackError("channel_not_found")
        return self.messages.setdefault(channel, [])

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.get(channel, []) if m.get("thread_ts") == ts and m["ts"] != ts]

    # -- chat -------------------------------------------------------------------------------

    def content(self, args: dict[str, Any], surface: str = "message") -> dict[str, Any]:
        blocks = args.get("blocks")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format")
            problems = check_blocks(blocks, surface)
            if problems:
                raise SlackError("invalid_blocks", problems)
        if not args.get("text") and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        metadata = args.get("metadata")
        if metadata is not None and not _metadata_ok(metadata):
            raise SlackError("invalid_metadata_format")
        content: dict[str, Any] = {"text": args.get("text") or ""}
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                content[key] = args[key]
        return content

    def post(self, channel: str, thread_ts: str | None, body: dict[str, Any]) -> dict[str, Any]:
        messages = self.channel(channel)
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "team": self.team_id,
            "ts": self.next_ts(),
            **body,
        }
        if thread_ts:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = self.bot_user_id
            parent = self.find(channel, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]
        messages.append(message)
        return message

    def m_chat_postMessage(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        self.channel(args["channel"])
        message = self.post(args["channel"], args.get("thread_ts"), self.content(args))
        return {"channel": args["channel"], "ts": message["ts"], "message": message}

    def m_chat_update(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        self.channel(args["channel"])
        message = self.find(args["channel"], args["ts"])
        if message is None:
            raise SlackError("message_not_found")
        content = self.content(args)
        for key in ("blocks", "attachments"):
            message.pop(key, None)
        message.update(content, edited={"user": self.bot_user_id, "ts": self.next_ts()})
        return {
            "channel": args["channel"],
            "ts": args["ts"],
            "text": message["text"],
            "message": message,
        }

    def m_chat_postEphemeral(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        self.channel(args["channel"])
        content = self.content(args)
        message_ts = self.next_ts()
        self.ephemerals.append(
            {"channel": args["channel"], "user": args["user"], "ts": message_ts, **content}
        )
        return {"message_ts": message_ts}

    # -- views ------------------------------------------------------------------------------

    def checked_view(self, view: Any) -> dict[str, Any]:
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments", ["[ERROR] view must be a JSON object"])
        if len(json.dumps(view)) > MAX_VIEW_BYTES:
            raise SlackError("view_too_large")
        problems = check_view(view)
        if problems:
            raise SlackError("invalid_arguments", problems)
        return view

    def store_view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        external_id = view.get("external_id") or ""
        for other in self.views.values():
            if external_id and other["external_id"] == external_id and other["id"] != view_id:
                raise SlackError("duplicate_external_id")
        view_id = view_id or self.next_id("V")
        stored = {
            "private_metadata": "",
            "callback_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
            **view,
            "id": view_id,
            "team_id": self.team_id,
            "external_id": external_id,
            "state": {"values": {}},
            "hash": f"{self.next_ts()}.{hashlib.sha1(view_id.encode()).hexdigest()[:8]}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return stored

    def m_views_open(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        if self.single_use_triggers and trigger in self.used_triggers:
            raise SlackError("exchanged_trigger_id")
        view = self.checked_view(args["view"])
        self.used_triggers.add(trigger)
        return {"view": self.store_view(view)}

    def m_views_update(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments", ["[ERROR] view_id or external_id is required"])
        current = next(
            (
                v
                for v in self.views.values()
                if v["id"] == view_id or (external_id and v["external_id"] == external_id)
            ),
            None,
        )
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self.store_view(self.checked_view(args["view"]), current["id"])}

    def m_views_publish(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        view = self.checked_view(args["view"])
        current = self.views.get(self.homes.get(args["user_id"], ""))
        if current and args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        stored = self.store_view(view, current["id"] if current else None)
        self.homes[args["user_id"]] = stored["id"]
        return {"view": stored}

    # -- users ------------------------------------------------------------------------------

    def m_auth_test(self, _: dict[str, Any], __: str) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "auditbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def m_users_info(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        if args["user"] not in self.users:
            raise SlackError("user_not_found")
        return {"user": self.users[args["user"]]}

    def m_usergroups_users_list(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        if args["usergroup"] not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[args["usergroup"]])}

    # -- files ------------------------------------------------------------------------------

    def m_files_getUploadURLExternal(self, args: dict[str, Any], base_url: str) -> dict[str, Any]:
        if not str(args["length"]).isdigit():
            raise SlackError("invalid_arguments", ["[ERROR] length must be an integer"])
        file_id = self.next_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": args["filename"],
            "title": args["filename"],
            "length": int(args["length"]),
            "alt_txt": args.get("alt_txt"),
            "content": None,
        }
        return {"upload_url": f"{base_url}/upload/{file_id}", "file_id": file_id}

    def m_files_completeUploadExternal(self, args: dict[str, Any], _: str) -> dict[str, Any]:
        items = args["files"]
        if not isinstance(items, list) or not items:
            raise SlackError("invalid_arguments", ["[ERROR] files must be a non-empty array"])
        done = []
        for item in items:
            stored = self.files.get(item.get("id", "")) if isinstance(item, dict) else None
            if stored is None or stored["content"] is None:
                raise SlackError("file_not_found")
            stored["title"] = item.get("title") or stored["name"]
            done.append(self.public_file(stored))
        channels = [args["channel_id"]] if args.get("channel_id") else []
        channels += [c for c in str(args.get("channels") or "").split(",") if c]
        for channel in channels:
            self.channel(channel)
        for channel in channels:
            body = {"text": args.get("initial_comment") or "", "files": done, "upload": True}
            self.post(channel, args.get("thread_ts"), body)
        return {"files": done}

    def public_file(self, stored: dict[str, Any]) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(stored["name"])[0] or "application/octet-stream"
        return {
            "id": stored["id"],
            "name": stored["name"],
            "title": stored["title"],
            "mimetype": mimetype,
            "filetype": stored["name"].rsplit(".", 1)[-1] if "." in stored["name"] else "binary",
            "size": len(stored["content"] or b""),
            "user": self.bot_user_id,
            "url_private": f"https://files.slack.com/files-pri/{self.team_id}-{stored['id']}",
        }


def _metadata_ok(metadata: Any) -> bool:
    """Slack's shape for message metadata: {event_type: str, event_payload: object}."""
    return (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and bool(metadata["event_type"])
        and isinstance(metadata.get("event_payload"), dict)
    )
