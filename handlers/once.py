"""The global guard for interactions and slash commands: each handled once, whatever arrives again.

Slack signs a request, not its first delivery: a validly signed click replayed inside the
5-minute signature window, a Socket Mode envelope delivered again, or a slash command sent twice
would each run again. Before any listener runs, the request's identity is claimed in
`seen_events` (the same table, and the same two days, as event ids):
  - a button: `action:<user>:<action_id>:<action_ts>` (Slack gives every click its own action_ts);
  - a modal submission: `view:<user>:<view id>:<trigger_id>` (every submission has its own trigger);
  - a slash command: `command:<user>:<trigger_id>`.
A request whose identity was claimed before is acknowledged and dropped. Requests older than
5 minutes never get this far: Bolt refuses their signature.

When the database cannot be reached, nothing is claimed or done and the person is told so
politely (an ephemeral message, the modal's first field, or the command's answer); the request
is not taken, so nothing acknowledged can be lost to the outage.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from bot.core.access import claim_event
from bot.core.db import fail_fast, is_unavailable

log = logging.getLogger("auditbot.once")

CLAIM_TIMEOUT_S = 2.0  # the ack must leave within 3 s even if the database hangs
KEY_LIMIT = 128  # seen_events.event_id
UNAVAILABLE = (
    "auditbot cannot reach its database right now, so this was not saved. Please try again in a minute."
)


def interaction_key(body: dict) -> str | None:  # type: ignore[type-arg]
    """The identity of a click, a modal submission or a slash command; None for anything else."""
    user = (body.get("user") or {}).get("id") or body.get("user_id") or ""
    kind = body.get("type")
    if kind == "block_actions":
        action = (body.get("actions") or [{}])[0]
        parts = ["action", user, action.get("action_id"), action.get("action_ts")]
    elif kind == "view_submission":
        parts = ["view", user, (body.get("view") or {}).get("id"), body.get("trigger_id")]
    elif body.get("command") and not kind:
        parts = ["command", user, body.get("trigger_id")]
    else:
        return None
    if not all(parts):
        return None
    key = ":".join(str(p) for p in parts)
    if len(key) > KEY_LIMIT:
        key = f"{parts[0]}:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


async def process_once(context, body, client, next):  # type: ignore[no-untyped-def]
    """Claim the request's identity before any listener runs; drop it if it was claimed before."""
    key = interaction_key(body)
    if key is None:
        await next()
        return None
    services = context["services"]
    try:
        first = await asyncio.wait_for(_claim(services, key), CLAIM_TIMEOUT_S)
    except Exception as exc:
        if not (is_unavailable(exc) or isinstance(exc, TimeoutError)):
            raise
        log.warning("database unreachable: %s refused politely (%s)", body.get("type") or "command", exc)
        return _unavailable(services, body, client)
    if not first:
        log.info("dropped a repeated %s (%s)", body.get("type") or "command", key.split(":", 1)[0])
        return BoltResponse(status=200, body="")
    await next()
    return None


async def _claim(services, key: str) -> bool:  # type: ignore[no-untyped-def]
    with fail_fast():  # a click must not wait for a database that is away
        async with services.db.transaction() as session:
            return await claim_event(session=session, event_id=key, now=services.clock.now())


def _unavailable(services, body: dict, client) -> BoltResponse:  # type: ignore[no-untyped-def,type-arg]
    """The polite answer while the database is away: nothing was stored, and the person knows."""
    if body.get("type") == "view_submission":
        blocks = (body.get("view") or {}).get("blocks") or []
        field = next((b.get("block_id") for b in blocks if b.get("type") == "input"), None)
        if field:
            answer = {"response_action": "errors", "errors": {field: UNAVAILABLE}}
            return BoltResponse(
                status=200, body=json.dumps(answer), headers={"content-type": "application/json"}
            )
    if body.get("command"):
        return BoltResponse(status=200, body=UNAVAILABLE)
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    user = (body.get("user") or {}).get("id")
    if channel and user:
        task = asyncio.ensure_future(client.chat_postEphemeral(channel=channel, user=user, text=UNAVAILABLE))
        services.inflight.add(task)
    return BoltResponse(status=200, body="")


def register(app: AsyncApp) -> None:
    app.use(process_once)
