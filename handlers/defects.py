"""Buttons and modals on defect group cards: Take it, Won't fix, Fixed, Merge into…, Move or split.

Each records the change through `bot.defects.groups` (which queues the card edit, the thread post and
the tracker change in the same transaction), then delivers the due effects right away.
"""

from __future__ import annotations

import json
import logging

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import FIXED, MERGE, MOVE, TAKE, WONT_FIX
from bot.core.db import writing
from bot.defects import groups as defects
from bot.defects import regroup
from bot.defects.effects import deliver_pending
from bot.views import defect as views
from bot.views import ids
from handlers import guard

log = logging.getLogger("auditbot.defects")


def _metadata(view: dict, key: str) -> int | None:  # type: ignore[type-arg]
    try:
        return guard.target_id(json.loads(view.get("private_metadata") or "{}").get(key))
    except (ValueError, AttributeError):
        return None


def _selected(view: dict, block: str, action: str) -> str | None:  # type: ignore[type-arg]
    state = ((view.get("state") or {}).get("values") or {}).get(block, {}).get(action, {})
    return ((state.get("selected_option") or {}).get("value")) or state.get("value")


async def _record(services, body, client, change) -> bool:  # type: ignore[no-untyped-def]
    """Run one change in a transaction, then deliver what it queued; False (and say why) if refused.

    The click or submission is acknowledged already: a connection lost midway is waited out and
    the change run again (should the first run's commit have landed unanswered, the second finds
    it done: Take changes nothing, Fixed and Won't fix find the group closed as asked)."""

    async def run(session: AsyncSession) -> None:
        async with writing(session):
            await change(session)

    try:
        await services.db.patiently(run)
    except defects.DefectError as exc:
        await guard.refuse(client, body, f"That did not work: {exc}.")
        return False
    await deliver_pending(services)
    return True


def _group_button(name: str, operation, doc: str, *, configured: bool = False):  # type: ignore[no-untyped-def]
    """A card button (access rule `name`) that applies `operation(session=, group_id=, user=, now=)`
    (and `config=` the team config, when `configured`)."""

    async def handle(ack, body, action, context, client) -> None:  # type: ignore[no-untyped-def]
        await ack()
        services, user = context["services"], body["user"]["id"]
        group_id = await guard.clicked("group", name, context, body, action, client)
        if group_id is None:
            return
        now = services.clock.now()
        extra = {"config": services.config} if configured else {}
        await _record(
            services,
            body,
            client,
            lambda s: operation(session=s, group_id=group_id, user=user, now=now, **extra),
        )

    handle.__doc__ = doc
    return handle


handle_take = _group_button(TAKE, defects.take_group, "Take it: the clicker becomes the owner.")
handle_fixed = _group_button(
    FIXED,
    defects.fix_group,
    'Fixed: for `tracker = "none"` or a fix made outside the tracker; its verification starts.',
    configured=True,
)


async def handle_open_wont_fix(ack, body, action, context, client) -> None:  # type: ignore[no-untyped-def]
    """Won't fix: ask for the reason in a modal."""
    await ack()
    services = context["services"]
    group_id = await guard.clicked("group", WONT_FIX, context, body, action, client)
    if group_id is None:
        return
    async with services.db.session() as session:
        group = await defects.get_group(session, group_id)
    if group is None:
        await guard.refuse(client, body, "That defect group no longer exists.")
        return
    await client.views_open(
        trigger_id=body["trigger_id"], view=views.build_wont_fix_modal(group.id, group.title)
    )


async def handle_wont_fix_submit(ack, body, view, context, client) -> None:  # type: ignore[no-untyped-def]
    services, user, group_id = context["services"], body["user"]["id"], _metadata(view, "group_id")
    refused = await guard.may_submit(WONT_FIX, context, body, "group", group_id)
    if refused:
        await ack(response_action="errors", errors={ids.WONT_FIX_BLOCK: refused})
        return
    reason = (_selected(view, ids.WONT_FIX_BLOCK, ids.WONT_FIX_INPUT) or "").strip()
    if len(reason) < 3:
        await ack(response_action="errors", errors={ids.WONT_FIX_BLOCK: "Say in a few words why."})
        return
    await ack()
    if group_id is None:
        return
    now = services.clock.now()
    await _record(
        services,
        body,
        client,
        lambda s: defects.wont_fix_group(session=s, group_id=group_id, user=user, reason=reason, now=now),
    )


async def handle_open_merge(ack, body, action, context, client) -> None:  # type: ignore[no-untyped-def]
    """Merge into…: pick one of the other open groups."""
    await ack()
    services = context["services"]
    group_id = await guard.clicked("group", MERGE, context, body, action, client)
    if group_id is None:
        return
    async with services.db.session() as session:
        group = await defects.get_group(session, group_id)
        targets = await defects.open_groups(session, exclude=group_id)
    if group is None:
        await guard.refuse(client, body, "That defect group no longer exists.")
        return
    if not targets:
        await guard.refuse(client, body, "There is no other open defect group to merge into.")
        return
    options = [(g.id, g.title, g.occurrences) for g in targets]
    await client.views_open(
        trigger_id=body["trigger_id"], view=views.build_merge_modal(group.id, group.title, options)
    )


async def handle_merge_submit(ack, body, view, context, client) -> None:  # type: ignore[no-untyped-def]
    services, user, group_id = context["services"], body["user"]["id"], _metadata(view, "group_id")
    refused = await guard.may_submit(MERGE, context, body, "group", group_id)
    if refused:
        await ack(response_action="errors", errors={ids.MERGE_BLOCK: refused})
        return
    into = guard.target_id(_selected(view, ids.MERGE_BLOCK, ids.MERGE_INPUT))
    if group_id is None or into is None:
        await ack(response_action="errors", errors={ids.MERGE_BLOCK: "Choose a group."})
        return
    try:
        async with services.db.transaction() as session:
            await regroup.merge_group(
                session=session, group_id=group_id, into_id=into, user=user, now=services.clock.now()
            )
    except defects.DefectError as exc:
        await ack(response_action="errors", errors={ids.MERGE_BLOCK: str(exc)[:150]})
        return
    await ack()
    await deliver_pending(services)


async def handle_open_move(ack, body, action, context, client) -> None:  # type: ignore[no-untyped-def]
    """Move or split… (on an occurrence in the thread): another open group, or a new one."""
    await ack()
    services = context["services"]
    defect_id = await guard.clicked("occurrence", MOVE, context, body, action, client)
    if defect_id is None:
        return
    async with services.db.session() as session:
        group_id = await defects.group_of_defect(session, defect_id)
        targets = await defects.open_groups(session, exclude=group_id, limit=99)
    if group_id is None:
        await guard.refuse(client, body, "That occurrence no longer exists.")
        return
    options = [(g.id, g.title, g.occurrences) for g in targets]
    await client.views_open(trigger_id=body["trigger_id"], view=views.build_move_modal(defect_id, options))


async def handle_move_submit(ack, body, view, context, client) -> None:  # type: ignore[no-untyped-def]
    services, user, defect_id = context["services"], body["user"]["id"], _metadata(view, "defect_id")
    refused = await guard.may_submit(MOVE, context, body, "occurrence", defect_id)
    if refused:
        await ack(response_action="errors", errors={ids.MOVE_BLOCK: refused})
        return
    choice = _selected(view, ids.MOVE_BLOCK, ids.MOVE_INPUT)
    target = guard.target_id(choice)
    if defect_id is None or (choice != views.SPLIT_VALUE and target is None):
        await ack(response_action="errors", errors={ids.MOVE_BLOCK: "Choose where it belongs."})
        return
    now, config = services.clock.now(), services.config
    try:
        async with services.db.transaction() as session:
            if target is None:
                await regroup.split_defect(
                    session=session, defect_id=defect_id, user=user, config=config, now=now
                )
            else:
                await regroup.move_defect(
                    session=session, defect_id=defect_id, to_group_id=target, user=user, now=now
                )
    except defects.DefectError as exc:
        await ack(response_action="errors", errors={ids.MOVE_BLOCK: str(exc)[:150]})
        return
    await ack()
    await deliver_pending(services)


def register(app: AsyncApp) -> None:
    app.action(ids.GROUP_TAKE)(handle_take)
    app.action(ids.GROUP_FIXED)(handle_fixed)
    app.action(ids.GROUP_WONT_FIX)(handle_open_wont_fix)
    app.action(ids.GROUP_MERGE)(handle_open_merge)
    app.action(ids.GROUP_MOVE_DEFECT)(handle_open_move)
    app.view(ids.WONT_FIX_MODAL)(handle_wont_fix_submit)
    app.view(ids.MERGE_MODAL)(handle_merge_submit)
    app.view(ids.MOVE_MODAL)(handle_move_submit)
