"""App Home: the reviewer's own numbers, what still waits for their verdict, and the team's week."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.views import ids
from bot.views.checks import CheckPrecision, precision_blocks
from bot.views.judge import CriterionAgreement, agreement_blocks, agreement_title

TICKET_ID_MAX = 60


@dataclass(frozen=True)
class ReviewerNumbers:
    week: int
    week_defects: int
    all_time: int
    all_defects: int
    fixed_catches: int  # defects they found whose group was fixed
    week_high: int = 0  # high/critical catches
    all_high: int = 0
    week_pairs: int = 0  # calibration: their verdicts compared with another reviewer's, and matches
    week_agreed: int = 0
    all_pairs: int = 0
    all_agreed: int = 0


@dataclass(frozen=True)
class TeamWeek:
    posted: int
    reviewed: int
    verdicts: int
    defects: int
    reviewers: int
    high: int = 0  # high/critical catches
    pairs: int = 0  # calibration comparisons, and how many agreed
    agreed: int = 0


@dataclass(frozen=True)
class WaitingItem:
    item_id: int
    channel: str
    message_ts: str
    ticket_id: str
    ticket_url: str | None
    double_review: bool


def permalink(channel: str, ts: str) -> str:
    """A link to a message that Slack resolves without an API call."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def build_home(
    *,
    user_id: str,
    is_reviewer: bool,
    numbers: ReviewerNumbers,
    waiting: Sequence[WaitingItem],
    waiting_total: int,
    team: TeamWeek,
    week_start: dt.date,
    updated_at: dt.datetime,
    judge: Sequence[CriterionAgreement] | None = None,
    checks: Sequence[CheckPrecision] = (),
) -> View:
    """The Home tab for `user_id`; `judge` (admins, when the AI judge is on) adds its agreement table."""
    blocks: list[Block] = [HeaderBlock(text="Your reviews")]
    if is_reviewer:
        blocks.append(_fields(_your_numbers(numbers)))
        blocks.append(DividerBlock())
        blocks.append(HeaderBlock(text="Waiting for your verdict"))
        blocks.append(SectionBlock(text=_waiting_text(waiting, waiting_total)))
    else:
        blocks.append(
            SectionBlock(
                text=f"<@{user_id}>, you are not a reviewer, so there is nothing waiting for you. "
                "Ask an admin if you should be."
            )
        )
    blocks.append(DividerBlock())
    blocks.append(HeaderBlock(text="The team this week"))
    blocks.append(_fields(_team_numbers(team)))
    if judge is not None:
        blocks += [DividerBlock(), HeaderBlock(text="AI judge vs reviewers")]
        blocks += agreement_blocks(judge, *agreement_title(judge))
    blocks += precision_blocks(checks, "*Automatic checks* — findings and precision from your feedback")
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Week starting {week_start:%a %d %b %Y} · updated {updated_at:%H:%M} UTC"
                )
            ]
        )
    )
    blocks.append(
        ActionsBlock(elements=[ButtonElement(text="Refresh", action_id=ids.HOME_REFRESH, value="refresh")])
    )
    return View(type="home", blocks=blocks)


def _your_numbers(numbers: ReviewerNumbers) -> list[str]:
    week = f"{numbers.week} verdicts · {numbers.week_defects} defects{_high(numbers.week_high)}"
    ever = f"{numbers.all_time} verdicts · {numbers.all_defects} defects{_high(numbers.all_high)}"
    agreement = _agreement(numbers.week_agreed, numbers.week_pairs, "this week")
    if numbers.all_pairs:
        agreement += " · " + _agreement(numbers.all_agreed, numbers.all_pairs, "all time")
    return [
        f"*This week*\n{week}",
        f"*All time*\n{ever}",
        f"*Catches that led to fixes*\n{numbers.fixed_catches}",
        f"*Calibration agreement*\n{agreement}",
    ]


def _team_numbers(team: TeamWeek) -> list[str]:
    share = f" ({team.reviewed * 100 // team.posted}%)" if team.posted else ""
    return [
        f"*Items posted*\n{team.posted}",
        f"*Items reviewed*\n{team.reviewed}{share}",
        f"*Verdicts*\n{team.verdicts}",
        f"*Defects found*\n{team.defects}{_high(team.high)}",
        f"*Reviewers active*\n{team.reviewers}",
        f"*Calibration agreement*\n{_agreement(team.agreed, team.pairs, 'this week')}",
    ]


def _high(count: int) -> str:
    return f" ({count} high/critical)" if count else ""


def _agreement(agreed: int, pairs: int, when: str) -> str:
    """The share of calibration verdicts that matched the other reviewer's (the digest's figure)."""
    if not pairs:
        return f"no calibration pairs {when}"
    return f"{agreed * 100 // pairs}% {when} ({agreed} of {pairs})"


def _fields(texts: list[str]) -> SectionBlock:
    return SectionBlock(fields=[MarkdownTextObject(text=t) for t in texts])


def _waiting_text(waiting: Sequence[WaitingItem], total: int) -> str:
    if not waiting:
        return "Nothing is waiting for you. Thank you! 🎉"
    lines = [_waiting_line(item) for item in waiting]
    if total > len(waiting):
        lines.append(f"…and {total - len(waiting)} more in the audit channel.")
    return "\n".join(lines)[:3000]


def _waiting_line(item: WaitingItem) -> str:
    # Ticket ids and URLs come from the helpdesk: escape them and keep them out of link syntax tricks.
    ticket = _escape(item.ticket_id[:TICKET_ID_MAX])
    ticket_part = f"ticket {ticket}"
    if item.ticket_url and item.ticket_url.startswith(("https://", "http://")) and "|" not in item.ticket_url:
        ticket_part = f"<{_escape(item.ticket_url)}|ticket {ticket}>"
    calibration = " · ⚖️ calibration" if item.double_review else ""
    link = f"<{permalink(item.channel, item.message_ts)}|Sample item #{item.item_id}>"
    return f"• {link} · {ticket_part}{calibration}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def stats_text(*, user_id: str, numbers: ReviewerNumbers, team: TeamWeek) -> str:
    """The `/audit stats` answer."""
    mine = " · ".join(line.replace("\n", ": ") for line in _your_numbers(numbers))
    ours = " · ".join(line.replace("\n", ": ") for line in _team_numbers(team))
    return f"*Reviews by <@{user_id}>*\n{mine}\n*The team this week*\n{ours}"
