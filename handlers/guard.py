"""The one access check of every button, modal and command (the rules: bot.core.access.RULES).

A click must come from someone the action's rule allows, on the message of the button's own target
(a sample item, a defect group's card, an occurrence post, the sample item showing a finding). A
refused click changes nothing: the clicker is told why in an ephemeral message, and one log line
names the action, the user, the target's id and why (never any customer text).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from bot.core.access import RULES, access_of
from bot.core.places import Place, finding_place, group_place, item_place
from bot.defects.queue import occurrence_place
from bot.views.refusals import refusal_text, short_refusal, unknown_target_text, wrong_message_text

log = logging.getLogger("auditbot.access")

Kind = Literal["item", "group", "occurrence", "finding"]
_WHAT = {"item": "sample item", "group": "defect group", "occurrence": "occurrence", "finding": "finding"}


def target_id(value: object) -> int | None:
    """Buttons and modals carry their target's id as digits."""
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) < 19 else None


async def clicked(kind: Kind, name: str, context: Any, body: dict, action: dict, client: Any) -> int | None:  # type: ignore[type-arg]
    """The target's id when the clicker may do `name` on it and clicked its own message; else None
    (and the clicker has been told why)."""
    services = context["services"]
    user = body["user"]["id"]
    wanted = target_id(action.get("value"))
    place = await _place(services, kind, wanted, acknowledged=True)
    if place is None:
        why, text = "unknown target", unknown_target_text(_WHAT[kind])
    elif not await access_of(services).allows(name, user, place.owners):
        rule = RULES[name]
        why, text = "role", refusal_text(rule.doing, rule.roles, services.config.slack.admins)
    elif not on_its_message(body, place, kind):
        why, text = "not the target's message", wrong_message_text()
    else:
        return place.id
    log.info("refused %s by %s on %s %s: %s", name, user, kind, wanted, why)
    await refuse(client, body, text)
    return None


async def may_submit(
    name: str,
    context: Any,
    body: dict,  # type: ignore[type-arg]
    kind: Kind | None = None,
    wanted: int | None = None,
) -> str | None:
    """None when the submitter of a modal may do `name` (on the `kind` target `wanted`), else the
    one-line reason to show in the modal."""
    services = context["services"]
    user = body["user"]["id"]
    place = await _place(services, kind, wanted) if kind else None
    owners = place.owners if place else ()
    if await access_of(services).allows(name, user, owners):
        return None
    log.info("refused %s by %s on %s %s: role", name, user, kind or "modal", wanted)
    rule = RULES[name]
    return short_refusal(rule.doing, rule.roles)


async def may_run(name: str, context: Any, user: str, group_id: int | None = None) -> str | None:
    """None when `user` may run the command `name` (on the defect group `group_id`, whose owners
    count), else what to answer them."""
    services = context["services"]
    place = await _place(services, "group", group_id) if group_id is not None else None
    if await access_of(services).allows(name, user, place.owners if place else ()):
        return None
    log.info("refused %s by %s%s: role", name, user, f" on group {group_id}" if group_id is not None else "")
    rule = RULES[name]
    return refusal_text(rule.doing, rule.roles, services.config.slack.admins)


def on_its_message(body: dict, place: Place, kind: Kind) -> bool:  # type: ignore[type-arg]
    """Whether the click came from the target's own message (not an old copy, not another's)."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    if container.get("type", "message") != "message":
        return False
    ts = container.get("message_ts") or message.get("ts")
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    in_channel = place.channel is None or channel == place.channel
    # A sample item's message names its item in its metadata (set by auditbot when posting): a copy
    # posted again after a crash, or one whose ts is not stored yet, is known by it.
    named = ((message.get("metadata") or {}).get("event_payload") or {}).get("item_id")
    if kind == "item" and named is not None and str(named) == str(place.id) and in_channel:
        return True
    return place.ts is not None and ts == place.ts and in_channel


async def refuse(client: Any, body: dict, text: str) -> None:  # type: ignore[type-arg]
    """An explanation only the clicking user sees; nothing is stored."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    if channel:
        await client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)


async def _place(
    services: Any, kind: Kind, wanted: int | None, *, acknowledged: bool = False
) -> Place | None:
    """The target. After the ack (a click), read again if the connection drops midway; before
    it (a modal submission, a command: Slack waits 3 s for the answer), not."""
    if wanted is None:
        return None

    async def read(session: Any) -> Place | None:
        if kind == "item":
            return await item_place(session, wanted)
        if kind == "group":
            return await group_place(session, wanted, services.config)
        if kind == "finding":
            return await finding_place(session, wanted)
        return await occurrence_place(session, wanted, services.config)

    if acknowledged:
        return await services.db.patiently(read)
    async with services.db.session() as session:
        return await read(session)
