"""What a check finds: one finding per (reply, kind), and the keys that say which root cause it is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.checks.names import name_tokens
from bot.core.detectors import DETECTOR_KINDS

KINDS = DETECTOR_KINDS
MAX_EVIDENCE = 200  # evidence is shown in Slack and stored; a runaway regex match stays short


@dataclass(frozen=True)
class Finding:
    """One automatic finding on one reply; at most one per (reply_id, kind)."""

    reply_id: str
    kind: str
    evidence: dict


@dataclass(frozen=True)
class PriorReply:
    """A reply already stored for a ticket, as the checks across replies read it.

    `text_key` is None for a reply read only for its findings (outside the duplicate window).
    `findings` are its stored findings by kind; `row_id` its database key (changes name it).
    """

    id: str
    created_at: dt.datetime
    text_key: str | None
    finding_keys: frozenset[str] = frozenset()  # finding_key() of its stored findings
    asked: str | None = None  # text_key() of the customer message it answered
    channel: str | None = None
    findings: Mapping[str, dict] = field(default_factory=dict)
    row_id: int | None = None


@dataclass
class StoredChanges:
    """What the checks across replies change on replies already stored (an earlier reply arrived)."""

    delete: list[tuple[int, str]] = field(default_factory=list)  # (row id, kind)
    insert: list[tuple[int, Finding]] = field(default_factory=list)  # (row id, finding)

    @property
    def row_ids(self) -> set[int]:
        return {r for r, _ in self.delete} | {r for r, _ in self.insert}

    def __bool__(self) -> bool:
        return bool(self.delete or self.insert)


# The evidence field that says which root cause a finding is about, per kind.
_KEY_FIELD = {
    "placeholder_leak": "placeholder",
    "name_mismatch": "greeted",
    "plan_mismatch": "plan",
    "stale_kb": "article_id",
    "duplicate_reply": "earlier_id",
}


def finding_key(kind: str, evidence: Mapping) -> str:
    """Identity of a finding's root cause on a ticket (kind + the evidence that matters)."""
    value = str(evidence.get(_KEY_FIELD.get(kind, "match"), ""))
    if kind == "name_mismatch":
        value = " ".join(name_tokens(value))
    return f"{kind}\x1f{value.casefold()}"


def subject(kind: str, evidence: Mapping) -> str:
    """What a finding is about, as a mute pattern (`[detectors] mute = ["kind: regex"]`) reads it."""
    if kind == "duplicate_reply":
        return str(evidence.get("text", ""))
    return str(evidence.get(_KEY_FIELD.get(kind, "match"), ""))


def text_key(reply: str) -> str:
    """The reply with whitespace runs collapsed and ends stripped: equal keys are duplicates."""
    return " ".join(reply.split())


ByIndex = dict[int, list[Finding]]  # findings by position in a batch; absent if none


def aware(when: dt.datetime) -> dt.datetime:
    # Rows read back from SQLite lose their offset; everything stored is UTC.
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
