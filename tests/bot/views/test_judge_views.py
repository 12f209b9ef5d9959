"""The judge on Slack surfaces: the card's hint and the agreement table, within Block Kit limits."""

from __future__ import annotations

import datetime as dt

from bot.judge.hints import hint_of
from bot.views.home import ReviewerNumbers, TeamWeek, build_home
from bot.views.judge import (
    NOT_YET,
    TRUSTED,
    UNMEASURED,
    UNRELIABLE,
    CriterionAgreement,
    agreement_blocks,
    agreement_line,
    agreement_title,
    judge_hint_text,
)
from bot.views.sample import ItemView, build_sample_item
from tests.fakes.blockkit import all_text, check_blocks, check_view, pings

HOSTILE = "<!channel> see dana@example.com *now* " + "x" * 5000


def test_the_hint_is_one_line_per_failed_criterion_escaped_and_short() -> None:
    fails = [(f"criterion {n}", HOSTILE) for n in range(8)]
    text = judge_hint_text(fails, "unsure on tone")
    lines = text.splitlines()
    assert len(lines) == 5 + 1 + 1  # five shown, "…and 3 more", the note
    assert lines[0].startswith("🤖 judge: fails *criterion 0* — &lt;!channel&gt; see [email]")
    assert all(len(line) <= 280 for line in lines) and lines[5] == "🤖 …and 3 more failed criteria"
    assert lines[6] == "🤖 judge: unsure on tone"
    assert "dana@example.com" not in text and not pings(text)


def test_the_card_folds_the_hint_under_the_reply_within_limits() -> None:
    view = ItemView(
        item_id=7,
        ticket_id="T-1",
        reply=HOSTILE,
        customer_message=HOSTILE,
        judge_fails=tuple((f"c{n}", HOSTILE) for n in range(6)),
        judge_note="unsure on tone",
    )
    blocks = build_sample_item(view)
    assert check_blocks([b.to_dict() for b in blocks]) == []
    texts = [all_text(b.to_dict()) for b in blocks]
    reply_at = next(i for i, t in enumerate(texts) if t.startswith("*AI reply*"))
    assert texts[reply_at + 1].startswith("🤖 judge: fails *c0*")
    assert build_sample_item(ItemView(item_id=7, ticket_id="T", reply="hi"))[-2].type == "section"  # no hint


def test_hints_of_runs() -> None:
    ok = hint_of(
        "ok",
        None,
        [("no_invention", "fail", "Promises a refund."), ("tone", "unsure", None), ("language", "pass", "")],
    )
    assert ok.fails == (("invented policy or promise", "Promises a refund."),) and ok.note == "unsure on tone"
    assert (
        hint_of("ok", None, [("tone", "pass", ""), ("my_rule", "pass", "")]).note
        == "no criterion failed (2 checked)"
    )
    assert hint_of("ok", None, [("my_rule", "fail", "r")]).fails == (("my rule", "r"),)
    timed_out = hint_of("error", "timeout", [])
    assert (
        timed_out.fails == ()
        and timed_out.note == "no verdict on this reply: it timed out. Review it without one."
    )
    assert "it failed" in (hint_of("error", "something new", []).note or "")


def rows() -> list[CriterionAgreement]:
    trusted = ("no_invention", "invented policy or promise", "policy_logic", 84, 0.72)
    unreliable = ("language", "wrong language", "personalization", 45, 0.31)
    return [
        CriterionAgreement(*trusted, 0.81, (0.7, 0.89), 0.75, (0.62, 0.85), 3, TRUSTED),
        CriterionAgreement("tone", "tone", "tone", 12, 0.4, None, None, 0.0, (0.0, 0.5), 0, NOT_YET),
        CriterionAgreement(*unreliable, 0.5, (0.2, 0.8), 0.4, (0.1, 0.8), 0, UNRELIABLE),
        CriterionAgreement("mine", "mine", None, status=UNMEASURED),
    ]


def test_agreement_lines() -> None:
    lines = [agreement_line(r) for r in rows()]
    assert lines[0] == (
        "• ✅ *invented policy or promise* (policy_\u200blogic) — trusted: κ 0.72 · "
        "precision 81% (70%–89%) · recall 75% (62%–85%) · n 84 · 3 unsure"
    )
    assert lines[1].startswith("• ⏳ *tone* (tone) — not yet: κ 0.40") and "n 12 of 30 needed" in lines[1]
    assert "precision –" in lines[1]
    assert lines[2].startswith("• ⚠️ *wrong language*") and "unreliable: κ 0.31" in lines[2]
    assert lines[3] == "• ➖ *mine* — unmeasured: no review category to compare with"


def test_the_table_fits_a_section_and_app_home() -> None:
    many = rows() * 40
    blocks = [b.to_dict() for b in agreement_blocks(many, *agreement_title(many))]
    assert check_blocks(blocks) == [] and len(blocks) == 1
    home = build_home(
        user_id="U0ADMIN",
        is_reviewer=False,
        numbers=ReviewerNumbers(0, 0, 0, 0, 0),
        waiting=[],
        waiting_total=0,
        team=TeamWeek(0, 0, 0, 0, 0),
        week_start=dt.date(2026, 11, 23),
        updated_at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        judge=rows(),
    )
    assert check_view(home.to_dict()) == [] and "AI judge vs reviewers" in all_text(home.to_dict())
