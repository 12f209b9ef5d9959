"""Checks across the replies of one ticket: duplicate_reply, and a repeated finding shown once.

Both are defined on the ticket's replies in time order (created_at, then id), so they give the same
findings whatever order the replies arrive in: when an earlier reply arrives after a later one
was stored, the stored one's findings are recomputed (`StoredChanges`).

- A finding (same `finding_key`) is reported on the first reply of the ticket that shows it.
- A reply is a duplicate of the latest earlier reply with the same text (up to whitespace) when it
  follows it within the channel's window with nothing new in between: no other reply of the ticket
  was sent between the two, and it answers the same customer message (a notice sent again
  because the customer wrote again, or "one moment please" before a second lookup, is no
  duplicate). Two copies sent at the same instant are both duplicates: neither came first.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.checks.context import opening
from bot.checks.findings import ByIndex, Finding, PriorReply, StoredChanges, aware, finding_key, text_key

DUPLICATE = "duplicate_reply"
# (kind, evidence, channel, reply text) -> whether that finding is reported (enabled, not muted)
Allowed = Callable[[str, dict, "str | None", str], bool]


@dataclass
class _Entry:
    when: dt.datetime
    id: str
    key: str | None
    asked: str | None
    window: dt.timedelta
    channel: str | None
    index: int  # position in the batch, -1 for a stored reply
    prior: PriorReply | None = None


def settle_ticket(
    records: Sequence[Any],
    indexes: list[int],
    priors: Sequence[PriorReply],
    per_record: ByIndex,
    window_of: Callable[[str | None], dt.timedelta],
    allowed: Allowed,
    changes: StoredChanges | None = None,
) -> None:
    """Add duplicates and drop repeated findings for one ticket's batch replies (`indexes`), and
    put in `changes` what the batch changes on its stored replies (`priors`)."""
    if not priors:  # within a batch: most tickets have distinct replies and findings on one at most
        keys = {text_key(records[i].reply) for i in indexes}
        if len(keys) == len(indexes) and sum(1 for i in indexes if i in per_record) <= 1:
            for i in indexes:  # what is left to do: nothing is a duplicate here
                _drop_kind(per_record, i, DUPLICATE)
            return
    in_batch = {records[i].id for i in indexes}
    entries = [
        _Entry(aware(p.created_at), p.id, p.text_key, p.asked, window_of(p.channel), p.channel, -1, p)
        for p in priors
        if p.id not in in_batch  # a re-import of the same record is not another reply
    ]
    for i in indexes:
        r = records[i]
        asked = text_key(r.customer_message) if r.customer_message else None
        channel = r.channel
        entries.append(
            _Entry(aware(r.created_at), r.id, text_key(r.reply), asked, window_of(channel), channel, i)
        )
    entries.sort(key=lambda e: (e.when, e.id))
    _drop_repeated(entries, per_record, changes)
    first_new = min((e.when for e in entries if e.index >= 0), default=None)
    positions: dict[str, list[int]] = {}
    for pos, e in enumerate(entries):
        if e.key is not None:
            positions.setdefault(e.key, []).append(pos)
    for pos, e in enumerate(entries):
        if e.key is None or (e.index < 0 and (changes is None or first_new is None or e.when < first_new)):
            continue  # a stored reply before every new one: nothing it follows has changed
        found = _duplicate(entries, pos, positions[e.key])
        text = e.key
        evidence = None
        if found is not None:
            evidence = {"earlier_id": found[0], "hours_apart": found[1], "sentence": opening(text)}
            if not allowed(DUPLICATE, evidence, e.channel, text):
                evidence = None
        if e.index >= 0:
            if evidence is not None:
                per_record.setdefault(e.index, []).append(Finding(e.id, DUPLICATE, evidence))
        elif changes is not None and e.prior is not None and e.prior.row_id is not None:
            _restate(e.prior, evidence, changes)


def _drop_kind(per_record: ByIndex, index: int, kind: str) -> None:
    found = per_record.get(index)
    if found and any(f.kind == kind for f in found):
        kept = [f for f in found if f.kind != kind]
        if kept:
            per_record[index] = kept
        else:
            del per_record[index]


def _drop_repeated(entries: list[_Entry], per_record: ByIndex, changes: StoredChanges | None) -> None:
    shown: set[str] = set()
    for e in entries:
        if e.prior is not None:
            prior = e.prior
            if not prior.findings:
                shown.update(prior.finding_keys)
                continue
            for kind, evidence in prior.findings.items():
                if kind == DUPLICATE:
                    continue
                key = finding_key(kind, evidence)
                if key not in shown:
                    shown.add(key)
                elif changes is not None and prior.row_id is not None:
                    changes.delete.append((prior.row_id, kind))  # an earlier reply shows it now
            continue
        kept = []
        for f in per_record.get(e.index, ()):
            if f.kind == DUPLICATE:
                continue  # found again below, with every reply of the ticket in view
            key = finding_key(f.kind, f.evidence)
            if key not in shown:
                kept.append(f)
                shown.add(key)
        if kept:
            per_record[e.index] = kept
        else:
            per_record.pop(e.index, None)


def _duplicate(entries: list[_Entry], pos: int, same: list[int]) -> tuple[str, float] | None:
    """(id of the copy this reply repeats, hours between them), or None."""
    e = entries[pos]
    tied = [entries[q].id for q in same if q != pos and entries[q].when == e.when]
    if tied:
        return min(tied), 0.0
    earlier = [q for q in same[: bisect_left(same, pos)] if entries[q].when < e.when]
    if not earlier:
        return None
    prev = entries[earlier[-1]]
    if e.when - prev.when > e.window:
        return None
    for q in range(earlier[-1] + 1, pos):
        x = entries[q]
        if prev.when < x.when < e.when and x.key != e.key:
            return None  # the conversation went on between the two
    if e.asked is not None and e.asked != prev.asked:
        return None  # it answers a new customer message
    return prev.id, round((e.when - prev.when).total_seconds() / 3600, 2)


def _restate(prior: PriorReply, evidence: dict | None, changes: StoredChanges) -> None:
    """Make a stored reply's duplicate finding what it is now (added, changed or gone)."""
    assert prior.row_id is not None
    stored = prior.findings.get(DUPLICATE)
    if stored is not None and evidence is not None:
        same = (stored.get("earlier_id"), stored.get("hours_apart")) == (
            evidence["earlier_id"],
            evidence["hours_apart"],
        )
        if same:
            return
    if stored is not None:
        changes.delete.append((prior.row_id, DUPLICATE))
    if evidence is not None:
        changes.insert.append((prior.row_id, Finding(prior.id, DUPLICATE, evidence)))
