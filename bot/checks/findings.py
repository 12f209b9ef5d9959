"""What a check finds: one finding per (reply, kind), and the keys that say which root cause it is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from bot.checks.names import name_tokens

KINDS = ("placeholder_leak", "duplicate_reply", "name_mismatch", "plan_mismatch", "stale_kb")
MAX_EVIDENCE = 200  # evidence is shown in Slack and stored; a runaway regex match stays short


@dataclass(frozen=True)
class Finding:
    """One automatic finding on one reply; at most one per (reply_id, kind)."""

    reply_id: str
    kind: str
    evidence: dict


@dataclass(frozen=True)
class PriorReply:
    """A reply already stored for a ticket, as needed for duplicate detection."""

    id: str
    created_at: dt.datetime
    text_key: str
    finding_keys: frozenset[str] = frozenset()  # finding_key() of its stored findings


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


def text_key(reply: str) -> str:
    """The reply with whitespace runs collapsed and ends stripped: equal keys are duplicates."""
    return " ".join(reply.split())


ByIndex = dict[int, list[Finding]]  # findings by position in a batch; absent if none


def aware(when: dt.datetime) -> dt.datetime:
    # Rows read back from SQLite lose their offset; everything stored is UTC.
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
