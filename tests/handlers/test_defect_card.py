"""End to end: clicks on a defect card (signed, into the real app) edit the card and post in its thread."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from bot.app import build_app, services_of
from bot.core.config import AuditConfig, RoutingRule
from bot.core.services import Services
from bot.defects import regroup
from bot.defects.effects import deliver_pending
from bot.views import ids
from bot.web.app import build_web
from tests.bot.defect_support import Seed, Vendors, routed
from tests.fakes.blockkit import all_text
from tests.fakes.signing import SlackSigner, block_actions_payload, view_submission_payload
from tests.fakes.slack_api import FakeSlack
from tests.waiting import drain, until


@dataclass
class Rig:
    signer: SlackSigner
    fake: FakeSlack
    services: Services
    seed: Seed
    vendors: Vendors

    async def card(self, **kw) -> tuple[int, str]:  # type: ignore[no-untyped-def]
        """File a defect and deliver it: (group id, card ts)."""
        defect = await self.seed.defect(self.services, **kw)
        await deliver_pending(self.services)
        async with self.services.db.session() as session:
            from bot.core.models import DefectGroup

            group = await session.get(DefectGroup, defect.group_id)
        return group.id, group.thread_ts  # type: ignore[return-value]

    async def click(
        self, action_id: str, value: int, ts: str, user: str = "U0ENG", channel: str = "C0DEFECTS"
    ) -> httpx.Response:
        payload = block_actions_payload(
            action_id, str(value), user_id=user, channel_id=channel, message_ts=ts
        )
        return await self.signer.interaction(payload)

    def text(self, ts: str, channel: str = "C0DEFECTS") -> str:
        return all_text(self.fake.message(channel, ts).get("blocks"))

    def thread(self, ts: str, channel: str = "C0DEFECTS") -> list[str]:
        return [m["text"] for m in self.fake.thread(channel, ts)]


def owned(config: AuditConfig) -> AuditConfig:
    """The shared routing, with `tone` owned by the user group S0CONTENT (U0ENG is in it)."""
    config = routed(config)
    return config.model_copy(
        update={"routing": [RoutingRule(categories=["tone"], owner="S0CONTENT"), *config.routing]}
    )


@pytest.fixture
async def rig(db, settings, config, clock, fake_slack: FakeSlack) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"slack_api_url": fake_slack.url})
    fake_slack.add_usergroup("S0CONTENT", ["U0ENG"])  # the content team: owners of what is routed to it
    app = build_app(settings, owned(config), db, clock=clock)
    services = services_of(app)
    vendors = Vendors()
    services.extras["integrations"] = vendors.integrations(services.config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://app"
    ) as http:
        yield Rig(SlackSigner(http), fake_slack, services, Seed(db, clock.now()), vendors)
        await drain()


async def test_take_it_shows_the_owner_and_says_so_in_the_thread(rig: Rig):
    group_id, ts = await rig.card(category="tone")
    response = await rig.click(ids.GROUP_TAKE, group_id, ts)

    assert response.status_code == 200
    await until(lambda: "<@U0ENG>" in rig.text(ts), "the card to show the owner")
    await until(lambda: "🙋 <@U0ENG> took this." in rig.thread(ts), "the thread post")


async def test_wont_fix_asks_for_a_reason_then_closes_the_card(rig: Rig):
    group_id, ts = await rig.card(category="tone")
    await rig.click(ids.GROUP_WONT_FIX, group_id, ts)
    await until(lambda: rig.fake.calls("views.open"), "the Won't fix modal")
    view = rig.fake.calls("views.open")[-1].args["view"]
    assert view["callback_id"] == ids.WONT_FIX_MODAL

    def submit(reason: str) -> dict:
        state = {ids.WONT_FIX_BLOCK: {ids.WONT_FIX_INPUT: {"type": "plain_text_input", "value": reason}}}
        return view_submission_payload(ids.WONT_FIX_MODAL, view["private_metadata"], state, user_id="U0ENG")

    refused = await rig.signer.interaction(submit("  "))
    assert refused.json()["response_action"] == "errors"
    assert (await rig.signer.interaction(submit("Template retired on Monday"))).status_code == 200
    await until(lambda: "🚫 Won't fix: Template retired on Monday" in rig.text(ts), "the closed card")
    await until(lambda: any("cc <@U0REV1>" in t for t in rig.thread(ts)), "the reviewers told")


async def test_fixed_closes_the_tracker_issue_too(rig: Rig):
    group_id, ts = await rig.card()  # template_error → Jira, channel C0CONTENT
    await rig.click(ids.GROUP_FIXED, group_id, ts, user="U0ENG", channel="C0CONTENT")

    await until(lambda: "✅ Fixed" in rig.text(ts, "C0CONTENT"), "the fixed card")
    await until(lambda: rig.vendors.jira.issues["SUP-1"]["status"] == "Done", "the Jira issue done")
    assert "✅ Fixed by <@U0ENG> — thanks <@U0REV1> who caught it" in rig.thread(ts, "C0CONTENT")


async def test_merge_into_another_open_group(rig: Rig):
    source, source_ts = await rig.card(category="tone", template_id="t1")
    target, target_ts = await rig.card(category="tone", template_id="t2")
    await rig.click(ids.GROUP_MERGE, source, source_ts)
    await until(lambda: rig.fake.calls("views.open"), "the Merge modal")
    view = rig.fake.calls("views.open")[-1].args["view"]
    options = view["blocks"][-1]["element"]["options"]
    assert [o["value"] for o in options] == [str(target)]

    state = {
        ids.MERGE_BLOCK: {
            ids.MERGE_INPUT: {"type": "static_select", "selected_option": {"value": str(target)}}
        }
    }
    payload = view_submission_payload(ids.MERGE_MODAL, view["private_metadata"], state, user_id="U0ENG")
    assert (await rig.signer.interaction(payload)).status_code == 200
    await until(lambda: "↪️ Merged into" in rig.text(source_ts), "the merged card")
    await until(lambda: "*Occurrences*\n2" in rig.text(target_ts), "the target's count")


async def test_move_an_occurrence_into_a_new_group(rig: Rig):
    _, ts = await rig.card(category="tone", template_id="t1")
    await rig.seed.defect(rig.services, category="tone", template_id="t1", reviewer="U0REV2")
    await deliver_pending(rig.services)
    occurrence = rig.fake.thread("C0DEFECTS", ts)[-1]
    button = occurrence["blocks"][-1]["elements"][0]
    assert button["action_id"] == ids.GROUP_MOVE_DEFECT

    await rig.click(ids.GROUP_MOVE_DEFECT, int(button["value"]), occurrence["ts"], user="U0REV2")
    await until(lambda: rig.fake.calls("views.open"), "the Move modal")
    view = rig.fake.calls("views.open")[-1].args["view"]
    state = {
        ids.MOVE_BLOCK: {ids.MOVE_INPUT: {"type": "static_select", "selected_option": {"value": "split"}}}
    }
    payload = view_submission_payload(ids.MOVE_MODAL, view["private_metadata"], state, user_id="U0REV2")
    assert json.loads(view["private_metadata"]) == {"defect_id": int(button["value"])}
    assert (await rig.signer.interaction(payload)).status_code == 200
    await until(lambda: len(rig.fake.messages("C0DEFECTS")) == 2, "the split group's card")
    await until(lambda: "*Occurrences*\n1" in rig.text(ts), "the original count down to 1")


async def test_fixed_on_a_merged_groups_card_gets_an_ephemeral_answer(rig: Rig):
    """A merged group cannot be closed again: the clicker is told where its defects went."""
    source, source_ts = await rig.card(category="tone", template_id="t1")
    target, _ = await rig.card(category="tone", template_id="t2")
    async with rig.services.db.transaction() as session:
        await regroup.merge_group(
            session=session, group_id=source, into_id=target, user="U0ENG", now=rig.services.clock.now()
        )
    await deliver_pending(rig.services)
    await until(lambda: "↪️ Merged into" in rig.text(source_ts), "the merged card")
    before = rig.text(source_ts)

    assert (await rig.click(ids.GROUP_FIXED, source, source_ts)).status_code == 200
    await until(lambda: rig.fake.ephemerals("C0DEFECTS"), "the ephemeral answer")
    [answer] = rig.fake.ephemerals("C0DEFECTS")
    assert answer["user"] == "U0ENG"
    assert answer["text"].startswith("That did not work: this group was merged into “Tone in template t2”")
    await drain()
    assert rig.text(source_ts) == before  # still merged, not fixed


async def test_editing_a_defect_in_its_modal_regroups_reroutes_and_refreshes_both_cards(rig: Rig):
    item = await rig.seed.item(template_id="refund_policy_v3", posted=False)  # no item message to edit

    def submission(category: str, severity: str) -> dict:  # type: ignore[type-arg]
        select = {"type": "static_select"}
        state = {
            ids.CATEGORY_BLOCK: {ids.CATEGORY_INPUT: {**select, "selected_option": {"value": category}}},
            ids.SEVERITY_BLOCK: {ids.SEVERITY_INPUT: {**select, "selected_option": {"value": severity}}},
            ids.WRONG_BLOCK: {ids.WRONG_INPUT: {"type": "plain_text_input", "value": "Wrong refund window"}},
            ids.EXPECTED_BLOCK: {ids.EXPECTED_INPUT: {"type": "plain_text_input", "value": None}},
            ids.HELPDESK_NOTE_BLOCK: {
                ids.HELPDESK_NOTE_INPUT: {"type": "checkboxes", "selected_options": []}
            },
        }
        return view_submission_payload(
            ids.DEFECT_MODAL, json.dumps({"item_id": item}), state, user_id="U0REV1"
        )

    assert (await rig.signer.interaction(submission("tone", "low"))).status_code == 200
    await until(lambda: len(rig.fake.messages("C0DEFECTS")) == 1, "the tone group's card")
    old_ts = rig.fake.messages("C0DEFECTS")[0]["ts"]
    assert "low" in rig.text(old_ts)

    assert (await rig.signer.interaction(submission("wrong_information", "critical"))).status_code == 200
    await until(lambda: len(rig.fake.messages("C0DEFECTS")) == 2, "the new group's card")
    await until(lambda: "↪️ Merged into" in rig.text(old_ts), "the old card refreshed")
    new_ts = rig.fake.messages("C0DEFECTS")[1]["ts"]
    card = rig.text(new_ts)
    assert "Wrong information in template" in card and "wrong information" in card and "critical" in card
    await deliver_pending(rig.services)  # the scheduled flush files the issue: the category is routed
    (issue,) = rig.vendors.github.issues.values()
    assert issue["title"] == "[auditbot] Wrong information in template refund_policy_v3"
    assert any("recategorised" in text for text in rig.thread(old_ts))
