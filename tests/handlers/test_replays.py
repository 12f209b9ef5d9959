"""Replays: a validly signed request sent again inside the 5-minute window has no effect.

The reviewer clicks Correct, then files a Defect…; the first click is replayed byte for byte
(same body, same signature): the later verdict stands and the defect stays filed. Requests
older than 5 minutes stay refused.
"""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from bot.core.models import Defect, Review, ReviewChange
from bot.views import ids
from tests.fakes.signing import (
    block_actions_payload,
    interaction_body,
    slash_command_form,
    view_submission_payload,
)
from tests.handlers.rig import Rig, defect_state, drain, posted_items

FORM = "application/x-www-form-urlencoded"


async def verdict_and_defect(rig: Rig) -> tuple[str, str | None, int]:
    async with rig.db.session() as session:  # type: ignore[attr-defined]
        review = (await session.execute(sa.select(Review))).scalar_one()
        defect = (await session.execute(sa.select(Defect))).scalar_one_or_none()
        changes = (await session.execute(sa.select(sa.func.count()).select_from(ReviewChange))).scalar_one()
    return review.verdict, defect.status if defect else None, changes


async def test_a_click_replayed_after_a_later_verdict_changes_nothing(rig: Rig) -> None:
    [item] = await posted_items(rig)
    stamp = int(time.time())
    click = interaction_body(block_actions_payload(ids.VERDICT_CORRECT, str(item)))
    assert (await rig.signer.send(click, FORM, timestamp=stamp)).status_code == 200
    await drain()
    submission = view_submission_payload(
        ids.DEFECT_MODAL, json.dumps({"item_id": item}), defect_state("Wrong")
    )
    modal = interaction_body(submission)
    assert (await rig.signer.send(modal, FORM, timestamp=stamp)).status_code == 200
    await drain()
    assert await verdict_and_defect(rig) == ("defect", "open", 2)
    edits = len(rig.fake.calls("chat.update"))

    for replayed in (click, modal, click):  # the same bytes, the same signature, within 5 minutes
        assert (await rig.signer.send(replayed, FORM, timestamp=stamp)).status_code == 200
        await drain()
    assert await verdict_and_defect(rig) == ("defect", "open", 2)
    assert len(rig.fake.calls("chat.update")) == edits  # nothing re-rendered either

    # the reviewer's own new click (Slack gives it a new action_ts) is of course taken
    await rig.click(ids.VERDICT_CORRECT, item)
    await drain()
    assert await verdict_and_defect(rig) == ("correct", "withdrawn", 3)


async def test_a_replay_outside_five_minutes_stays_refused(rig: Rig) -> None:
    [item] = await posted_items(rig)
    click = interaction_body(block_actions_payload(ids.VERDICT_CORRECT, str(item)))
    response = await rig.signer.send(click, FORM, timestamp=int(time.time()) - 6 * 60)
    assert response.status_code == 401
    await drain()
    assert await rig.count(Review) == 0


async def test_a_slash_command_delivered_twice_runs_once(rig: Rig) -> None:
    form = slash_command_form("/audit", "stats", user_id="U0REV1")
    first = await rig.signer.command(form)
    again = await rig.signer.command(form)
    await drain()
    assert first.status_code == again.status_code == 200
    assert len(rig.fake.ephemerals()) == 1
