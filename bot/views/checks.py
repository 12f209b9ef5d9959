"""How the automatic checks are doing: precision per kind from reviewers' feedback, the feedback
buttons under each finding of a sample item, and the "why is it a false alarm?" modal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.redact import safe_mrkdwn, truncate
from bot.views import ids

REASON_MAX = 500
SECTION_MAX = 3000
VERDICT_TEXT = {"confirmed": "✅ confirmed", "false_alarm": "🚫 false alarm"}


@dataclass(frozen=True)
class CheckPrecision:
    """One check kind: how many findings it raised, how many reviewers judged, and how many held."""

    kind: str
    findings: int  # in the period shown
    judged: int  # all judgements so far
    confirmed: int
    low: float | None = None  # 95% Wilson interval of confirmed / judged
    high: float | None = None
    muted: bool = False

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.judged if self.judged else None


@dataclass(frozen=True)
class FindingFeedbackView:
    """A finding's judgement as the item shows it."""

    verdict: str
    reviewer: str
    reason: str | None = None


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def precision_text(p: CheckPrecision) -> str:
    """ "precision 83% (10 of 12 judged, 95% CI 55–95%)", or "no feedback yet"."""
    if not p.judged:
        return "no feedback yet"
    return (
        f"precision {percent(p.precision)} ({p.confirmed} of {p.judged} judged, "
        f"95% CI {percent(p.low)}–{percent(p.high)})"
    )


def precision_line(p: CheckPrecision, period: str = "this week") -> str:
    """One mrkdwn line per kind, for the digest and App Home."""
    muted = " · _muted_" if p.muted else ""
    name = safe_mrkdwn(p.kind.replace("_", " "))
    return f"• *{name}*: {p.findings:,} findings {period} · {precision_text(p)}{muted}"


def feedback_line(feedback: FindingFeedbackView | None) -> str | None:
    if feedback is None:
        return None
    line = f"{VERDICT_TEXT.get(feedback.verdict, feedback.verdict)} by <@{feedback.reviewer}>"
    if feedback.reason:
        line += f": {truncate(safe_mrkdwn(' '.join(feedback.reason.split())), 300)}"
    return line


def build_finding_blocks(
    finding_id: int, description: str, feedback: FindingFeedbackView | None
) -> list[Block]:
    """A finding on an item (`description` is safe mrkdwn) with its Confirmed / False alarm buttons."""
    value = str(finding_id)
    blocks: list[Block] = [
        SectionBlock(
            block_id=f"finding-{value}", text=MarkdownTextObject(text=truncate(description, SECTION_MAX))
        )
    ]
    line = feedback_line(feedback)
    if line:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=line)]))
    blocks.append(
        ActionsBlock(
            block_id=f"finding-actions-{value}",
            elements=[
                ButtonElement(text="Confirmed", action_id=ids.FINDING_CONFIRMED, value=value),
                ButtonElement(text="False alarm…", action_id=ids.FINDING_FALSE_ALARM, value=value),
            ],
        )
    )
    return blocks


def build_false_alarm_modal(*, finding_id: int, kind: str, reason: str | None = None) -> View:
    """Why the finding is a false alarm (optional); `private_metadata` carries the finding id only."""
    return View(
        type="modal",
        callback_id=ids.FALSE_ALARM_MODAL,
        title="False alarm",
        submit="Save",
        close="Skip",
        private_metadata=json.dumps({"finding_id": finding_id}),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"Marked as a false alarm of *{safe_mrkdwn(kind.replace('_', ' '))}*. "
                    "Why? (optional: it helps tune the check)"
                )
            ),
            InputBlock(
                block_id=ids.FALSE_ALARM_BLOCK,
                label=PlainTextObject(text="Reason"),
                optional=True,
                element=PlainTextInputElement(
                    action_id=ids.FALSE_ALARM_INPUT,
                    multiline=True,
                    max_length=REASON_MAX,
                    initial_value=reason or None,
                ),
            ),
        ],
    )


def finding_id_from_metadata(private_metadata: str) -> int | None:
    try:
        value = json.loads(private_metadata).get("finding_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def precision_blocks(figures: Sequence[CheckPrecision], title: str, period: str = "this week") -> list[Block]:
    """A section listing each kind's volume and precision (nothing when there is nothing to say)."""
    if not figures:
        return []
    lines = [title, *(precision_line(p, period) for p in figures)]
    return [SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), SECTION_MAX)))]
