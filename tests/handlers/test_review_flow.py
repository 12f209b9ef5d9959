"""End to end: signed requests into the real app, the fake Slack on loopback, a real database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
import respx
import sqlalchemy as sa

from bot.app import build_app
from bot.core.config import AuditConfig, Settings
from bot.core.models import Defect, Review, SeenEvent
from bot.core.services import build_client
from bot.views import ids
from bot.web.app import build_web
from tests.bot.seed_reviews import seed_items
from tests.fakes.signing import (
    SlackSigner,
    block_actions_payload,
    event_callback,
    slash_command_form,
    view_submission_payload,
)
from tests.fakes.slack_api import FakeSlack

WAIT_SECONDS = 10


@dataclass
class Rig:
    http: httpx.AsyncClient
    signer: SlackSigner
    fake: FakeSlack
    db: object
    setup_calls: int = 0

    def calls(self, method: str | None = None) -> list:  # type: ignore[type-arg]
        """What the app asked of Slack (the test's own set-up posts left out)."""
        return [c for c in self.fake.calls()[self.setup_calls :] if method in (None, c.method)]

    async def click(self, action_id: str, item_id: int, user: str = "U0REV1", **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
        payload = block_actions_payload(action_id, str(item_id), user_id=user, **kw)
        return await self.signer.interaction(payload)

    async def count(self, model, *where) -> int:  # type: ignore[no-untyped-def]
        async with self.db.session() as session:  # type: ignore[attr-defined]
            stmt = sa.select(sa.func.count()).select_from(model).where(*where)
            return (await session.execute(stmt)).scalar_one()


async def until(condition: Callable[[], object], what: str) -> None:
    """Wait (bounded) for a listener that runs after the ack to have done something."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def drain() -> None:
    """Wait (bounded) until every listener task started by the app has finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        if not pending:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{len(pending)} listener tasks still running")
        await asyncio.wait(pending, timeout=deadline - loop.time())


@pytest.fixture
def review_config(config: AuditConfig) -> AuditConfig:
    routing = [{"categories": ["template_error"], "tracker": "jira", "project": "SUP", "helpdesk_note": True}]
    return AuditConfig.model_validate({**config.model_dump(), "routing": routing})


@pytest.fixture
async def rig(db, settings: Settings, review_config, clock, fake_slack: FakeSlack) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(
        update={
            "slack_api_url": fake_slack.url,
            "jira_url": "https://jira.vendor.test",
            "jira_api_token": "x",
        }
    )
    app = build_app(settings, review_config, db, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://app"
    ) as http:
        yield Rig(http, SlackSigner(http), fake_slack, db)
        await drain()


async def posted_items(rig: Rig, count: int = 1, **kw) -> list[int]:  # type: ignore[no-untyped-def]
    """Sample items whose messages exist in the fake's audit channel."""
    client = build_client(
        Settings(_env_file=None, slack_bot_token=rig.fake.token, slack_api_url=rig.fake.url)
    )
    stamps = [
        (await client.chat_postMessage(channel="C0AUDIT", text=f"item {n}"))["ts"] for n in range(count)
    ]
    rig.setup_calls = len(rig.fake.calls())
    return await seed_items(rig.db, count, message_ts=stamps, **kw)  # type: ignore[arg-type]


def defect_state(note: str, category: str = "template_error", severity: str = "high") -> dict:  # type: ignore[type-arg]
    return {
        ids.CATEGORY_BLOCK: {
            ids.CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": category}}
        },
        ids.SEVERITY_BLOCK: {
            ids.SEVERITY_INPUT: {"type": "static_select", "selected_option": {"value": severity}}
        },
        ids.WRONG_BLOCK: {ids.WRONG_INPUT: {"type": "plain_text_input", "value": note}},
        ids.EXPECTED_BLOCK: {ids.EXPECTED_INPUT: {"type": "plain_text_input", "value": None}},
        ids.HELPDESK_NOTE_BLOCK: {
            ids.HELPDESK_NOTE_INPUT: {
                "type": "checkboxes",
                "selected_options": [{"value": ids.HELPDESK_NOTE_VALUE}],
            }
        },
    }


def message_text(rig: Rig, item_ts: str) -> str:
    return json.dumps(rig.fake.message("C0AUDIT", item_ts).get("blocks"), ensure_ascii=False)


async def item_ts(rig: Rig, item_id: int) -> str:
    from bot.core.models import SampleItem

    async with rig.db.session() as session:  # type: ignore[attr-defined]
        item = await session.get(SampleItem, item_id)
        return item.message_ts  # type: ignore[union-attr,return-value]


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
    assert await rig.count(SeenEvent) == 1
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
