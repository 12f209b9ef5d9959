"""The detector: every check kind plus the team's regex rules over a batch of replies; no database."""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate, chain, repeat

from bot.checks.findings import MAX_EVIDENCE, ByIndex, Finding, PriorReply, aware
from bot.checks.names import GREETING, is_other_person
from bot.checks.placeholders import PLACEHOLDER, in_prose
from bot.checks.plans import plan_key, plan_pattern
from bot.checks.tickets import compare_within_ticket
from bot.core.config import DetectorsConfig, compile_rule
from bot.core.records import ReplyRecord


def _starts(texts: list[str]) -> list[int]:
    """Where each text starts in "\0".join(texts) (C-level iterators: this runs per batch)."""
    lengths_and_separators = chain.from_iterable(zip(map(len, texts), repeat(1)))
    return list(accumulate(lengths_and_separators, initial=0))[::2]


class Detector:
    """Runs every detector kind plus the team's regex rules; build once, reuse for all batches.

    Regexes that rarely match (placeholders, plan names) scan a whole batch joined by "\\0" in
    one call, so the per-reply Python work stays small on large imports.
    """

    def __init__(self, config: DetectorsConfig) -> None:
        self._plans = {plan_key(p): p for p in config.plans}
        self._stale_days = config.stale_kb_days
        self._window = dt.timedelta(hours=config.duplicate_window_hours)
        self._rules = [(r.name, compile_rule(r.pattern)) for r in config.rules]  # RE2: linear time
        self._other_plans: dict[str, re.Pattern[str] | None] = {}

    def check(self, record: ReplyRecord) -> list[Finding]:
        """Per-reply checks: every kind except duplicate_reply, then the team rules."""
        return self._scan([record]).get(0, [])

    def check_batch(
        self,
        records: Sequence[ReplyRecord],
        earlier: Mapping[str, Sequence[PriorReply]] | None = None,
    ) -> list[Finding]:
        """All checks over a batch, duplicates included (also against `earlier` stored replies).

        Within a ticket, a finding already shown by an earlier reply (same `finding_key`) is
        reported on that first reply only: a follow-up citing the same stale article is the
        same root cause, not a new one.
        """
        return self.settle(records, self.scan(records), earlier)

    def scan(self, records: Sequence[ReplyRecord]) -> dict[int, list[Finding]]:
        """Per-reply findings by index in `records` (every kind but duplicates); absent if none."""
        return self._scan(records)

    def settle(
        self,
        records: Sequence[ReplyRecord],
        per_record: dict[int, list[Finding]],
        earlier: Mapping[str, Sequence[PriorReply]] | None = None,
        *,
        tickets: Sequence[str] | None = None,
    ) -> list[Finding]:
        """The ticket-level pass of check_batch over `scan(records)`'s result (which it changes).

        Two steps, which a bulk import runs apart: `within_batch` (a worker process can run it
        with the scan) and `with_stored` (where the database is). Only `ticket_id` of every
        record is read (or `tickets`, the same in order, when given), the rest only on tickets
        with several replies.
        """
        if tickets is None:
            tickets = [record.ticket_id for record in records]
        self.within_batch(records, per_record, tickets)
        if earlier:
            self.with_stored(records, per_record, earlier, tickets)
        return [f for i in sorted(per_record) for f in per_record[i]]

    def within_batch(
        self, records: Sequence[ReplyRecord], per_record: ByIndex, tickets: Sequence[str]
    ) -> None:
        """Compare the replies of each ticket with two or more of them in the batch."""
        first: dict[str, int] = {}
        several: dict[str, list[int]] = {}
        for i, ticket_id in enumerate(tickets):
            j = first.setdefault(ticket_id, i)
            if j != i:
                several.setdefault(ticket_id, [j]).append(i)
        for indexes in several.values():
            compare_within_ticket(records, indexes, (), per_record, self._window)

    def with_stored(
        self,
        records: Sequence[ReplyRecord],
        per_record: ByIndex,
        earlier: Mapping[str, Sequence[PriorReply]],
        tickets: Sequence[str],
    ) -> None:
        """After `within_batch`: compare again, with the stored replies, the tickets that have some.

        The duplicates found within the batch are dropped and found again with the stored
        replies in view; a repeated finding dropped within the batch stays dropped (what the
        stored replies have shown only adds to what counts as shown), so the result is the one
        a single pass over batch and stored replies gives.
        """
        on_ticket: dict[str, list[int]] = {}
        for i, ticket_id in enumerate(tickets):
            if ticket_id in earlier:
                on_ticket.setdefault(ticket_id, []).append(i)
        for ticket, indexes in on_ticket.items():
            for i in indexes:
                kept = [f for f in per_record.get(i, ()) if f.kind != "duplicate_reply"]
                if kept:
                    per_record[i] = kept
                else:
                    per_record.pop(i, None)
            compare_within_ticket(records, indexes, earlier[ticket], per_record, self._window)

    def _scan(self, records: Sequence[ReplyRecord]) -> ByIndex:
        """Findings by index in `records`; indexes without findings are absent."""
        out: ByIndex = {}
        by_plan: dict[str, list[int]] = {}
        cutoffs: dict[dt.date, dt.date] = {}
        utc, stale_days, rules, match_greeting = dt.UTC, self._stale_days, self._rules, GREETING.match
        for i, record in enumerate(records):
            customer, articles = record.customer, record.kb_articles
            if customer.plan:
                by_plan.setdefault(customer.plan, []).append(i)
            name = customer.name
            if name and "@" not in name:
                m = match_greeting(record.reply)  # inlined greeted_name(): this loop is hot
                greeted = m and m.group("name")
                if greeted and is_other_person(greeted, name):
                    ev = {"greeted": greeted, "customer": name}
                    out.setdefault(i, []).append(Finding(record.id, "name_mismatch", ev))
            if articles:
                created = record.created_at
                if created.tzinfo is not utc:
                    created = aware(created).astimezone(utc)
                day = created.date()
                cutoff = cutoffs.get(day)
                if cutoff is None:
                    cutoff = cutoffs[day] = day - dt.timedelta(days=stale_days)
                stalest = None
                for article in articles:
                    updated = article.updated_at
                    if (updated is not None and updated < cutoff) and (
                        stalest is None or updated < stalest.updated_at
                    ):
                        stalest = article
                if stalest is not None:
                    ev = {
                        "article_id": stalest.id,
                        "url": stalest.url,
                        "updated_at": stalest.updated_at.isoformat(),
                        "age_days": (day - stalest.updated_at).days,
                    }
                    out.setdefault(i, []).append(Finding(record.id, "stale_kb", ev))
            for rule, pattern in rules:
                m = pattern.search(record.reply)
                if m is not None:
                    ev = {"rule": rule, "match": m.group()[:MAX_EVIDENCE]}
                    out.setdefault(i, []).append(Finding(record.id, f"rule:{rule}", ev))
        self._placeholder_leaks(records, out)
        self._plan_mismatches(records, by_plan, out)
        return out

    def _placeholder_leaks(self, records: Sequence[ReplyRecord], out: ByIndex) -> None:
        texts = [r.reply for r in records]
        matches = list(PLACEHOLDER.finditer("\0".join(texts)))
        if not matches:
            return
        starts = _starts(texts)
        by_record: dict[int, list[re.Match[str]]] = {}
        for m in matches:
            by_record.setdefault(bisect_right(starts, m.start()) - 1, []).append(m)
        for i, ms in by_record.items():
            found = in_prose(texts[i], ms, starts[i])
            if found:
                ev = {"placeholder": found[0], "placeholders": found[:5]}
                out.setdefault(i, []).append(Finding(records[i].id, "placeholder_leak", ev))

    def _plan_mismatches(
        self, records: Sequence[ReplyRecord], by_plan: dict[str, list[int]], out: ByIndex
    ) -> None:
        # Grouped by the customer's plan, one regex naming only the *other* plans finds every
        # mismatch in a single scan; replies that name the right plan never reach Python.
        for plan, indexes in by_plan.items():
            pattern = self._other_plans_pattern(plan)
            if pattern is None:
                continue
            texts = [records[i].reply.lower() for i in indexes]
            starts = _starts(texts)
            seen: set[int] = set()
            for m in pattern.finditer("\0".join(texts)):
                i = indexes[bisect_right(starts, m.start()) - 1]
                if i not in seen:
                    seen.add(i)
                    said = plan_key(m.group("plan"))
                    ev = {"plan": self._plans.get(said, said), "customer_plan": plan}
                    out.setdefault(i, []).append(Finding(records[i].id, "plan_mismatch", ev))

    def _other_plans_pattern(self, plan: str) -> re.Pattern[str] | None:
        if plan not in self._other_plans:
            own = plan_key(plan)
            others = [p for key, p in self._plans.items() if key != own]
            self._other_plans[plan] = plan_pattern(others)
        return self._other_plans[plan]
