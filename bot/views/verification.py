"""How a fix's verification reads: the line on the group's card and the digest's "Fixes verified".

Pure builders: given what bot.defects.verification stored, they say it in mrkdwn. Dates are Slack
date tokens (`<!date^…>`), shown in each reader's own time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from bot.core.redact import escape_mrkdwn, redact, safe_mrkdwn, truncate

SECTION_MAX = 3000
LINES_SHOWN = 10
ICONS = {"verifying": "🔎", "verified": "✔️", "recurred": "🔁", "unverified": "❔"}


@dataclass(frozen=True)
class VerificationView:
    """One fix's verification, as stored."""

    status: str  # verifying | verified | recurred | unverified
    started_at: dt.datetime
    ends_at: dt.datetime
    segment: str | None
    min_reviews: int
    traffic: int = 0
    matches: int = 0
    reviewed: int = 0
    decided_at: dt.datetime | None = None


def slack_date(moment: dt.datetime) -> str:
    """A date Slack shows in the reader's time zone (the fallback: the UTC date)."""
    return f"<!date^{int(moment.timestamp())}^{{date_short}}|{moment.astimezone(dt.UTC):%Y-%m-%d}>"


def fixed_text(title: str, ends_at: dt.datetime) -> str:
    """`/audit fixed`'s answer."""
    title = truncate(safe_mrkdwn(title), 200)
    until = slack_date(ends_at)
    return f"✅ Marked *{title}* fixed. The fix is verified until {until}; its card shows how it goes."


def segment_text(segment: str | None) -> str:
    """`template refund_v3`, `article kb-12`, `intent billing`; "no segment"."""
    if not segment or ":" not in segment:
        return "no segment"
    kind, _, value = segment.partition(":")
    # in a code span nothing formats: escaping is enough, and no backtick may close it early
    return f"{kind} `{truncate(escape_mrkdwn(redact(value)).replace('`', chr(39)), 100)}`"


def _replies(count: int) -> str:
    return f"{count:,} {'reply' if count == 1 else 'replies'}"


def verification_line(v: VerificationView) -> str:
    """The card's line about the fix's verification."""
    icon = ICONS.get(v.status, "")
    of = segment_text(v.segment)
    reviews = f"{v.reviewed} of {v.min_reviews} reviews of {of}"
    if v.status == "verifying":
        return (
            f"{icon} Verifying the fix until {slack_date(v.ends_at)}: {_replies(v.matches)} matching so far, "
            f"{reviews}"
        )
    when = slack_date(v.decided_at or v.ends_at)
    if v.status == "verified":
        return (
            f"{icon} Fix verified {when}: no matching reply among {_replies(v.traffic)} of {of}, "
            f"{v.reviewed} reviewed without a recurrence"
        )
    if v.status == "recurred":
        how = f"{_replies(v.matches)} matching" if v.matches else "a reviewer found it"
        return f"{icon} The fix did not hold: seen again {when} ({how})"
    return (
        f"{icon} Fix unverified {when}: too little traffic — {reviews} ({_replies(v.traffic)} in the window)"
    )


@dataclass(frozen=True)
class FixLine:
    """A group whose fix was verified in (or is being verified at the end of) the digest's week."""

    title: str
    link: str  # the group's title as mrkdwn (a link to its issue where there is one)
    verification: VerificationView


@dataclass(frozen=True)
class FixesSummary:
    verified: int = 0
    recurred: int = 0
    unverified: int = 0
    in_window: int = 0
    lines: Sequence[FixLine] = ()

    @property
    def total(self) -> int:
        return self.verified + self.recurred + self.unverified + self.in_window


def build_fixes_section(summary: FixesSummary) -> list[Block]:
    """The digest's "Fixes verified": the counts, then each group (decided ones first); nothing when
    no fix was being verified."""
    if not summary.total:
        return []
    head = (
        f"*🔎 Fixes verified* — {summary.verified} verified · {summary.recurred} recurred · "
        f"{summary.unverified} unverified · {summary.in_window} in window"
    )
    lines = [head]
    for line in summary.lines[:LINES_SHOWN]:
        lines.append(truncate(f"• {line.link} — {verification_line(line.verification)}", 600))
    if len(summary.lines) > LINES_SHOWN:
        lines.append(f"…and {len(summary.lines) - LINES_SHOWN} more")
    return [SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), SECTION_MAX)))]
