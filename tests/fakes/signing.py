"""Signed requests from "Slack" into the app: events, interactivity and slash commands."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.core.clock import Clock, SystemClock

TEST_SIGNING_SECRET = "test-signing-secret"  # same as tests/conftest.py SIGNING_SECRET
SHARED = Path(os.environ.get("AUDITBOT_SHARED", Path(__file__).resolve().parents[3] / "shared"))
SAMPLES = SHARED / "specs" / "slack" / "payloads" / "bolt-python"
TEAM_ID = "T0FAKETEAM"
_trigger_ids = itertools.count(1)
_action_stamps = itertools.count(1)


def sign(body: bytes, secret: str, timestamp: int | str) -> dict[str, str]:
    """Slack's v0 signature headers for `body` sent at `timestamp` (epoch seconds)."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of a bolt-python sample payload, e.g. "block_actions.json"."""
    return copy.deepcopy(_load(name))


def new_trigger_id() -> str:
    """A trigger id not handed out before in this process (the fake treats them as single-use)."""
    return f"{next(_trigger_ids)}.1700000000.fake"


def new_action_ts() -> str:
    """An action_ts not handed out before in this process (Slack gives each click its own)."""
    return f"1700000000.{next(_action_stamps):06d}"


def _without_enterprise(payload: dict[str, Any]) -> dict[str, Any]:
    # The samples come from an Enterprise Grid org; our app is a single-workspace install.
    payload.pop("enterprise_id", None)
    for key in ("enterprise_id", "enterprise_name"):
        payload.get("team", {}).pop(key, None)
    return payload


def block_actions_payload(
    action_id: str,
    value: str = "",
    *,
    user_id: str = "U0REV1",
    channel_id: str = "C0AUDIT",
    message_ts: str = "1700000000.000100",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    block_id: str = "b",
    message: Mapping[str, Any] | None = None,
    action_ts: str | None = None,
) -> dict[str, Any]:
    """A button click on a message in `channel_id` (from block_actions.json); each its own action_ts."""
    payload = _without_enterprise(sample("block_actions.json"))
    payload["user"].update(id=user_id, team_id=team_id)
    payload["team"]["id"] = team_id
    payload["container"].update(message_ts=message_ts, channel_id=channel_id, is_ephemeral=False)
    payload["channel"]["id"] = channel_id
    payload["trigger_id"] = trigger_id or new_trigger_id()
    payload["actions"][0].update(
        action_id=action_id, block_id=block_id, value=value, action_ts=action_ts or new_action_ts()
    )
    payload["message"] = dict(message or {"type": "message", "ts": message_ts, "text": ""})
    return payload


def view_submission_payload(
    callback_id: str,
    private_metadata: str = "",
    state_values: Mapping[str, Any] | None = None,
    *,
    user_id: str = "U0REV1",
    team_id: str = TEAM_ID,
    view_id: str = "V111",
    trigger_id: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A modal submit; `state_values` is {block_id: {action_id: {type, value...}}}."""
    payload = _without_enterprise(sample("view_submission.json"))
    payload["user"].update(id=user_id, team_id=team_id)
    payload["team"]["id"] = team_id
    payload["trigger_id"] = trigger_id or new_trigger_id()
    view = payload["view"]
    view.update(
        id=view_id,
        root_view_id=view_id,
        team_id=team_id,
        app_installed_team_id=team_id,
        callback_id=callback_id,
        private_metadata=private_metadata,
        state={"values": dict(state_values or {})},
    )
    if blocks is not None:
        view["blocks"] = blocks
    return payload


def slash_command_form(
    command: str,
    text: str = "",
    *,
    user_id: str = "U0REV1",
    team_id: str = TEAM_ID,
    channel_id: str = "C0AUDIT",
    trigger_id: str | None = None,
) -> dict[str, str]:
    """The form fields of a slash command (from slash_command.json)."""
    form = _without_enterprise(sample("slash_command.json")["parsed"])
    form.pop("enterprise_name", None)
    form.update(
        command=command,
        text=text,
        user_id=user_id,
        team_id=team_id,
        channel_id=channel_id,
        trigger_id=trigger_id or new_trigger_id(),
        response_url=f"https://hooks.slack.com/commands/{team_id}/1/fake",
    )
    return form


def event_callback(
    event: Mapping[str, Any],
    event_id: str = "Ev0FAKE0001",
    team_id: str = TEAM_ID,
    event_time: int = 1_700_000_000,
) -> dict[str, Any]:
    """An Events API envelope around `event` (from event_callback_app_mention.json)."""
    payload = _without_enterprise(sample("event_callback_app_mention.json"))
    payload.update(event=dict(event), event_id=event_id, team_id=team_id, event_time=event_time)
    return payload


def url_verification(challenge: str = "fake-challenge") -> dict[str, Any]:
    """The handshake Slack sends when the events URL is saved."""
    payload = sample("url_verification.json")
    payload["challenge"] = challenge
    return payload


def json_body(payload: Mapping[str, Any]) -> bytes:
    """How Slack encodes events."""
    return json.dumps(payload).encode()


def interaction_body(payload: Mapping[str, Any]) -> bytes:
    """How Slack encodes interactivity: `payload=<urlencoded JSON>`."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def command_body(form: Mapping[str, str]) -> bytes:
    """How Slack encodes slash commands: plain form fields."""
    return urlencode(dict(form)).encode()


class SlackSigner:
    """Sends signed requests to the app's Slack endpoint through an httpx client or a URL."""

    def __init__(
        self,
        target: httpx.AsyncClient | str,
        secret: str = TEST_SIGNING_SECRET,
        path: str = "/slack/events",
        clock: Clock | None = None,
    ) -> None:
        self.target, self.secret, self.path = target, secret, path
        self.clock = clock or SystemClock()

    def headers(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Signed headers; `signature=""` leaves the signature out, any other value forges it."""
        stamp = int(self.clock.now().timestamp()) if timestamp is None else timestamp
        signed = {"Content-Type": content_type, **sign(body, self.secret, stamp)}
        if signature == "":
            del signed["X-Slack-Signature"]
        elif signature is not None:
            signed["X-Slack-Signature"] = signature
        return {**signed, **(headers or {})}

    async def send(self, body: bytes, content_type: str, **options: Any) -> httpx.Response:
        """POST `body` with signed headers; options as in `headers()`."""
        headers = self.headers(body, content_type, **options)
        if isinstance(self.target, httpx.AsyncClient):
            return await self.target.post(self.path, content=body, headers=headers)
        async with httpx.AsyncClient() as client:
            url = self.target.rstrip("/") + self.path
            return await client.post(url, content=body, headers=headers)

    async def event(self, payload: Mapping[str, Any], **options: Any) -> httpx.Response:
        """Deliver an Events API payload (event_callback or url_verification) as JSON."""
        return await self.send(json_body(payload), "application/json", **options)

    async def interaction(self, payload: Mapping[str, Any], **options: Any) -> httpx.Response:
        """Deliver block_actions / view_submission / view_closed as `payload=` form."""
        body = interaction_body(payload)
        return await self.send(body, "application/x-www-form-urlencoded", **options)

    async def command(self, form: Mapping[str, str], **options: Any) -> httpx.Response:
        """Deliver a slash command as form fields."""
        body = command_body(form)
        return await self.send(body, "application/x-www-form-urlencoded", **options)
