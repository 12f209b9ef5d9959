"""The role table (README → "Who may do what"), row by row, each with a non-reviewer, a reviewer,
the owner of the defect group (a member of the user group it is routed to) and an admin.

End to end: signed requests into the real app, the fake Slack on loopback, a real database. A
refused click changes nothing (rows counted), is explained to the clicker alone (an ephemeral
message, or an error inside the modal), and is logged in one line without customer text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

from bot.app import build_app, services_of
from bot.core.config import AuditConfig, RoutingRule
from bot.core.models import Defect, DefectGroup, Finding, FindingFeedback, OutboxItem, Review, SampleItem
from bot.core.services import Services, build_client
from bot.core.settings import Settings
from bot.defects.effects import deliver_pending
from bot.views import ids
from bot.web.app import build_web
from tests.bot.defect_support import Seed, Vendors
from tests.bot.seed_reviews import seed_items
from tests.fakes.signing import (
    SlackSigner,
    block_actions_payload,
    event_callback,
    slash_command_form,
    view_submission_payload,
)
from tests.fakes.slack_api import FakeSlack
from tests.handlers.test_review_flow import defect_state
from tests.waiting import drain, until

USERS = {"non-reviewer": "U0STRANGER", "reviewer": "U0REV1", "owner": "U0ENG", "admin": "U0ADMIN"}
EVERYONE = set(USERS)
REVIEW = {"reviewer", "admin"}
GROUP = {"reviewer", "owner", "admin"}
# The README's table, as the tests read it: who may do each thing.
TABLE = {
    "verdict": REVIEW,
    "full_text": REVIEW,
    "finding_feedback": REVIEW,
    "take": GROUP,
    "fixed": GROUP,
    "wont_fix": GROUP,
    "merge": GROUP,
    "move": GROUP,
    "audit_help": EVERYONE,
    "audit_stats": REVIEW,
    "audit_sample": {"admin"},
    "audit_config": {"admin"},
    "audit_fixed": GROUP,
    "home": EVERYONE,
}
CUSTOMER_TEXT = "dana@example.com"  # in every seeded defect's note: never in a log line


@dataclass
class Rig:
    signer: SlackSigner
    fake: FakeSlack
    services: Services
    seed: Seed

    async def item(self) -> tuple[int, str]:
        """A sample item whose message is in the audit channel: (id, message ts)."""
        client = build_client(
            Settings(_env_file=None, slack_bot_token=self.fake.token, slack_api_url=self.fake.url)
        )
        ts = (await client.chat_postMessage(channel="C0AUDIT", text="item"))["ts"]
        [item] = await seed_items(self.services.db, 1, message_ts=[ts], day=_next_day())
        return item, ts

    async def finding(self) -> tuple[int, str]:
        """An automatic finding shown on a posted sample item: (finding id, the item's message ts)."""
        client = build_client(
            Settings(_env_file=None, slack_bot_token=self.fake.token, slack_api_url=self.fake.url)
        )
        ts = (await client.chat_postMessage(channel="C0AUDIT", text="item"))["ts"]
        [item] = await seed_items(
            self.services.db, 1, message_ts=[ts], day=_next_day(), findings={0: "placeholder_leak"}
        )
        async with self.services.db.session() as session:
            reply_id = (await session.get(SampleItem, item)).reply_id  # type: ignore[union-attr]
            stmt = sa.select(Finding.id).where(Finding.reply_id == reply_id)
            return (await session.execute(stmt)).scalar_one(), ts

    async def card(self, template: str = "t1") -> tuple[int, str]:
        """A defect group (category tone: routed to S0CONTENT) with its card posted: (id, card ts)."""
        defect = await self.seed.defect(self.services, category="tone", template_id=template)
        await deliver_pending(self.services)
        group = await self.get(DefectGroup, defect.group_id)
        return group.id, group.thread_ts

    async def occurrence(self, card_ts: str) -> tuple[int, str]:
        """The first occurrence post in a card's thread: (defect id, post ts)."""
        post = next(m for m in self.fake.thread("C0DEFECTS", card_ts) if m.get("blocks"))
        button = post["blocks"][-1]["elements"][0]
        assert button["action_id"] == ids.GROUP_MOVE_DEFECT
        return int(button["value"]), post["ts"]

    async def click(
        self, action_id: str, value: int, ts: str, who: str, channel: str = "C0AUDIT"
    ) -> httpx.Response:
        payload = block_actions_payload(
            action_id, str(value), user_id=USERS[who], channel_id=channel, message_ts=ts
        )
        response = await self.signer.interaction(payload)
        await drain()
        return response

    async def submit(self, callback_id: str, metadata: dict, state: dict, who: str) -> httpx.Response:  # type: ignore[type-arg]
        payload = view_submission_payload(callback_id, json.dumps(metadata), state, user_id=USERS[who])
        response = await self.signer.interaction(payload)
        await drain()
        return response

    async def get(self, model, key):  # type: ignore[no-untyped-def]
        async with self.services.db.session() as session:
            return await session.get(model, key)

    async def count(self, model) -> int:  # type: ignore[no-untyped-def]
        async with self.services.db.session() as session:
            return (await session.execute(sa.select(sa.func.count()).select_from(model))).scalar_one()

    def refused(self, who: str) -> list[str]:
        """The ephemeral messages `who` got."""
        return [m["text"] for m in self.fake.ephemerals() if m["user"] == USERS[who]]

    def opened(self, callback_id: str) -> int:
        return sum(c.args["view"]["callback_id"] == callback_id for c in self.fake.calls("views.open"))


_days = iter(range(1, 10_000))


def _next_day():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.date(2026, 1, 1) + dt.timedelta(days=next(_days))


@pytest.fixture
async def rig(db, settings, config: AuditConfig, clock, fake_slack: FakeSlack) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"slack_api_url": fake_slack.url})
    config = config.model_copy(update={"routing": [RoutingRule(categories=["tone"], owner="S0CONTENT")]})
    fake_slack.add_usergroup("S0CONTENT", ["U0ENG"])
    app = build_app(settings, config, db, clock=clock)
    services = services_of(app)
    services.extras["integrations"] = Vendors().integrations(config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://app"
    ) as http:
        yield Rig(SlackSigner(http), fake_slack, services, Seed(db, clock.now()))
        await drain()


def _assert_refused(rig: Rig, who: str, doing: str, caplog: pytest.LogCaptureFixture) -> None:
    [text] = rig.refused(who)
    assert text.startswith("Only ") and doing in text, text
    [line] = [r.getMessage() for r in caplog.records if r.name == "auditbot.access"]
    assert line.startswith("refused ") and USERS[who] in line and CUSTOMER_TEXT not in caplog.text


@pytest.fixture(autouse=True)
def _access_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="auditbot.access")


@pytest.mark.parametrize("who", USERS)
async def test_record_a_verdict(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    item, ts = await rig.item()
    await rig.click(ids.VERDICT_CORRECT, item, ts, who)
    await rig.click(ids.OPEN_DEFECT_MODAL, item, ts, who)
    if who in TABLE["verdict"]:
        assert await rig.count(Review) == 1 and rig.opened(ids.DEFECT_MODAL) == 1
        assert rig.refused(who) == []
    else:
        assert await rig.count(Review) == 0 and rig.opened(ids.DEFECT_MODAL) == 0
        assert (
            len(rig.refused(who)) == 2
            and "Only reviewers and admins can record verdicts" in rig.refused(who)[0]
        )
    # The modal's submission is checked too (a role can be lost while the modal is open).
    response = await rig.submit(ids.DEFECT_MODAL, {"item_id": item}, defect_state("Wrong plan"), who)
    verdicts = await rig.count(Review)
    if who in TABLE["verdict"]:
        assert response.status_code == 200 and not response.content and verdicts == 1
        async with rig.services.db.session() as session:
            assert (await session.execute(sa.select(Review.verdict))).scalar_one() == "defect"
    else:
        assert response.json()["response_action"] == "errors" and verdicts == 0
        assert "Only reviewers and admins" in response.json()["errors"][ids.WRONG_BLOCK]


@pytest.mark.parametrize("who", USERS)
async def test_open_full_text(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    item, ts = await rig.item()
    await rig.click(ids.OPEN_FULL_TEXT, item, ts, who)
    if who in TABLE["full_text"]:
        assert rig.opened(ids.FULL_TEXT_MODAL) == 1 and rig.refused(who) == []
    else:
        assert rig.opened(ids.FULL_TEXT_MODAL) == 0
        _assert_refused(rig, who, "open the full conversation", caplog)


@pytest.mark.parametrize("who", USERS)
async def test_judge_a_finding(rig: Rig, who: str) -> None:
    finding, ts = await rig.finding()
    await rig.click(ids.FINDING_CONFIRMED, finding, ts, who)
    await rig.click(ids.FINDING_FALSE_ALARM, finding, ts, who)
    if who in TABLE["finding_feedback"]:
        feedback = await rig.get(FindingFeedback, 1)
        assert feedback.verdict == "false_alarm" and rig.opened(ids.FALSE_ALARM_MODAL) == 1
        assert rig.refused(who) == []
    else:
        assert await rig.count(FindingFeedback) == 0 and rig.opened(ids.FALSE_ALARM_MODAL) == 0
        assert "Only reviewers and admins can mark an automatic finding" in rig.refused(who)[0]
    # the reason modal's submission is checked too
    response = await rig.submit(ids.FALSE_ALARM_MODAL, {"finding_id": finding}, {}, who)
    if who in TABLE["finding_feedback"]:
        assert response.status_code == 200 and not response.content
    else:
        assert response.json()["response_action"] == "errors"
        assert await rig.count(FindingFeedback) == 0


@pytest.mark.parametrize("who", USERS)
async def test_take_a_group(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    group_id, ts = await rig.card()
    effects = await rig.count(OutboxItem)
    await rig.click(ids.GROUP_TAKE, group_id, ts, who, channel="C0DEFECTS")
    group = await rig.get(DefectGroup, group_id)
    if who in TABLE["take"]:
        assert group.owner == USERS[who] and await rig.count(OutboxItem) > effects
    else:
        assert group.owner == "S0CONTENT" and await rig.count(OutboxItem) == effects
        _assert_refused(rig, who, "take a defect group", caplog)


@pytest.mark.parametrize("who", USERS)
async def test_mark_a_group_fixed(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    group_id, ts = await rig.card()
    effects = await rig.count(OutboxItem)
    await rig.click(ids.GROUP_FIXED, group_id, ts, who, channel="C0DEFECTS")
    group = await rig.get(DefectGroup, group_id)
    if who in TABLE["fixed"]:
        assert group.status == "fixed" and any(
            f"Fixed by <@{USERS[who]}>" in str(c.args) for c in rig.fake.calls()
        )
    else:
        assert group.status == "open" and await rig.count(OutboxItem) == effects
        _assert_refused(rig, who, "mark a defect group fixed", caplog)


@pytest.mark.parametrize("who", USERS)
async def test_wont_fix_a_group(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    group_id, ts = await rig.card()
    await rig.click(ids.GROUP_WONT_FIX, group_id, ts, who, channel="C0DEFECTS")
    state = {
        ids.WONT_FIX_BLOCK: {ids.WONT_FIX_INPUT: {"type": "plain_text_input", "value": "Template retired"}}
    }
    response = await rig.submit(ids.WONT_FIX_MODAL, {"group_id": group_id}, state, who)
    group = await rig.get(DefectGroup, group_id)
    if who in TABLE["wont_fix"]:
        assert rig.opened(ids.WONT_FIX_MODAL) == 1 and group.status == "wont_fix"
    else:
        assert rig.opened(ids.WONT_FIX_MODAL) == 0 and group.status == "open"
        assert "Only reviewers, admins and the group's owner" in response.json()["errors"][ids.WONT_FIX_BLOCK]
        assert "close a defect group as won't fix" in rig.refused(who)[0]


@pytest.mark.parametrize("who", USERS)
async def test_merge_a_group(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    source, ts = await rig.card("t1")
    target, _ = await rig.card("t2")
    await rig.click(ids.GROUP_MERGE, source, ts, who, channel="C0DEFECTS")
    state = {
        ids.MERGE_BLOCK: {
            ids.MERGE_INPUT: {"type": "static_select", "selected_option": {"value": str(target)}}
        }
    }
    response = await rig.submit(ids.MERGE_MODAL, {"group_id": source}, state, who)
    group = await rig.get(DefectGroup, source)
    if who in TABLE["merge"]:
        assert rig.opened(ids.MERGE_MODAL) == 1 and group.status == "merged"
    else:
        assert rig.opened(ids.MERGE_MODAL) == 0 and group.status == "open"
        assert response.json()["response_action"] == "errors"
        assert "merge a defect group" in rig.refused(who)[0]


@pytest.mark.parametrize("who", USERS)
async def test_move_an_occurrence(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    group_id, card_ts = await rig.card()
    defect_id, post_ts = await rig.occurrence(card_ts)
    await rig.click(ids.GROUP_MOVE_DEFECT, defect_id, post_ts, who, channel="C0DEFECTS")
    state = {
        ids.MOVE_BLOCK: {ids.MOVE_INPUT: {"type": "static_select", "selected_option": {"value": "split"}}}
    }
    response = await rig.submit(ids.MOVE_MODAL, {"defect_id": defect_id}, state, who)
    defect = await rig.get(Defect, defect_id)
    if who in TABLE["move"]:
        assert rig.opened(ids.MOVE_MODAL) == 1 and defect.group_id != group_id
    else:
        assert rig.opened(ids.MOVE_MODAL) == 0 and defect.group_id == group_id
        assert response.json()["response_action"] == "errors"
        assert "move or split an occurrence" in rig.refused(who)[0]


async def _command(rig: Rig, text: str, who: str) -> httpx.Response:
    response = await rig.signer.command(slash_command_form("/audit", text, user_id=USERS[who]))
    await drain()
    return response


@pytest.mark.parametrize("who", USERS)
async def test_audit_help(rig: Rig, who: str) -> None:
    response = await _command(rig, "help", who)
    assert "/audit stats" in response.text and "Only" not in response.text


@pytest.mark.parametrize("who", USERS)
async def test_audit_stats(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    response = await _command(rig, "stats", who)
    if who in TABLE["audit_stats"]:
        await until(lambda: rig.fake.ephemerals(), "the stats")
        assert "verdicts" in rig.fake.ephemerals()[0]["text"]
    else:
        assert "Only reviewers and admins can use `/audit stats`" in response.text
        assert rig.fake.ephemerals() == []


@pytest.mark.parametrize("who", USERS)
async def test_audit_sample(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    response = await _command(rig, "sample", who)
    if who in TABLE["audit_sample"]:
        assert "Drawing and posting today's sample" in response.text
    else:
        assert "Only admins can post today's sample" in response.text
        assert rig.fake.calls("chat.postMessage") == []


@pytest.mark.parametrize("who", USERS)
async def test_audit_config(rig: Rig, who: str) -> None:
    response = await _command(rig, "config", who)
    if who in TABLE["audit_config"]:
        assert response.status_code == 200 and "Only admins" not in response.text
        await until(lambda: rig.fake.ephemerals(), "the config message")
        assert "outbox" in rig.fake.ephemerals()[-1]["text"].lower()
    else:
        assert "Only admins can see the team config" in response.text
        assert rig.fake.ephemerals() == []


@pytest.mark.parametrize("who", USERS)
async def test_audit_fixed(rig: Rig, who: str, caplog) -> None:  # type: ignore[no-untyped-def]
    group_id, _ = await rig.card()
    effects = await rig.count(OutboxItem)
    response = await _command(rig, f"fixed #{group_id}", who)
    assert response.status_code == 200
    group = await rig.get(DefectGroup, group_id)
    [answer] = rig.refused(who)  # the answer, whatever it is, goes to the caller alone
    if who in TABLE["audit_fixed"]:
        assert group.status == "fixed" and answer.startswith("✅ Marked") and "verified until" in answer
    else:
        assert group.status == "open" and await rig.count(OutboxItem) == effects
        _assert_refused(rig, who, "mark a defect group fixed with `/audit fixed`", caplog)


async def test_audit_fixed_names_a_group_by_number_or_issue_and_says_what_is_wrong(rig: Rig) -> None:
    await _command(rig, "fixed #999", "admin")
    await _command(rig, "fixed", "admin")
    group_id, _ = await rig.card()
    await _command(rig, f"fixed {group_id}", "admin")
    await _command(rig, f"fixed {group_id}", "admin")  # again: it is fixed already
    answers = rig.refused("admin")
    assert "There is no defect group `#999`" in answers[0]
    assert answers[1].startswith("✅ Marked") and "already fixed" in answers[2]


@pytest.mark.parametrize("who", USERS)
async def test_app_home(rig: Rig, who: str) -> None:
    event = event_callback(
        {"type": "app_home_opened", "user": USERS[who], "tab": "home"}, event_id=f"Ev{who}"
    )
    assert (await rig.signer.event(event)).status_code == 200
    await until(lambda: rig.fake.home(USERS[who]), "the Home tab")


def test_the_table_covers_every_rule() -> None:
    from bot.core.access import RULES

    assert len(TABLE) == len(RULES)


# --- a button must be clicked on its own target's message -----------------------------------------


async def test_an_items_button_on_another_items_message_is_refused(rig: Rig, caplog) -> None:  # type: ignore[no-untyped-def]
    first, first_ts = await rig.item()
    second, second_ts = await rig.item()
    await rig.click(ids.VERDICT_CORRECT, first, second_ts, "reviewer")  # item 1's value, item 2's message
    await rig.click(ids.OPEN_FULL_TEXT, second, first_ts, "admin")
    await rig.click(ids.VERDICT_CORRECT, first, first_ts, "reviewer", channel="C0ELSEWHERE")  # a copy
    assert await rig.count(Review) == 0 and rig.opened(ids.FULL_TEXT_MODAL) == 0
    assert all("does not belong to the message" in t for t in rig.refused("reviewer") + rig.refused("admin"))
    assert len(rig.refused("reviewer")) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "auditbot.access"]
    assert lines[0] == f"refused verdict by U0REV1 on item {first}: not the target's message"
    await rig.click(ids.VERDICT_CORRECT, first, first_ts, "reviewer")  # its own message: fine
    assert await rig.count(Review) == 1


async def test_a_group_button_on_another_groups_card_is_refused(rig: Rig) -> None:
    first, first_ts = await rig.card("t1")
    _, second_ts = await rig.card("t2")
    await rig.click(ids.GROUP_FIXED, first, second_ts, "admin", channel="C0DEFECTS")
    defect_id, post_ts = await rig.occurrence(first_ts)
    other_defect, _ = await rig.occurrence(second_ts)
    await rig.click(ids.GROUP_MOVE_DEFECT, other_defect, post_ts, "admin", channel="C0DEFECTS")
    assert (await rig.get(DefectGroup, first)).status == "open" and rig.opened(ids.MOVE_MODAL) == 0
    assert len(rig.refused("admin")) == 2
    await rig.click(ids.GROUP_MOVE_DEFECT, defect_id, post_ts, "admin", channel="C0DEFECTS")
    assert rig.opened(ids.MOVE_MODAL) == 1


async def test_an_item_whose_ts_is_not_stored_yet_is_known_by_its_message_metadata(rig: Rig) -> None:
    item, ts = await rig.item()
    async with rig.services.db.transaction() as session:
        await session.execute(sa.text("UPDATE sample_items SET message_ts = NULL WHERE id = :i"), {"i": item})
    named = {
        "type": "message",
        "ts": ts,
        "text": "",
        "metadata": {"event_type": "auditbot_item", "event_payload": {"item_id": item}},
    }
    other = {**named, "metadata": {"event_type": "auditbot_item", "event_payload": {"item_id": item + 1}}}
    for message in (other, named):
        payload = block_actions_payload(
            ids.OPEN_FULL_TEXT, str(item), user_id="U0REV1", message_ts=ts, message=message
        )
        await rig.signer.interaction(payload)
        await drain()
    assert rig.opened(ids.FULL_TEXT_MODAL) == 1 and len(rig.refused("reviewer")) == 1


async def test_a_copy_of_an_items_message_is_known_by_its_metadata(rig: Rig) -> None:
    """A message posted again after a crash carries the same item id; a copy elsewhere does not count."""
    item, _ = await rig.item()
    metadata = {"event_type": "auditbot_item", "event_payload": {"item_id": item}}
    copy = {"type": "message", "ts": "1700000999.000001", "text": "", "metadata": metadata}
    for channel in ("C0ELSEWHERE", "C0AUDIT"):
        payload = block_actions_payload(
            ids.VERDICT_CORRECT,
            str(item),
            user_id="U0REV1",
            channel_id=channel,
            message_ts=copy["ts"],
            message=copy,
        )
        await rig.signer.interaction(payload)
        await drain()
    assert await rig.count(Review) == 1 and len(rig.refused("reviewer")) == 1
