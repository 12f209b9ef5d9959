"""Feedback on automatic findings: Confirmed / False alarm… under each finding of a sample item."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import FINDING_FEEDBACK
from bot.core.db import writing
from bot.review import feedback
from bot.views import ids
from bot.views.checks import build_false_alarm_modal, finding_id_from_metadata
from bot.views.sample import build_sample_item, item_fallback
from handlers import guard

FEEDBACK_OF = {ids.FINDING_CONFIRMED: "confirmed", ids.FINDING_FALSE_ALARM: "false_alarm"}
GONE = "That finding no longer exists (the checks were run again on its ticket)."


async def _judge(services, user: str, finding_id: int, verdict: str, reason: str | None = None):  # type: ignore[no-untyped-def]
    """Store the judgement (and reason) and read the item as it now reads; None when it is gone.

    Acknowledged already: a connection lost midway is waited out and both run again (a
    judgement is one row per finding, written over)."""
    now = services.clock.now()

    async def store(session: AsyncSession):  # type: ignore[no-untyped-def]
        async with writing(session):
            judged = await feedback.judge(
                session=session, finding_id=finding_id, reviewer=user, verdict=verdict, now=now, reason=reason
            )
        item = judged.item
        if item is None:
            return judged, None
        return judged, await feedback.judged_item_view(session, item, services.config.judge.show_hint)

    try:
        return await services.db.patiently(store)
    except feedback.UnknownFinding:
        return None, None


async def _edit_item(client, judged, view) -> None:  # type: ignore[no-untyped-def]
    item = judged.item
    if view is not None and item is not None and item.channel and item.message_ts:
        await client.chat_update(
            channel=item.channel, ts=item.message_ts, text=item_fallback(view), blocks=build_sample_item(view)
        )


async def handle_finding_feedback(ack, body, action, context, client) -> None:  # type: ignore[no-untyped-def]
    """Confirmed / False alarm…: store it; a false alarm opens the (optional) reason modal."""
    await ack()
    services = context["services"]
    user = body["user"]["id"]
    finding_id = await guard.clicked("finding", FINDING_FEEDBACK, context, body, action, client)
    if finding_id is None:
        return
    verdict = FEEDBACK_OF[action["action_id"]]
    judged, view = await _judge(services, user, finding_id, verdict)
    if judged is None:
        await guard.refuse(client, body, GONE)
        return
    if verdict == "false_alarm":  # first, while the trigger_id is fresh
        async with services.db.session() as session:
            reason = await feedback.current_reason(session, judged.finding_id)
        modal = build_false_alarm_modal(finding_id=judged.finding_id, kind=judged.kind, reason=reason)
        await client.views_open(trigger_id=body["trigger_id"], view=modal)
    await _edit_item(client, judged, view)


async def handle_false_alarm_reason(ack, body, view, context, client) -> None:  # type: ignore[no-untyped-def]
    """The reason modal: store the reason with the false alarm, and show it on the item."""
    services = context["services"]
    user = body["user"]["id"]
    finding_id = finding_id_from_metadata(view.get("private_metadata") or "")
    refused = await guard.may_submit(FINDING_FEEDBACK, context, body, "finding", finding_id)
    if refused:
        await ack(response_action="errors", errors={ids.FALSE_ALARM_BLOCK: refused})
        return
    await ack()
    values = (view.get("state") or {}).get("values") or {}
    reason = ((values.get(ids.FALSE_ALARM_BLOCK) or {}).get(ids.FALSE_ALARM_INPUT) or {}).get("value") or ""
    if finding_id is None:
        return
    judged, item_view = await _judge(services, user, finding_id, "false_alarm", reason)
    if judged is not None:
        await _edit_item(client, judged, item_view)


def register(app: AsyncApp) -> None:
    app.action(ids.FINDING_CONFIRMED)(handle_finding_feedback)
    app.action(ids.FINDING_FALSE_ALARM)(handle_finding_feedback)
    app.view(ids.FALSE_ALARM_MODAL)(handle_false_alarm_reason)
