"""The defect group card (one living parent message per root cause), its thread posts and modals."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.core.redact import safe_mrkdwn, safe_plain, truncate
from bot.views import ids

OPTION_TEXT_MAX = 75
MAX_OPTIONS = 100
REASON_MAX = 2000
CAUGHT_BY_SHOWN = 20
SPLIT_VALUE = "split"
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_URL = re.compile(r"^https?://[^\s<>|]+$")


@dataclass(frozen=True)
class GroupCard:
    """What the card shows; read from the database when the card is (re)rendered."""

    group_id: int
    title: str
    category: str
    severity: str
    occurrences: int
    status: str = "open"  # open | fixed | wont_fix | merged
    owner: str | None = None
    tracker: str = "none"
    tracker_key: str | None = None
    tracker_url: str | None = None
    caught_by: Sequence[str] = field(default_factory=tuple)
    reason: str | None = None
    merged_into: str | None = None
    verification: str | None = None  # the fix's verification (bot.views.verification.verification_line)


def mention(who: str | None) -> str:
    """A user (`<@U…>`), a user group (`<!subteam^S…>`), or the name as inert text."""
    if not who:
        return "nobody yet"
    if _SLACK_ID.match(who):
        return f"<@{who}>"
    if _GROUP_ID.match(who):
        return f"<!subteam^{who}>"
    return safe_mrkdwn(who)


def link(url: str | None, label: str) -> str:
    """A mrkdwn link when `url` is a plain web URL, else just the (escaped) label."""
    label = safe_mrkdwn(label)
    return f"<{url}|{label}>" if url and _URL.match(url) else label


def status_line(card: GroupCard) -> str:
    if card.status == "fixed":
        return "✅ Fixed"
    if card.status == "wont_fix":
        return "🚫 Won't fix: " + truncate(safe_mrkdwn(card.reason or "no reason given"), 1500)
    if card.status == "merged":
        return "↪️ Merged into " + truncate(safe_mrkdwn(card.merged_into or "another group"), 500)
    return "🔴 Open"


def card_text(card: GroupCard) -> str:
    """The notification/fallback text of the card (plain words, no pings)."""
    return truncate(f"Defect: {safe_mrkdwn(card.title)} ({card.occurrences}×, {card.severity})", 300)


def build_group_card(card: GroupCard) -> list[Block]:
    """Title, category, severity, count, owner, tracker link, who caught it, status; buttons while open."""
    caught = [mention(r) for r in card.caught_by[:CAUGHT_BY_SHOWN]]
    if len(card.caught_by) > CAUGHT_BY_SHOWN:
        caught.append(f"and {len(card.caught_by) - CAUGHT_BY_SHOWN} more")
    tracker = "—"
    if card.tracker_key:
        tracker = link(card.tracker_url, card.tracker_key)
    elif card.tracker != "none":
        tracker = f"{card.tracker}: creating…"
    fields = [
        f"*Category*\n{safe_mrkdwn(card.category.replace('_', ' '))}",
        f"*Severity*\n{safe_mrkdwn(card.severity)}",
        f"*Occurrences*\n{card.occurrences}",
        f"*Owner*\n{mention(card.owner)}",
        f"*Tracker*\n{tracker}",
        "*Caught by*\n" + (truncate(", ".join(caught), 1900) if caught else "—"),
    ]
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text="*" + truncate(safe_mrkdwn(card.title), 2900) + "*")),
        SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields]),
        ContextBlock(elements=[MarkdownTextObject(text=status_line(card))]),
    ]
    if card.verification:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(card.verification, 2900))]))
    if card.status == "open":
        value = str(card.group_id)
        blocks.append(
            ActionsBlock(
                block_id=f"group_{card.group_id}",
                elements=[
                    ButtonElement(text="Take it", action_id=ids.GROUP_TAKE, value=value, style="primary"),
                    ButtonElement(text="Won't fix", action_id=ids.GROUP_WONT_FIX, value=value),
                    ButtonElement(text="Fixed", action_id=ids.GROUP_FIXED, value=value),
                    ButtonElement(text="Merge into…", action_id=ids.GROUP_MERGE, value=value),
                ],
            )
        )
    return blocks


def build_thread_post(text: str, defect_id: int | None = None) -> list[Block]:
    """A post in the group's thread; an occurrence gets a button to move or split it."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=truncate(text, 2900)))]
    if defect_id is not None:
        button = ButtonElement(text="Move or split…", action_id=ids.GROUP_MOVE_DEFECT, value=str(defect_id))
        blocks.append(ActionsBlock(block_id=f"defect_{defect_id}", elements=[button]))
    return blocks


def build_wont_fix_modal(group_id: int, title: str) -> View:
    """Ask why the group will not be fixed."""
    return View(
        type="modal",
        callback_id=ids.WONT_FIX_MODAL,
        private_metadata=json.dumps({"group_id": group_id}),
        title=PlainTextObject(text="Won't fix"),
        submit=PlainTextObject(text="Close group"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text="*" + truncate(safe_mrkdwn(title), 2900) + "*")),
            InputBlock(
                block_id=ids.WONT_FIX_BLOCK,
                label="Why won't it be fixed?",
                hint="The reviewers who caught it will see this in the thread.",
                element=PlainTextInputElement(
                    action_id=ids.WONT_FIX_INPUT, multiline=True, max_length=REASON_MAX, min_length=3
                ),
            ),
        ],
    )


def group_options(groups: Sequence[tuple[int, str, int]]) -> list[Option]:
    """(id, title, occurrences) → select options, at most 100, text within 75 characters."""
    options = []
    for group_id, title, count in groups[:MAX_OPTIONS]:
        label = safe_plain(f"#{group_id} {title} ({count}×)")
        if len(label) > OPTION_TEXT_MAX:
            label = label[: OPTION_TEXT_MAX - 1] + "…"
        options.append(Option(value=str(group_id), text=PlainTextObject(text=label)))
    return options


def build_merge_modal(group_id: int, title: str, targets: Sequence[tuple[int, str, int]]) -> View:
    """Pick the open group this one merges into."""
    return View(
        type="modal",
        callback_id=ids.MERGE_MODAL,
        private_metadata=json.dumps({"group_id": group_id}),
        title=PlainTextObject(text="Merge into…"),
        submit=PlainTextObject(text="Merge"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(text="Merge *" + truncate(safe_mrkdwn(title), 2800) + "* into:")
            ),
            InputBlock(
                block_id=ids.MERGE_BLOCK,
                label="Open group",
                element=StaticSelectElement(
                    action_id=ids.MERGE_INPUT, placeholder="Choose a group", options=group_options(targets)
                ),
            ),
        ],
    )


def build_move_modal(defect_id: int, targets: Sequence[tuple[int, str, int]]) -> View:
    """Move one occurrence to another open group, or split it into a new group."""
    split = Option(value=SPLIT_VALUE, text=PlainTextObject(text="➕ A new group of its own (split)"))
    options = [split, *group_options(targets[: MAX_OPTIONS - 1])]
    return View(
        type="modal",
        callback_id=ids.MOVE_MODAL,
        private_metadata=json.dumps({"defect_id": defect_id}),
        title=PlainTextObject(text="Move occurrence"),
        submit=PlainTextObject(text="Move"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            InputBlock(
                block_id=ids.MOVE_BLOCK,
                label="Where does it belong?",
                element=StaticSelectElement(action_id=ids.MOVE_INPUT, placeholder="Choose", options=options),
            )
        ],
    )
