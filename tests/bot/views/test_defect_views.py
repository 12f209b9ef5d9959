"""The group card, thread posts and the Won't fix / Merge / Move modals, as pure builders."""

from __future__ import annotations

import json

from bot.views import defect as views
from bot.views import ids
from tests.fakes.blockkit import all_text, check_blocks, check_view, pings


def card(**kw) -> views.GroupCard:
    values = dict(
        group_id=7,
        title="Template error in template refund_policy_v3",
        category="template_error",
        severity="high",
        occurrences=3,
        owner="S0CONTENT",
        tracker="jira",
        tracker_key="SUP-1",
        tracker_url="https://acme.atlassian.net/browse/SUP-1",
        caught_by=("U0REV1", "U0REV2"),
    )
    return views.GroupCard(**{**values, **kw})


def blocks_of(c: views.GroupCard) -> list[dict]:
    return [b.to_dict() for b in views.build_group_card(c)]


def test_open_card_shows_everything_and_offers_the_four_buttons():
    blocks = blocks_of(card())
    assert check_blocks(blocks) == []
    text = all_text(blocks)
    for expected in (
        "*Occurrences*\n3",
        "*Severity*\nhigh",
        "template error",
        "<!subteam^S0CONTENT>",
        "<https://acme.atlassian.net/browse/SUP-1|SUP-1>",
        "<@U0REV1>, <@U0REV2>",
        "🔴 Open",
    ):
        assert expected in text
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [
        ids.GROUP_TAKE,
        ids.GROUP_WONT_FIX,
        ids.GROUP_FIXED,
        ids.GROUP_MERGE,
    ]
    assert {e["value"] for e in actions["elements"]} == {"7"}


def test_closed_cards_say_why_and_have_no_buttons():
    fixed = blocks_of(card(status="fixed", owner="U0ENG"))
    assert "✅ Fixed" in all_text(fixed) and "<@U0ENG>" in all_text(fixed)
    assert not [b for b in fixed if b["type"] == "actions"]
    wont = all_text(blocks_of(card(status="wont_fix", reason="Retired <!channel> next week")))
    assert "🚫 Won't fix: Retired &lt;!channel&gt; next week" in wont
    assert "↪️ Merged into Other group" in all_text(
        blocks_of(card(status="merged", merged_into="Other group"))
    )


def test_untrusted_title_cannot_ping_and_long_text_stays_within_limits():
    blocks = blocks_of(
        card(
            title="<!channel> " + "x" * 5000,
            tracker_url="javascript:alert(1)",
            owner="not an id",
            caught_by=tuple(f"U{n:08d}" for n in range(40)),
        )
    )
    assert check_blocks(blocks) == []
    assert "<!channel>" not in pings(blocks)
    text = all_text(blocks)
    assert "…" in text and "javascript:" not in text and "and 20 more" in text


def test_tracker_pending_and_none():
    assert "jira: creating…" in all_text(blocks_of(card(tracker_key=None, tracker_url=None)))
    assert "*Tracker*\n—" in all_text(blocks_of(card(tracker="none", tracker_key=None, tracker_url=None)))


def test_thread_post_offers_move_or_split_for_an_occurrence():
    blocks = [b.to_dict() for b in views.build_thread_post("*Occurrence 2*", defect_id=12)]
    assert check_blocks(blocks) == []
    assert (
        blocks[-1]["elements"][0]["action_id"] == ids.GROUP_MOVE_DEFECT
        and blocks[-1]["elements"][0]["value"] == "12"
    )
    assert len(views.build_thread_post("✅ Fixed")) == 1


def test_wont_fix_modal_carries_the_group_id_only():
    view = views.build_wont_fix_modal(7, "<b>title</b>").to_dict()
    assert check_view(view) == []
    assert view["callback_id"] == ids.WONT_FIX_MODAL and json.loads(view["private_metadata"]) == {
        "group_id": 7
    }
    (field,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["block_id"] == ids.WONT_FIX_BLOCK and field["element"]["action_id"] == ids.WONT_FIX_INPUT


def test_merge_modal_caps_options_at_100_and_text_at_75():
    targets = [(n, "A very long group title " * 6, n) for n in range(150)]
    view = views.build_merge_modal(7, "Source", targets).to_dict()
    assert check_view(view) == []
    options = view["blocks"][-1]["element"]["options"]
    assert len(options) == 100 and all(len(o["text"]["text"]) <= 75 for o in options)
    assert options[0]["value"] == "0" and options[0]["text"]["text"].endswith("…")


def test_move_modal_offers_a_split_first():
    view = views.build_move_modal(12, [(3, "Other", 2)]).to_dict()
    assert check_view(view) == []
    values = [o["value"] for o in view["blocks"][0]["element"]["options"]]
    assert values == [views.SPLIT_VALUE, "3"] and json.loads(view["private_metadata"]) == {"defect_id": 12}
