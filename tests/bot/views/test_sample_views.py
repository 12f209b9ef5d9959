"""Sample message builders: pure, checked against Block Kit limits, untrusted text neutralised."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import ActionsBlock

from bot.core.redact import ZWSP
from bot.views import ids
from bot.views.sample import (
    BUILDER_URL,
    HeaderView,
    ItemView,
    build_full_text_modal,
    build_sample_header,
    build_sample_item,
    builder_link,
    header_text,
    item_fallback,
    split_text,
    window_label,
)
from tests.fakes.blockkit import all_text, check_blocks, check_view, pings

BERLIN = ZoneInfo("Europe/Berlin")
HOSTILE = "<!channel> hi <@U0BOSS> & <https://evil.test|click> dana@example.com +1 (415) 555-0100"


def day(d: int, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, d, tzinfo=BERLIN).astimezone(dt.UTC)


def item(**kw: object) -> ItemView:
    values: dict[str, object] = {
        "item_id": 42,
        "ticket_id": "T-4821",
        "reply": "Hi Dana, your refund is on its way.",
        "position": 3,
        "total": 20,
        "ticket_url": "https://help.example.test/tickets/4821",
        "customer_message": "Where is my refund?",
        "channel": "email",
        "intent": "billing",
        "template_id": "refund_policy_v3",
        "customer_plan": "Pro",
        "csat": 2,
        "findings": (("placeholder_leak", {"placeholder": "{{first_name}}"}),),
    }
    values.update(kw)
    return ItemView(**values)  # type: ignore[arg-type]


def dicts(blocks: list) -> list[dict]:  # type: ignore[type-arg]
    return [b.to_dict() for b in blocks]


def test_header_says_how_many_of_how_many_from_when_and_who_reviews() -> None:
    view = HeaderView(
        shown=20,
        population=4812,
        flagged_drawn=6,
        window_start=day(26),
        window_end=day(27),
        timezone=BERLIN,
        reviewer_group="S0REVIEWERS",
        double_review=2,
    )
    assert header_text(view) == (
        "*Daily audit* — 20 of 4,812 AI replies from Thu 26 Nov · 6 flagged by checks · "
        "reviewers: <!subteam^S0REVIEWERS>"
    )
    blocks = dicts(build_sample_header(view))
    assert check_blocks(blocks) == []
    assert "2 need two independent verdicts" in all_text(blocks)


def test_header_mentions_reviewer_list_and_drops_odd_ids() -> None:
    view = HeaderView(20, 100, 1, day(20), day(23), BERLIN, reviewers=("U0REV1", "U0REV2", "<!channel>"))
    text = header_text(view)
    assert "from Fri 20 – Sun 22 Nov" in text
    assert text.endswith("reviewers: <@U0REV1>, <@U0REV2>")
    assert "<!channel>" not in text


def test_window_label_across_months() -> None:
    assert window_label(day(27), dt.datetime(2026, 12, 2, tzinfo=BERLIN), BERLIN) == "Fri 27 Nov – Tue 1 Dec"


def test_item_shows_ticket_facts_texts_findings_and_buttons_with_the_item_id() -> None:
    blocks = build_sample_item(item())
    data = dicts(blocks)
    assert check_blocks(data) == []
    text = all_text(data).replace(ZWSP, "")  # formatting markers in untrusted text carry a ZWSP
    assert "<https://help.example.test/tickets/4821|T-4821>" in text
    for fact in ("channel: email", "intent: billing", "template: `refund_policy_v3`", "plan: Pro", "CSAT: 2"):
        assert fact in text
    assert "Where is my refund?" in text and "your refund is on its way" in text
    assert "⚠ placeholder left in reply: `{{first_name}}`" in text
    actions = next(b for b in blocks if isinstance(b, ActionsBlock))
    buttons = [e.to_dict() for e in actions.elements]
    assert [b["action_id"] for b in buttons] == [
        ids.VERDICT_CORRECT,
        ids.OPEN_DEFECT_MODAL,
        ids.VERDICT_UNSURE,
        ids.OPEN_FULL_TEXT,
    ]
    assert [b["text"]["text"] for b in buttons] == ["Correct", "Defect…", "Not sure", "Full text"]
    assert {b["value"] for b in buttons} == {"42"}


def test_untrusted_text_is_escaped_and_redacted_everywhere() -> None:
    view = item(
        reply=HOSTILE,
        customer_message=HOSTILE,
        ticket_id="T-1 <!here>",
        ticket_url="javascript:alert(1)",
        intent="<!everyone>",
        findings=(("name_mismatch", {"greeted": HOSTILE, "customer": "Dana"}), ("odd_kind", {"x": 1})),
    )
    blocks = dicts(build_sample_item(view))
    modal = build_full_text_modal(view).to_dict()
    for surface in (blocks, modal, item_fallback(view)):
        assert pings(surface) == []
        text = all_text(surface)
        assert "dana@example.com" not in text and "555-0100" not in text
        assert "<https://evil.test" not in text and "javascript:" not in text
        assert "&lt;!channel&gt;" in text
    assert "odd kind" in all_text(blocks)  # an unknown finding still shows, by its kind


def test_long_texts_are_truncated_with_a_visible_ellipsis_within_limits() -> None:
    long = "word " * 2000 + "&<>" * 500
    many = tuple(("placeholder_leak", {"placeholder": long}) for _ in range(3))
    blocks = dicts(build_sample_item(item(reply=long, customer_message=long, findings=many)))
    assert check_blocks(blocks) == []
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(s) <= 3000 for s in sections)
    assert sum(s.endswith("…") for s in sections) >= 3
    assert len(item_fallback(item(reply=long))) <= 200


def test_verdict_lines_are_shown_for_a_re_render() -> None:
    lines = ("✅ <@U0REV1> Correct", "🐞 <@U0REV2> Defect · Template error · high")
    blocks = dicts(
        build_sample_item(item(verdict_lines=lines, thread_link="https://x.slack.com/archives/C1/p1"))
    )
    assert check_blocks(blocks) == []
    text = all_text(blocks)
    assert all(line in text for line in lines)
    assert "<https://x.slack.com/archives/C1/p1|discussion thread>" in text


def test_item_without_optional_fields() -> None:
    view = ItemView(item_id=1, ticket_id="T-1", reply="ok")
    blocks = dicts(build_sample_item(view))
    assert check_blocks(blocks) == []
    assert "None" not in all_text(blocks)


def test_full_text_modal_holds_the_whole_conversation_split_across_blocks() -> None:
    reply = "\n".join(f"line {n} & more <b>" for n in range(1500))  # ~30k chars once escaped
    modal = build_full_text_modal(item(reply=reply, customer_message="short question")).to_dict()
    assert check_view(modal) == []
    assert modal["callback_id"] == ids.FULL_TEXT_MODAL
    assert json.loads(modal["private_metadata"]) == {"item_id": 42}
    sections = [b["text"]["text"] for b in modal["blocks"] if b["type"] == "section"]
    assert len(sections) > 10 and all(len(s) <= 3000 for s in sections)
    joined = "\n".join(sections)
    for n in (0, 749, 1499):
        assert f"line {n} &amp; more &lt;b&gt;" in joined
    assert "short question" in joined


def test_full_text_modal_of_a_huge_reply_stops_with_a_note_within_view_limits() -> None:
    modal = build_full_text_modal(item(reply="lorem " * 70_000, customer_message="ipsum " * 70_000)).to_dict()
    assert check_view(modal) == []
    assert len(modal["blocks"]) <= 100 and len(json.dumps(modal)) < 250_000
    notes = [
        b for b in modal["blocks"] if b["type"] == "context" and "more characters not shown" in all_text(b)
    ]
    assert len(notes) == 2


def test_split_text_never_cuts_an_entity() -> None:
    text = "a" * 2997 + "&amp;" + "b" * 10
    pieces = split_text(text, 3000)
    assert pieces == ["a" * 2997, "&amp;" + "b" * 10]


def test_builder_link_encodes_the_blocks() -> None:
    blocks = dicts(build_sample_item(item()))
    link = builder_link(blocks)
    assert link.startswith(BUILDER_URL)
    assert json.loads(unquote(link.removeprefix(BUILDER_URL))) == {"blocks": blocks}


def test_each_finding_has_its_sentence_and_feedback_buttons() -> None:
    from bot.views.checks import FindingFeedbackView

    evidence = {
        "greeted": "Oskar",
        "customer": "Priya",
        "sentence": ["Hey ", "Oskar", ", <!here> " + HOSTILE],
    }
    view = item(
        findings=(("name_mismatch", evidence), ("placeholder_leak", {"placeholder": "{{x}}"})),
        finding_ids=(7, 8),
        feedback=(FindingFeedbackView("false_alarm", "U0REV1", "his nickname <!channel>"), None),
    )
    blocks = dicts(build_sample_item(view))
    check_blocks(blocks)
    text = all_text(blocks)
    assert "“Hey *Oskar*, " in text  # the sentence quoted, the match in bold
    assert "🚫 false alarm by <@U0REV1>: his nickname &lt;!channel&gt;" in text
    assert pings(blocks) == ["<@U0REV1>"]  # only the reviewer we named, nothing from the texts
    buttons = [(e["action_id"], e["value"]) for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert (ids.FINDING_CONFIRMED, "7") in buttons and (ids.FINDING_FALSE_ALARM, "8") in buttons
    assert (ids.VERDICT_CORRECT, "42") in buttons
    # a dry run has no finding ids: the findings are listed without buttons
    plain = dicts(build_sample_item(item(findings=view.findings)))
    assert not any(
        e["action_id"].startswith("finding_") for b in plain if b["type"] == "actions" for e in b["elements"]
    )
