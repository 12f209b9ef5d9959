"""The AI judge on Slack surfaces: the hint under a sampled reply, and the agreement table
(digest, App Home). Rationales are model output about untrusted text: redacted and escaped here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from bot.core.redact import safe_mrkdwn, truncate

TRUSTED, NOT_YET, UNRELIABLE, UNMEASURED = "trusted", "not yet", "unreliable", "unmeasured"
MARKS = {TRUSTED: "✅", NOT_YET: "⏳", UNRELIABLE: "⚠️", UNMEASURED: "➖"}
HINT_LINES = 5  # failed criteria shown one per line; the rest summed up
HINT_LINE_MAX = 280
SECTION_MAX = 3000


@dataclass(frozen=True)
class CriterionAgreement:
    """How one criterion's judge verdicts compare with the reviewers' on the same replies.

    Positive = "fail" (a defect of the criterion's category): `precision` is how often a judge
    fail was a reviewer's defect of that category, `recall` how many of those the judge failed.
    """

    criterion: str
    label: str
    category: str | None
    n: int = 0  # reviewed replies with a judge pass/fail and a reviewer label
    kappa: float | None = None
    precision: float | None = None
    precision_ci: tuple[float, float] | None = None
    recall: float | None = None
    recall_ci: tuple[float, float] | None = None
    unsure: int = 0  # reviewed replies the judge was unsure about (not in n)
    status: str = NOT_YET
    min_reviews: int = 30
    min_kappa: float = 0.6


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _interval(value: float | None, ci: tuple[float, float] | None) -> str:
    if value is None:
        return "–"
    return f"{_pct(value)} ({_pct(ci[0])}–{_pct(ci[1])})" if ci else _pct(value)


def agreement_line(row: CriterionAgreement) -> str:
    """One mrkdwn line: mark, criterion, status, kappa, precision and recall with 95% intervals, n."""
    name = f"*{safe_mrkdwn(row.label)}*" + (f" ({safe_mrkdwn(row.category)})" if row.category else "")
    head = f"• {MARKS.get(row.status, '•')} {name} — {row.status}"
    if row.status == UNMEASURED:
        return head + ": no review category to compare with"
    kappa = "–" if row.kappa is None else f"{row.kappa:.2f}"
    parts = [f"κ {kappa}"]
    if row.n:
        parts += [
            f"precision {_interval(row.precision, row.precision_ci)}",
            f"recall {_interval(row.recall, row.recall_ci)}",
        ]
    parts.append(f"n {row.n}" + (f" of {row.min_reviews} needed" if row.n < row.min_reviews else ""))
    if row.unsure:
        parts.append(f"{row.unsure} unsure")
    return head + ": " + " · ".join(parts)


def agreement_blocks(rows: Sequence[CriterionAgreement], title: str, note: str = "") -> list[Block]:
    """A section: the title, one line per criterion, an optional note; within the section limit."""
    lines = [title, *(agreement_line(r) for r in rows)]
    if note:
        lines.append(f"_{note}_")
    return [SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), SECTION_MAX)))]


def judge_hint_text(fails: Sequence[tuple[str, str]], note: str | None) -> str:
    """The card's hint: `🤖 judge: fails *label* — rationale`, one line per failed criterion."""
    lines = [
        truncate(f"🤖 judge: fails *{safe_mrkdwn(label)}* — {safe_mrkdwn(rationale)}", HINT_LINE_MAX)
        for label, rationale in fails[:HINT_LINES]
    ]
    if len(fails) > HINT_LINES:
        lines.append(f"🤖 …and {len(fails) - HINT_LINES} more failed criteria")
    if note:
        lines.append(f"🤖 judge: {safe_mrkdwn(note)}")
    return truncate("\n".join(lines), SECTION_MAX)


def agreement_title(rows: Sequence[CriterionAgreement]) -> tuple[str, str]:
    """The digest's and App Home's heading of the table, and its note on what tilts the sample."""
    first = rows[0] if rows else CriterionAgreement("", "", None)
    title = "*🤖 AI judge vs reviewers* — every reviewed reply so far"
    note = (
        f"Trusted (κ ≥ {first.min_kappa:g} on at least {first.min_reviews} reviewed replies) criteria "
        "tilt the daily sample; the others are recorded only. Intervals: 95% Wilson."
    )
    return title, note
