"""End to end: signed requests into the real app, the fake Slack on loopback, a real database."""

from __future__ import annotations

import asyncio
import json

import respx
import sqlalchemy as sa

from bot.core.models import Defect, Review, SeenEvent
from bot.views import ids
from tests.fakes.signing import (
    block_actions_payload,
    event_callback,
    slash_command_form,
    view_submission_payload,
)
from tests.handlers.rig import Rig, defect_state, drain, item_ts, message_text, posted_items, until


async def test_defect_modal_flow_stores_review_and_defect_and_edits_the_message(rig: Rig) -> None:
    [item] = await posted_items(rig, findings={0: "placeholder_leak"})
    with respx.mock(assert_all_called=False) as vendors:
        vendors.route().respond(500)
        clicked = await rig.click(ids.OPEN_DEFECT_MODAL, item)
        assert clicked.status_code == 200
        await until(lambda: rig.fake.calls("views.open"), "views.open")
        opened = rig.fake.last("views.open")
        assert opened.ok, opened.response  # the fake checks trigger, view shape and Block Kit limits
        view = opened.response["view"]
        assert json.loads(view["private_metadata"]) == {"item_id": item}
        blocks = {b["block_id"]: b for b in view["blocks"]}
        # a leaked placeholder suggests a template error, whose routing adds a helpdesk note
        assert blocks[ids.CATEGORY_BLOCK]["element"]["initial_option"]["value"] == "template_error"
        assert blocks[ids.HELPDESK_NOTE_BLOCK]["element"]["initial_options"]
        submission = view_submission_payload(
            ids.DEFECT_MODAL, view["private_metadata"], defect_state("Quotes last year's refund window")
        )
        submitted = await rig.signer.interaction(submission)
        assert submitted.status_code == 200 and submitted.text == ""  # closes the modal
        await until(lambda: rig.fake.calls("chat.update"), "chat.update")
        await drain()
        assert not vendors.calls, "a vendor was called from a Slack handler"
    async with rig.db.session() as session:  # type: ignore[attr-defined]
        review = (await session.execute(sa.select(Review))).scalar_one()
        defect = (await session.execute(sa.select(Defect))).scalar_one()
    assert (review.reviewer, review.verdict, review.category, review.severity) == (
        "U0REV1",
        "defect",
        "template_error",
        "high",
    )
    assert review.note == "Quotes last year's refund window" and review.helpdesk_note
    assert defect.review_id == review.id
    update = rig.fake.last("chat.update")
    assert update.ok and update.args["channel"] == "C0AUDIT"
    assert "🐞 <@U0REV1> — Template error · high" in message_text(rig, await item_ts(rig, item))
    actions = [b for b in update.args["blocks"] if b["type"] == "actions"]
    # the item's own buttons come last, after each finding's Confirmed / False alarm…
    assert {e["action_id"] for e in actions[-1]["elements"]} >= {ids.VERDICT_CORRECT, ids.OPEN_DEFECT_MODAL}


async def test_empty_what_is_wrong_comes_back_as_an_inline_error(rig: Rig) -> None:
    [item] = await posted_items(rig)
    payload = view_submission_payload(ids.DEFECT_MODAL, json.dumps({"item_id": item}), defect_state("   "))
    response = await rig.signer.interaction(payload)
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {ids.WRONG_BLOCK}
    too_long = view_submission_payload(
        ids.DEFECT_MODAL, json.dumps({"item_id": item}), defect_state("x" * 3001)
    )
    assert set((await rig.signer.interaction(too_long)).json()["errors"]) == {ids.WRONG_BLOCK}
    await drain()
    assert await rig.count(Review) == 0 and await rig.count(Defect) == 0
    assert rig.fake.calls("chat.update") == []


async def test_a_non_reviewer_gets_an_ephemeral_refusal_and_nothing_is_stored(rig: Rig) -> None:
    [item] = await posted_items(rig)
    response = await rig.click(ids.VERDICT_CORRECT, item, user="U0STRANGER")
    assert response.status_code == 200
    await until(lambda: rig.fake.ephemerals(), "the ephemeral refusal")
    [refusal] = rig.fake.ephemerals("C0AUDIT")
    assert refusal["user"] == "U0STRANGER" and "Only reviewers" in refusal["text"]
    await rig.click(ids.OPEN_DEFECT_MODAL, item, user="U0STRANGER")
    await until(lambda: len(rig.fake.ephemerals()) == 2, "the second refusal")
    await drain()
    assert await rig.count(Review) == 0
    assert rig.fake.calls("views.open") == [] and rig.fake.calls("chat.update") == []


async def test_a_forged_signature_gets_401_and_stores_nothing(rig: Rig) -> None:
    [item] = await posted_items(rig)
    payload = block_actions_payload(ids.VERDICT_CORRECT, str(item))
    forged = await rig.signer.interaction(payload, signature="v0=" + "0" * 64)
    missing = await rig.signer.interaction(payload, signature="")
    stale = await rig.signer.interaction(payload, timestamp=1_600_000_000)
    assert [r.status_code for r in (forged, missing, stale)] == [401, 401, 401]
    await drain()
    assert await rig.count(Review) == 0
    assert rig.calls() == []


async def test_another_workspace_is_refused(rig: Rig) -> None:
    [item] = await posted_items(rig)
    response = await rig.click(ids.VERDICT_CORRECT, item, team_id="T0OTHERTEAM")
    assert response.status_code == 200
    await drain()
    assert await rig.count(Review) == 0
    assert [c.method for c in rig.calls()] == ["auth.test"]


async def test_twenty_concurrent_clicks_record_exactly_one_verdict(rig: Rig) -> None:
    [item] = await posted_items(rig)
    responses = await asyncio.gather(*(rig.click(ids.VERDICT_CORRECT, item) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    await drain()
    assert await rig.count(Review) == 1
    assert len(rig.fake.calls("chat.update")) == 1  # repeated clicks change nothing, so edit nothing
    assert "✅ <@U0REV1>" in message_text(rig, await item_ts(rig, item))


async def test_not_sure_asks_the_other_reviewers_in_the_thread_and_a_change_edits(rig: Rig) -> None:
    [item] = await posted_items(rig)
    ts = await item_ts(rig, item)
    await rig.click(ids.VERDICT_UNSURE, item)
    await until(lambda: rig.fake.thread("C0AUDIT", ts), "the thread message")
    [ask] = rig.fake.thread("C0AUDIT", ts)
    assert "<@U0REV2>" in ask["text"] and "<@U0REV1> is not sure" in ask["text"]
    await drain()
    assert "❓ <@U0REV1> not sure" in message_text(rig, ts)
    await rig.click(ids.VERDICT_CORRECT, item)
    await until(lambda: len(rig.fake.calls("chat.update")) == 2, "the second edit")
    await drain()
    assert "✅ <@U0REV1>" in message_text(rig, ts) and "not sure" not in message_text(rig, ts)
    assert await rig.count(Review) == 1


async def test_calibration_hides_the_first_verdict_and_posts_a_disagreement(rig: Rig) -> None:
    [item] = await posted_items(rig, double_review=True)
    ts = await item_ts(rig, item)
    await rig.click(ids.VERDICT_CORRECT, item, user="U0REV1")
    await until(lambda: rig.fake.ephemerals(), "the private confirmation")
    await drain()
    shown = message_text(rig, ts)
    assert "1 of 2 verdicts in" in shown and "U0REV1" not in shown
    payload = view_submission_payload(
        ids.DEFECT_MODAL,
        json.dumps({"item_id": item}),
        defect_state("Wrong plan name", "personalization", "low"),
        user_id="U0REV2",
    )
    await rig.signer.interaction(payload)
    await until(lambda: rig.fake.thread("C0AUDIT", ts), "the disagreement")
    await drain()
    [thread] = rig.fake.thread("C0AUDIT", ts)
    assert "disagree" in thread["text"] and "<@U0REV1>" in thread["text"] and "<@U0REV2>" in thread["text"]
    shown = message_text(rig, ts)
    assert "✅ <@U0REV1>" in shown and "🐞 <@U0REV2> — Personalization · low" in shown


async def test_app_home_shows_the_reviewers_numbers_and_events_are_processed_once(rig: Rig) -> None:
    items = await posted_items(rig, 3)
    await rig.click(ids.VERDICT_CORRECT, items[0])
    await rig.click(ids.VERDICT_UNSURE, items[1])
    await drain()
    event = event_callback({"type": "app_home_opened", "user": "U0REV1", "tab": "home"}, event_id="Ev0HOME1")
    assert (await rig.signer.event(event)).status_code == 200
    await until(lambda: rig.fake.home("U0REV1"), "views.publish")
    retry = await rig.signer.event(
        event, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retry.status_code == 200
    await drain()
    assert len(rig.fake.calls("views.publish")) == 1
    assert await rig.count(SeenEvent, SeenEvent.event_id == "Ev0HOME1") == 1  # clicks are claimed there too
    home = json.dumps(rig.fake.home("U0REV1"), ensure_ascii=False)
    assert "2 verdicts · 0 defects" in home
    assert f"Sample item #{items[2]}" in home and f"Sample item #{items[0]}" not in home


async def test_audit_help_and_stats(rig: Rig) -> None:
    [item] = await posted_items(rig)
    await rig.click(ids.VERDICT_CORRECT, item, user="U0REV2")
    await drain()
    helped = await rig.signer.command(slash_command_form("/audit", "help"))
    assert "/audit stats" in helped.text
    stats = await rig.signer.command(slash_command_form("/audit", "stats <@U0REV2|bob>", user_id="U0REV1"))
    assert stats.status_code == 200
    await until(lambda: rig.fake.ephemerals(), "the stats answer")
    [answer] = rig.fake.ephemerals()
    assert answer["user"] == "U0REV1" and "<@U0REV2>" in answer["text"] and "1 verdicts" in answer["text"]


async def test_a_defect_posts_its_group_card_right_away_and_a_change_of_mind_edits_it(rig: Rig) -> None:
    from bot.core.models import DefectGroup

    [item] = await posted_items(rig)
    with respx.mock(assert_all_called=False) as vendors:
        vendors.route().respond(500)
        submission = view_submission_payload(
            ids.DEFECT_MODAL, json.dumps({"item_id": item}), defect_state("Quotes last year's refund window")
        )
        assert (await rig.signer.interaction(submission)).status_code == 200
        await drain()  # the listener, then the delivery it started: no manual `deliver`
        assert not vendors.calls  # tracker and helpdesk calls wait for the outbox flush
    cards = [c for c in rig.calls("chat.postMessage") if c.args["channel"] == "C0DEFECTS"]
    card = next(c for c in cards if not c.args.get("thread_ts"))
    async with rig.db.session() as session:  # type: ignore[attr-defined]
        group = (await session.execute(sa.select(DefectGroup))).scalar_one()
    assert group.thread_ts == card.response["ts"] and group.occurrences == 1
    assert len(rig.fake.thread("C0DEFECTS", group.thread_ts)) == 1  # the occurrence, in the card's thread

    await rig.click(ids.VERDICT_CORRECT, item)  # changed mind: the defect is withdrawn
    await drain()
    edits = [c for c in rig.calls("chat.update") if c.args["channel"] == "C0DEFECTS"]
    assert edits and edits[-1].args["ts"] == group.thread_ts
    async with rig.db.session() as session:  # type: ignore[attr-defined]
        group = (await session.execute(sa.select(DefectGroup))).scalar_one()
    assert group.occurrences == 0
