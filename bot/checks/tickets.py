"""Checks across the replies of one ticket: duplicate_reply, and a repeated finding shown once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.checks.findings import ByIndex, Finding, PriorReply, aware, finding_key, text_key
from bot.core.records import ReplyRecord


def compare_within_ticket(
    records: Sequence[ReplyRecord],
    indexes: list[int],
    priors: Sequence[PriorReply],
    per_record: ByIndex,
    window: dt.timedelta,
) -> None:
    """Add duplicate findings and drop repeated ones, in time order, for one ticket."""
    in_batch = {records[i].id for i in indexes}
    # (created_at, id, text key, batch index or -1 for a stored reply, stored finding keys)
    events = [
        (aware(p.created_at), p.id, p.text_key, -1, p.finding_keys)
        for p in priors
        if p.id not in in_batch  # a re-import of the same record is not a duplicate
    ]
    events += [
        (aware(records[i].created_at), records[i].id, text_key(records[i].reply), i, None) for i in indexes
    ]
    events.sort(key=lambda e: (e[0], e[1]))
    latest: dict[str, tuple[dt.datetime, str]] = {}
    shown: set[str] = set()
    for when, rid, key, index, stored_keys in events:
        if index < 0:
            shown.update(stored_keys)
            latest[key] = (when, rid)
            continue
        kept = []
        for f in per_record.get(index, ()):
            fkey = finding_key(f.kind, f.evidence)
            if fkey not in shown:
                kept.append(f)
                shown.add(fkey)
        prev = latest.get(key)
        if prev is not None and prev[1] != rid and when - prev[0] <= window:
            hours = round((when - prev[0]).total_seconds() / 3600, 2)
            ev = {"earlier_id": prev[1], "hours_apart": hours}
            kept.append(Finding(rid, "duplicate_reply", ev))
        if kept:
            per_record[index] = kept
        else:
            per_record.pop(index, None)
        latest[key] = (when, rid)
