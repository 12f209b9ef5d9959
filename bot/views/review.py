"""The defect modal, the verdict lines on a sample item, and the short texts of the review flow."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

from slack_sdk.models.blocks import (
    CheckboxesElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.core.config import SEVERITIES
from bot.views import ids

NOTE_MAX = 3000
OPTION_TEXT_MAX = 75
VERDICT_ICONS = {"correct": "✅", "defect": "🐞", "unsure": "❓"}
VERDICT_NAMES = {"correct": "Correct", "defect": "Defect", "unsure": "Not sure"}


class VerdictLike(Protocol):
    reviewer: str
    verdict: str
    category: str | None
    severity: str | None


def category_label(category: str) -> str:
    """`template_error` → `Template error`."""
    return category.replace("_", " ").strip().capitalize() or category


def _option(value: str, label: str) -> Option:
    if len(label) > OPTION_TEXT_MAX:
        label = label[: OPTION_TEXT_MAX - 1] + "…"
    return Option(value=value, text=PlainTextObject(text=label))


def build_defect_modal(
    *,
    item_id: int,
    categories: Sequence[str],
    category: str,
    helpdesk_note: bool,
    severity: str | None = "medium",
    note: str | None = None,
    expected: str | None = None,
) -> View:
    """The "Defect…" modal; `private_metadata` carries the item id only, the rest is read from the DB."""
    category_options = [_option(c, category_label(c)) for c in categories]
    initial_category = next((o for o in category_options if o.value == category), None)
    severity_options = [_option(s, s.capitalize()) for s in SEVERITIES]
    initial_severity = next((o for o in severity_options if o.value == severity), None)
    note_option = _option(ids.HELPDESK_NOTE_VALUE, "Add an internal note to the ticket")
    blocks = [
        InputBlock(
            block_id=ids.CATEGORY_BLOCK,
            label="Category",
            element=StaticSelectElement(
                action_id=ids.CATEGORY_INPUT,
                placeholder="What kind of defect?",
                options=category_options,
                initial_option=initial_category,
            ),
        ),
        InputBlock(
            block_id=ids.SEVERITY_BLOCK,
            label="Severity",
            element=StaticSelectElement(
                action_id=ids.SEVERITY_INPUT,
                placeholder="How bad is it?",
                options=severity_options,
                initial_option=initial_severity,
            ),
        ),
        InputBlock(
            block_id=ids.WRONG_BLOCK,
            label="What is wrong",
            element=PlainTextInputElement(
                action_id=ids.WRONG_INPUT,
                multiline=True,
                max_length=NOTE_MAX,
                initial_value=_clip(note),
                placeholder="e.g. quotes last year's refund window",
            ),
        ),
        InputBlock(
            block_id=ids.EXPECTED_BLOCK,
            label="What the right answer would have been",
            optional=True,
            element=PlainTextInputElement(
                action_id=ids.EXPECTED_INPUT,
                multiline=True,
                max_length=NOTE_MAX,
                initial_value=_clip(expected),
            ),
        ),
        InputBlock(
            block_id=ids.HELPDESK_NOTE_BLOCK,
            label="Helpdesk",
            optional=True,
            hint="Pre-set from the team's routing for this kind of defect.",
            element=CheckboxesElement(
                action_id=ids.HELPDESK_NOTE_INPUT,
                options=[note_option],
                initial_options=[note_option] if helpdesk_note else None,
            ),
        ),
    ]
    return View(
        type="modal",
        callback_id=ids.DEFECT_MODAL,
        title="Report a defect",
        submit="Save defect",
        close="Cancel",
        private_metadata=json.dumps({"item_id": item_id}),
        blocks=blocks,
    )


def item_id_from_metadata(private_metadata: str) -> int | None:
    """The item id a modal carries, or None when the metadata is not ours."""
    try:
        value = json.loads(private_metadata or "{}").get("item_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def verdict_line(review: VerdictLike) -> str:
    """ "🐞 <@U…> — Template error · high", "✅ <@U…>", "❓ <@U…> not sure"."""
    who = f"<@{review.reviewer}>"
    if review.verdict == "defect":
        detail = " · ".join(
            part for part in (category_label(review.category or "other"), review.severity) if part
        )
        return f"🐞 {who} — {detail}"
    if review.verdict == "unsure":
        return f"❓ {who} not sure"
    return f"✅ {who}"


def verdict_lines(
    reviews: Sequence[VerdictLike], *, double_review: bool, disagree: bool = False
) -> list[str]:
    """What the item message shows; a calibration item hides its verdicts until both are in.

    `disagree`: the two verdicts of a calibration item disagree (the review flow decides that).
    """
    if double_review and len(reviews) < 2:
        return [f"⚖️ Calibration: {len(reviews)} of 2 verdicts in"]
    lines = [verdict_line(r) for r in reviews]
    if double_review and disagree:
        lines.append("⚠️ The two verdicts disagree (see thread)")
    return lines


def second_opinion_text(*, reviewer: str, mentions: str) -> str:
    who = mentions or "Reviewers"
    return f"❓ <@{reviewer}> is not sure about this reply. {who}: could someone take a second look?"


def disagreement_text(first: VerdictLike, second: VerdictLike) -> str:
    return (
        "⚖️ Calibration: the two independent verdicts disagree.\n"
        f"• {verdict_line(first)}\n• {verdict_line(second)}\n"
        "Worth a quick word to agree on how replies like this should be judged."
    )


def hidden_verdict_text(verdict: str) -> str:
    return (
        f"{VERDICT_ICONS.get(verdict, '')} Your verdict ({VERDICT_NAMES.get(verdict, verdict)}) is recorded. "
        "This is a calibration item: it stays hidden until a second reviewer answers."
    )


def unknown_item_text() -> str:
    return "This sample item no longer exists in auditbot's database, so nothing was recorded."


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= NOTE_MAX else text[: NOTE_MAX - 1] + "…"
