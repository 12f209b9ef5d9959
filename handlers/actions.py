"""Buttons on sample items: Correct, Not sure, Defect…, Full conversation; and App Home's Refresh."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import FULL_TEXT, VERDICT
from bot.core.db import writing
from bot.review import verdicts as reviews
from bot.sample.items import item_view
from bot.views import ids
from bot.views import review as review_views
from bot.views.sample import ItemView, build_full_text_modal
from handlers import guard
from handlers.publish import after_ack_gate, deliver_soon, edited_item, publish_outcome, read_quietly

VERDICT_OF = {ids.VERDICT_CORRECT: "correct", ids.VERDICT_UNSURE: "unsure"}


async def handle_verdict(ack, body, action, context, client) -> None:  # type: ignore[no-untyped-def]
    """Correct / Not sure: record (or edit) this reviewer's verdict, then edit the item message."""
    await ack()
    services = context["services"]
    user = body["user"]["id"]
    item_id = await guard.clicked("item", VERDICT, context, body, action, client)
    if item_id is None:
        return

    async def record(session: AsyncSession) -> tuple[reviews.Outcome, ItemView | None]:
        async with writing(session):
            outcome = await reviews.record_verdict(
                session=session,
                item_id=item_id,
                reviewer=user,
                verdict=VERDICT_OF[action["action_id"]],
                now=services.clock.now(),
            )
        # Read after the commit, in the same session: the item is already loaded. Only the
        # write is run again on a lost connection, never for this read (publish_outcome reads
        # the view again when it is missing).
        return outcome, await read_quietly(edited_item(session, outcome, services.config.judge.show_hint))

    async with after_ack_gate(services):
        try:
            # Acknowledged already: a connection lost midway is waited out and the (idempotent)
            # verdict written again, not dropped.
            outcome, view = await services.db.patiently(record)
        except reviews.UnknownItem:
            await guard.refuse(client, body, review_views.unknown_item_text())
            return
        deliver_soon(services, outcome.slack_effects)  # a withdrawn defect: its card changes
        await publish_outcome(services, client, outcome, view)


async def handle_open_defect_modal(ack, body, action, context, client) -> None:  # type: ignore[no-untyped-def]
    """Defect…: open the modal right away, while the trigger_id (about 3 s) is still valid."""
    await ack()
    services = context["services"]
    user = body["user"]["id"]
    item_id = await guard.clicked("item", VERDICT, context, body, action, client)
    if item_id is None:
        return
    config = services.config
    async with services.db.session() as session:
        defaults = await reviews.modal_defaults(
            session=session, item_id=item_id, reviewer=user, config=config
        )
    helpdesk_note = defaults.helpdesk_note
    if helpdesk_note is None:
        helpdesk_note = config.route(defaults.category).helpdesk_note
    view = review_views.build_defect_modal(
        item_id=item_id,
        categories=config.review.categories,
        category=defaults.category,
        helpdesk_note=helpdesk_note,
        severity=defaults.severity or "medium",
        note=defaults.note,
        expected=defaults.expected,
    )
    await client.views_open(trigger_id=body["trigger_id"], view=view)


async def handle_open_full_text(ack, body, action, context, client) -> None:  # type: ignore[no-untyped-def]
    """Full conversation: the untruncated customer message and reply in a modal."""
    await ack()
    services = context["services"]
    item_id = await guard.clicked("item", FULL_TEXT, context, body, action, client)
    if item_id is None:
        return
    async with services.db.session() as session:
        item = await item_view(session, item_id)
    if item is None:
        await guard.refuse(client, body, review_views.unknown_item_text())
        return
    view = build_full_text_modal(item)
    await client.views_open(trigger_id=body["trigger_id"], view=view)


async def handle_home_refresh(ack, body, context, client) -> None:  # type: ignore[no-untyped-def]
    await ack()
    from handlers.events import home_view

    user = body["user"]["id"]
    await client.views_publish(user_id=user, view=await home_view(context["services"], user))


def register(app: AsyncApp) -> None:
    app.action(ids.VERDICT_CORRECT)(handle_verdict)
    app.action(ids.VERDICT_UNSURE)(handle_verdict)
    app.action(ids.OPEN_DEFECT_MODAL)(handle_open_defect_modal)
    app.action(ids.OPEN_FULL_TEXT)(handle_open_full_text)
    app.action(ids.HOME_REFRESH)(handle_home_refresh)
