"""The daily sample in Slack: the header message, one message per item, and the full-text modal.

Customer and AI text is untrusted: it always goes through `bot.core.redact` (redacted and escaped)
and is truncated within Block Kit limits with a visible "…"; buttons carry the item id only.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.redact import safe_mrkdwn, truncate
from bot.views import ids
from bot.views.checks import FindingFeedbackView, build_finding_blocks
from bot.views.judge import judge_hint_text

SECTION_MAX = 3000
FALLBACK_MAX = 200  # the notification text; the blocks carry the rest
MODAL_PIECES = 45  # per side: 1 + 2 × (2 + 45 + 1) blocks stays under the modal's 100
MODAL_TEXT_BUDGET = 200_000  # views are capped at 250 kB of JSON
BUILDER_URL = "https://app.slack.com/block-kit-builder/#"
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,}$")
_SAFE_URL = re.compile(r"^https?://[^\s<>|]+$")


@dataclass(frozen=True)
class HeaderView:
    """What the header message says about one batch."""

    shown: int
    population: int
    flagged_drawn: int
    window_start: dt.datetime
    window_end: dt.datetime
    timezone: dt.tzinfo
    reviewer_group: str | None = None
    reviewers: tuple[str, ...] = ()
    double_review: int = 0
    thread: bool = False
    late: int = (
        0  # replies in the frame created before window_start (arrived late, or before the first sample)
    )
    verifying: int = 0  # items from the segments of fixes being verified (their own strata)


@dataclass(frozen=True)
class ItemView:
    """One sampled reply as the item message shows it.

    `findings` are (kind, evidence) pairs, described and escaped here; `verdict_lines` are
    mrkdwn the caller built safely (they may mention reviewers), shown under the reply.
    """

    item_id: int
    ticket_id: str
    reply: str
    position: int = 0
    total: int = 0
    ticket_url: str | None = None
    customer_message: str | None = None
    channel: str | None = None
    intent: str | None = None
    template_id: str | None = None
    customer_plan: str | None = None
    csat: int | None = None
    findings: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    double_review: bool = False
    verdict_lines: tuple[str, ...] = ()
    thread_link: str | None = None
    judge_fails: tuple[tuple[str, str], ...] = ()  # AI judge: (criterion label, rationale), unescaped
    judge_note: str | None = None  # AI judge: one plain sentence (why there is no verdict, …)
    # With ids (aligned with `findings`), each finding gets Confirmed / False alarm buttons.
    finding_ids: tuple[int, ...] = ()
    feedback: tuple[FindingFeedbackView | None, ...] = ()


# -- header ----------------------------------------------------------------------------------


def window_label(start: dt.datetime, end: dt.datetime, tz: dt.tzinfo) -> str:
    """`Thu 26 Nov`, or `Fri 20 – Sun 22 Nov` when the window spans several days."""
    first = start.astimezone(tz).date()
    last = (end.astimezone(tz) - dt.timedelta(microseconds=1)).date()
    if last <= first:
        return first.strftime("%a %-d %b")
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.strftime('%a %-d')} – {last.strftime('%a %-d %b')}"
    return f"{first.strftime('%a %-d %b')} – {last.strftime('%a %-d %b')}"


def reviewer_mention(group: str | None, reviewers: tuple[str, ...] | list[str]) -> str:
    """`<!subteam^S…>` for a group, else `<@U…>` for each reviewer; ids that look odd are dropped."""
    if group and _SLACK_ID.match(group):
        return f"<!subteam^{group}>"
    return ", ".join(f"<@{user}>" for user in reviewers if _SLACK_ID.match(user))


def header_text(view: HeaderView) -> str:
    if view.window_start >= view.window_end:  # a back-fill: only replies that arrived late
        head = f"*Daily audit* — {view.shown} of {view.population:,} AI replies that arrived late"
    else:
        head = (
            f"*Daily audit* — {view.shown} of {view.population:,} AI replies from "
            f"{window_label(view.window_start, view.window_end, view.timezone)}"
        )
        if view.late:  # arrived after the sample of their day, or older than the first sample
            head += f" (incl. {view.late:,} created earlier, not sampled before)"
    parts = [head, f"{view.flagged_drawn} flagged by checks"]
    if view.verifying:
        parts.append(f"{view.verifying} checking that a fix held")
    mention = reviewer_mention(view.reviewer_group, view.reviewers)
    if mention:
        parts.append(f"reviewers: {mention}")
    return " · ".join(parts)


def build_sample_header(view: HeaderView) -> list[Block]:
    """The header message: counts, window and who reviews."""
    start = view.window_start.astimezone(view.timezone)
    end = view.window_end.astimezone(view.timezone)
    notes = [f"Window {start:%a %-d %b %H:%M} – {end:%a %-d %b %H:%M} ({start.tzname()})"]
    if view.double_review:
        notes.append(f"{view.double_review} need two independent verdicts")
    notes.append("items in the thread 🧵" if view.thread else "one message per item below")
    return [
        SectionBlock(text=MarkdownTextObject(text=header_text(view))),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(notes))]),
    ]


def sample_summary(day: dt.date, channel: str, shown: int, population: int) -> str:
    """What `/audit sample` answers once the day's sample is in the channel."""
    return f"The sample for {day:%a %-d %b} is in <#{channel}>: {shown} of {population:,} AI replies."


# -- one item --------------------------------------------------------------------------------


def _ticket(view: ItemView) -> str:
    label = safe_mrkdwn(view.ticket_id)
    if view.ticket_url and _SAFE_URL.match(view.ticket_url):
        return f"<{view.ticket_url}|{label}>"
    return label


def describe_finding(kind: str, evidence: Mapping[str, Any]) -> str:
    """The detector's description with every evidence value redacted and escaped (safe mrkdwn)."""
    safe = {key: safe_mrkdwn(value) if isinstance(value, str) else value for key, value in evidence.items()}
    try:
        described = finding_text(kind, safe)
    except (KeyError, TypeError, ValueError):  # evidence shaped by an older detector version
        described = kind
    return safe_mrkdwn(kind.replace("_", " ")) if described == kind else described


def evidence_sentence(evidence: Mapping[str, Any]) -> str:
    """The sentence the check matched in, the match in bold (safe mrkdwn), or ""."""
    parts = evidence.get("sentence")
    if not isinstance(parts, list) or len(parts) != 3 or not all(isinstance(p, str) for p in parts):
        return ""
    before, match, after = (safe_mrkdwn(p) for p in parts)
    return f"“{before}*{match.strip()}*{after}”" if match.strip() else ""


def finding_text(kind: str, e: Mapping[str, Any]) -> str:
    """Short human text for one finding (not escaped: `describe_finding` escapes)."""
    if kind == "placeholder_leak":
        return f"placeholder left in reply: `{e['placeholder']}`"
    if kind == "duplicate_reply":
        return f"same text as reply {e['earlier_id']}, sent {e['hours_apart']} h earlier"
    if kind == "name_mismatch":
        return f"greets “{e['greeted']}” but the customer is {e['customer']}"
    if kind == "plan_mismatch":
        return f"mentions the {e['plan']} plan; the customer is on {e['customer_plan']}"
    if kind == "stale_kb":
        return (
            f"cites {e['article_id']}, last updated {e['updated_at']} ({e['age_days']} days before the reply)"
        )
    if kind.startswith("rule:"):
        return f"matches rule {e['rule']}: “{e['match']}”"
    return kind


def _finding_line(kind: str, evidence: Mapping[str, Any]) -> str:
    quoted = evidence_sentence(evidence)
    return f"⚠ {describe_finding(kind, evidence)}" + (f"\n> {quoted}" if quoted else "")


def item_title(view: ItemView) -> str:
    head = f"*{view.position} of {view.total}*" if view.total else f"*Item {view.item_id}*"
    parts = [head, f"ticket {_ticket(view)}"]
    labelled = (
        ("channel", safe_mrkdwn(view.channel)),
        ("intent", safe_mrkdwn(view.intent)),
        ("template", f"`{safe_mrkdwn(view.template_id)}`" if view.template_id else ""),
        ("plan", safe_mrkdwn(view.customer_plan)),
        ("CSAT", str(view.csat) if view.csat is not None else ""),
    )
    parts += [f"{name}: {value}" for name, value in labelled if value]
    if view.double_review:
        parts.append("👥 needs two verdicts")
    return truncate(" · ".join(parts), SECTION_MAX)


def _labelled(label: str, text: str) -> SectionBlock:
    head = f"*{label}*\n"
    return SectionBlock(
        text=MarkdownTextObject(text=head + truncate(safe_mrkdwn(text), SECTION_MAX - len(head)))
    )


def _buttons(item_id: int) -> ActionsBlock:
    value = str(item_id)
    return ActionsBlock(
        elements=[
            ButtonElement(text="Correct", action_id=ids.VERDICT_CORRECT, value=value, style="primary"),
            ButtonElement(text="Defect…", action_id=ids.OPEN_DEFECT_MODAL, value=value, style="danger"),
            ButtonElement(text="Not sure", action_id=ids.VERDICT_UNSURE, value=value),
            ButtonElement(text="Full text", action_id=ids.OPEN_FULL_TEXT, value=value),
        ]
    )


def build_sample_item(view: ItemView) -> list[Block]:
    """One item message: ticket facts, customer message, AI reply, findings, verdicts, buttons."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=item_title(view)))]
    if view.customer_message:
        blocks.append(_labelled("Customer", view.customer_message))
    blocks.append(_labelled("AI reply", view.reply))
    if view.judge_fails or view.judge_note:  # folded under the reply, one line per failed criterion
        hint = judge_hint_text(view.judge_fails, view.judge_note)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=hint)]))
    if view.findings:
        lines = "\n".join(f"⚠ {describe_finding(kind, evidence)}" for kind, evidence in view.findings)
    if view.findings and len(view.finding_ids) == len(view.findings):
        feedback = view.feedback or (None,) * len(view.findings)
        for (kind, evidence), finding_id, judged in zip(
            view.findings, view.finding_ids, feedback, strict=True
        ):
            blocks += build_finding_blocks(finding_id, _finding_line(kind, evidence), judged)
    elif view.findings:
        lines = "\n".join(_finding_line(kind, evidence) for kind, evidence in view.findings)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(lines, SECTION_MAX))))
    if view.verdict_lines or view.thread_link:
        lines = list(view.verdict_lines)
        if view.thread_link and _SAFE_URL.match(view.thread_link):
            lines.append(f"<{view.thread_link}|discussion thread>")
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=truncate("\n".join(lines), SECTION_MAX))])
        )
    blocks.append(_buttons(view.item_id))
    return blocks


def item_fallback(view: ItemView) -> str:
    """The notification text of an item message: redacted and escaped like the blocks."""
    flag = " ⚠" if view.findings else ""
    reply = safe_mrkdwn(" ".join(view.reply.split()))
    text = f"Audit item{flag}: ticket {safe_mrkdwn(view.ticket_id)} — {reply}"
    return truncate(text, FALLBACK_MAX)


# -- full text -------------------------------------------------------------------------------


def split_text(text: str, limit: int = SECTION_MAX) -> list[str]:
    """Cut escaped mrkdwn into pieces of at most `limit`, at a line or word end where possible."""
    pieces = []
    while len(text) > limit:
        cut = text.rfind("\n", limit // 2, limit)
        if cut < 0:
            cut = text.rfind(" ", limit // 2, limit)
        if cut < 0:
            cut = limit
        amp = text.rfind("&", cut - 6, cut)  # never split an entity such as &amp;
        if amp >= 0 and ";" not in text[amp:cut]:
            cut = amp
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


def build_full_text_modal(view: ItemView) -> View:
    """The whole conversation, split across sections; cut with a visible note past the view's size."""
    blocks: list[Block] = [ContextBlock(elements=[MarkdownTextObject(text=item_title(view))])]
    for label, text in (("Customer", view.customer_message), ("AI reply", view.reply)):
        if not text:
            continue
        blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text=f"*{label}*"))]
        pieces = split_text(safe_mrkdwn(text))
        budget = MODAL_TEXT_BUDGET // 2  # each side keeps room for the other
        for number, piece in enumerate(pieces):
            if number >= MODAL_PIECES or len(piece) > budget:
                rest = sum(len(p) for p in pieces[number:])
                note = f"… {rest:,} more characters not shown"
                blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
                break
            budget -= len(piece)
            blocks.append(SectionBlock(text=MarkdownTextObject(text=piece)))
    return View(
        type="modal",
        callback_id=ids.FULL_TEXT_MODAL,
        title="Full conversation",
        close="Close",
        private_metadata=json.dumps({"item_id": view.item_id}),
        blocks=blocks,
    )


def builder_link(blocks: list[Block] | list[dict]) -> str:
    """A Block Kit Builder URL that opens `blocks` (for the dry run)."""
    payload = [b.to_dict() if isinstance(b, Block) else b for b in blocks]
    return BUILDER_URL + quote(json.dumps({"blocks": payload}, separators=(",", ":")), safe="")
