"""The global guard for interactions and slash commands: each handled once, whatever arrives again.

Slack signs a request, not its first delivery: a validly signed click replayed inside the
5-minute signature window, a Socket Mode envelope delivered again, or a slash command sent twice
would each run again. So each request's identity is claimed in `seen_events` (the same table,
and the same two days, as event ids), and a request claimed before changes nothing:
  - a button: `action:<user>:<action_id>:<action_ts>` (Slack gives every click its own action_ts);
  - a modal submission: `view:<user>:<view id>:<trigger_id>` (every submission has its own trigger);
  - a slash command: `command:<user>:<trigger_id>`.
Modal submissions and commands are claimed before their listener runs (some answer with what
they did). A click is claimed the moment its listener acknowledges it, so the ack is not kept
waiting for a database write: every click listener acks first, and a repeat stops right there,
before its listener has done anything. Requests older than 5 minutes never get this far: Bolt
refuses their signature.

When the database cannot be reached, nothing is claimed or done and the person is told so
politely (an ephemeral message, the modal's first field, or the command's answer); the request
is not taken, so nothing acknowledged can be lost to the outage. A database that answers but too
slowly for Slack's 3 s (CLAIM_TIMEOUT_S) does not refuse a modal or a command: it is taken, and
its claim commits when it can.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
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
    user = _mapping(body.get("user")).get("id") or body.get("user_id") or ""
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions")
        action = _mapping(actions[0] if isinstance(actions, list) and actions else None)
        parts = ["action", user, action.get("action_id"), action.get("action_ts")]
    elif kind == "view_submission":
        parts = ["view", user, _mapping(body.get("view")).get("id"), body.get("trigger_id")]
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


def _mapping(value: object) -> dict:  # type: ignore[type-arg]
    """A payload field as a dict; a signed body of an unexpected shape is Bolt's to refuse, not ours."""
    return value if isinstance(value, dict) else {}


class ClaimingAck(AsyncAck):
    """Bolt's ack, then the click's claim: Slack has its answer before the database is asked.

    A repeat (or a database that cannot be reached) cancels the listener at its ack, before it
    has done anything; cancelling ends its task quietly."""

    def __init__(self, claim: Callable[[], Awaitable[bool]]) -> None:
        super().__init__()
        self._claim: Callable[[], Awaitable[bool]] | None = claim

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await super().__call__(*args, **kwargs)
        claim, self._claim = self._claim, None
        if claim is not None and not await claim():
            raise asyncio.CancelledError("a repeated click")
        return response


async def process_once(context, body, client, next):  # type: ignore[no-untyped-def]
    """Claim the request's identity (a click's at its ack); drop it if it was claimed before."""
    key = interaction_key(body)
    if key is None:
        await next()
        return None
    services = context["services"]
    kind = body.get("type") or "command"
    if kind == "block_actions":

        async def claim_click() -> bool:
            try:
                return await _claimed(services, key, kind)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("database unreachable: a click refused politely (%s)", exc)
                _unavailable(services, body, client)
                return False

        context["ack"] = ClaimingAck(claim_click)
        await next()
        return None
    claim = asyncio.ensure_future(_claimed(services, key, kind))
    services.inflight.add(claim)
    claim.add_done_callback(_settled)
    try:
        first = await asyncio.wait_for(asyncio.shield(claim), CLAIM_TIMEOUT_S)
    except TimeoutError:
        # Reachable but slow (an overloaded SQLite writer): taken rather than refused; the claim
        # still commits, so a later repeat is recognised.
        log.warning("slow database: a %s is taken before its claim is confirmed", kind)
        await next()
        return None
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("database unreachable: a %s refused politely (%s)", kind, exc)
        return _unavailable(services, body, client)
    if not first:
        return BoltResponse(status=200, body="")
    await next()
    return None


async def _claimed(services, key: str, kind: str) -> bool:  # type: ignore[no-untyped-def]
    """True the first time `key` is seen; a repeat is logged."""
    with fail_fast():  # a click must not wait for a database that is away
        async with services.db.engine.begin() as connection:  # one statement: no ORM session needed
            first = await claim_event(session=connection, event_id=key, now=services.clock.now())
    if not first:
        log.info("dropped a repeated %s (%s)", kind, key.split(":", 1)[0])
    return first


def _settled(claim: asyncio.Future) -> None:  # type: ignore[type-arg]
    """Retrieve a claim's failure (it is logged where it is handled)."""
    if not claim.cancelled():
        claim.exception()


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
