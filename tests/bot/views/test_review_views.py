"""The defect modal and the verdict lines, as pure builders checked against Block Kit limits."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.core.config import DEFAULT_CATEGORIES
from bot.views import ids
from bot.views.review import (
    build_defect_modal,
    disagreement_text,
    item_id_from_metadata,
    second_opinion_text,
    verdict_line,
    verdict_lines,
)
from tests.fakes.blockkit import check_view


@dataclass
class V:
    reviewer: str
    verdict: str
    category: str | None = None
    severity: str | None = None


def block(view: dict, block_id: str) -> dict:  # type: ignore[type-arg]
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def modal(**kw) -> dict:  # type: ignore[no-untyped-def,type-arg]
    args = {
        "item_id": 42,
        "categories": DEFAULT_CATEGORIES,
        "category": "template_error",
        "helpdesk_note": True,
    }
    return build_defect_modal(**{**args, **kw}).to_dict()


def test_defect_modal_is_valid_and_carries_the_item_id_only() -> None:
    view = modal()
    assert check_view(view) == []
    assert view["callback_id"] == ids.DEFECT_MODAL
    assert json.loads(view["private_metadata"]) == {"item_id": 42}
    assert item_id_from_metadata(view["private_metadata"]) == 42


def test_defect_modal_fields() -> None:
    view = modal()
    category = block(view, ids.CATEGORY_BLOCK)["element"]
    assert [o["value"] for o in category["options"]] == DEFAULT_CATEGORIES
    assert category["initial_option"]["value"] == "template_error"
    assert category["initial_option"]["text"]["text"] == "Template error"
    severity = block(view, ids.SEVERITY_BLOCK)["element"]
    assert [o["value"] for o in severity["options"]] == ["low", "medium", "high", "critical"]
    assert severity["initial_option"]["value"] == "medium"
    wrong = block(view, ids.WRONG_BLOCK)
    assert not wrong.get("optional") and wrong["element"]["max_length"] == 3000
    assert wrong["element"]["action_id"] == ids.WRONG_INPUT
    assert block(view, ids.EXPECTED_BLOCK)["optional"] is True
    note = block(view, ids.HELPDESK_NOTE_BLOCK)
    assert note["optional"] is True
    assert [o["value"] for o in note["element"]["initial_options"]] == [ids.HELPDESK_NOTE_VALUE]


def test_helpdesk_checkbox_is_unchecked_when_routing_says_no() -> None:
    note = block(modal(helpdesk_note=False), ids.HELPDESK_NOTE_BLOCK)["element"]
    assert "initial_options" not in note
    assert [o["value"] for o in note["options"]] == [ids.HELPDESK_NOTE_VALUE]


def test_editing_prefills_and_long_text_is_clipped_within_limits() -> None:
    view = modal(severity="critical", note="n" * 5000, expected="what it should say")
    assert check_view(view) == []
    wrong = block(view, ids.WRONG_BLOCK)["element"]["initial_value"]
    assert len(wrong) == 3000 and wrong.endswith("…")
    assert block(view, ids.EXPECTED_BLOCK)["element"]["initial_value"] == "what it should say"
    assert block(view, ids.SEVERITY_BLOCK)["element"]["initial_option"]["value"] == "critical"


def test_long_category_names_stay_within_option_limits() -> None:
    categories = ["x" * 74, "y" * 120]
    view = modal(categories=categories, category=categories[0])
    assert check_view(view) == []


def test_metadata_that_is_not_ours_gives_no_item() -> None:
    assert item_id_from_metadata("") is None
    assert item_id_from_metadata("not json") is None
    assert item_id_from_metadata('{"item_id": "7"}') is None
    assert item_id_from_metadata('{"item_id": true}') is None
    assert item_id_from_metadata("[1]") is None


def test_verdict_lines_say_who_said_what() -> None:
    assert (
        verdict_line(V("U0ALICE", "defect", "template_error", "high"))
        == "🐞 <@U0ALICE> — Template error · high"
    )
    assert verdict_line(V("U0BOB", "correct")) == "✅ <@U0BOB>"
    assert verdict_line(V("U0CAROL", "unsure")) == "❓ <@U0CAROL> not sure"
    lines = verdict_lines([V("U0BOB", "correct"), V("U0CAROL", "unsure")], double_review=False)
    assert lines == ["✅ <@U0BOB>", "❓ <@U0CAROL> not sure"]


def test_calibration_hides_the_first_verdict_until_the_second() -> None:
    one = verdict_lines([V("U0ALICE", "defect", "tone", "low")], double_review=True)
    assert one == ["⚖️ Calibration: 1 of 2 verdicts in"]
    assert "U0ALICE" not in " ".join(one)
    two = [V("U0ALICE", "defect", "tone", "low"), V("U0BOB", "correct")]
    both = verdict_lines(two, double_review=True, disagree=True)
    assert both[:2] == ["🐞 <@U0ALICE> — Tone · low", "✅ <@U0BOB>"]
    assert "disagree" in both[2]
    agree = verdict_lines([V("U0ALICE", "correct"), V("U0BOB", "correct")], double_review=True)
    assert agree == ["✅ <@U0ALICE>", "✅ <@U0BOB>"]


def test_thread_texts_mention_the_right_people() -> None:
    text = second_opinion_text(reviewer="U0ALICE", mentions="<!subteam^S0REV>")
    assert "<@U0ALICE>" in text and "<!subteam^S0REV>" in text
    text = disagreement_text(V("U0ALICE", "correct"), V("U0BOB", "defect", "tone", "low"))
    assert "✅ <@U0ALICE>" in text and "🐞 <@U0BOB> — Tone · low" in text
