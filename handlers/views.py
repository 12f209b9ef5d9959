"""Modal submissions: the defect modal."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import VERDICT
from bot.core.db import writing
from bot.review import verdicts as reviews
from bot.views import ids
from bot.views import review as review_views
from handlers import guard
from handlers.publish import after_ack_gate, deliver_soon, publish_outcome

BLOCK_OF = {
    "category": ids.CATEGORY_BLOCK,
    "severity": ids.SEVERITY_BLOCK,
    "note": ids.WRONG_BLOCK,
    "expected": ids.EXPECTED_BLOCK,
}


def read_defect_form(values: dict) -> dict[str, object]:  # type: ignore[type-arg]
    """The modal's state, by field name; anything missing is None."""

    def element(block: str, action: str) -> dict:  # type: ignore[type-arg]
        return (values.get(block) or {}).get(action) or {}

    def selected(block: str, action: str) -> str | None:
        return (element(block, action).get("selected_option") or {}).get("value")

    checked = element(ids.HELPDESK_NOTE_BLOCK, ids.HELPDESK_NOTE_INPUT).get("selected_options") or []
    return {
        "category": selected(ids.CATEGORY_BLOCK, ids.CATEGORY_INPUT),
        "severity": selected(ids.SEVERITY_BLOCK, ids.SEVERITY_INPUT),
        "note": element(ids.WRONG_BLOCK, ids.WRONG_INPUT).get("value"),
        "expected": element(ids.EXPECTED_BLOCK, ids.EXPECTED_INPUT).get("value"),
        "helpdesk_note": any(o.get("value") == ids.HELPDESK_NOTE_VALUE for o in checked),
    }


async def handle_defect_submission(ack, body, view, context, client) -> None:  # type: ignore[no-untyped-def]
    """Validate (inline errors, nothing saved), then store review + defect in one transaction."""
    services = context["services"]
    refused = await guard.may_submit(VERDICT, context, body)
    if refused:
        await ack(response_action="errors", errors={ids.WRONG_BLOCK: refused})
        return
    form = read_defect_form(view["state"]["values"])
    defect, errors = reviews.validate_defect(categories=services.config.review.categories, **form)
    item_id = review_views.item_id_from_metadata(view.get("private_metadata") or "")
    item = await reviews.find_item(services.db, item_id) if item_id is not None else None
    if item is None:
        errors["note"] = review_views.unknown_item_text()
    if errors:
        await ack(response_action="errors", errors={BLOCK_OF[k]: v for k, v in errors.items()})
        return
    await ack()
    assert defect is not None and item is not None and item.id is not None
    user, reviewed, filed = body["user"]["id"], item.id, defect

    async def record(session: AsyncSession) -> reviews.Outcome:
        async with writing(session):
            return await reviews.record_defect(
                session=session,
                item_id=reviewed,
                reviewer=user,
                defect=filed,
                config=services.config,
                now=services.clock.now(),
            )

    async with after_ack_gate(services):
        # Acknowledged: a connection lost midway is waited out and the defect recorded again (a
        # second run with the same fields changes nothing, so nothing is filed twice).
        outcome = await services.db.patiently(record)
        deliver_soon(services, outcome.slack_effects)  # the group card appears now, not at the next flush
        await publish_outcome(services, client, outcome)


def register(app: AsyncApp) -> None:
    app.view(ids.DEFECT_MODAL)(handle_defect_submission)
