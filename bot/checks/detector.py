"""The detector: every check kind plus the team's regex rules over a batch of replies; no database."""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import accumulate, chain, repeat
from typing import Any

from bot.checks.context import sentence
from bot.checks.findings import MAX_EVIDENCE, ByIndex, Finding, PriorReply, StoredChanges, aware
from bot.checks.markup import read_as_text
from bot.checks.names import CLOSING_NAME, Addressed, addressed, closing, later_greetings, vocative
from bot.checks.people import customer_tokens, is_other_person
from bot.checks.placeholders import find, leaks
from bot.checks.plans import attributed, customer_plans, names_patterns, plan_key
from bot.checks.profiles import Profile, build_profile, configured
from bot.checks.tickets import settle_ticket
from bot.core.config import DetectorsConfig, compile_rule
from bot.core.records import ReplyRecord


def _starts(texts: list[str]) -> list[int]:
    """Where each text starts in "\0".join(texts) (C-level iterators: this runs per batch)."""
    lengths_and_separators = chain.from_iterable(zip(map(len, texts), repeat(1)))
    return list(accumulate(lengths_and_separators, initial=0))[::2]


@lru_cache(maxsize=65536)
def _opening_line(line: str) -> Addressed | None:
    return addressed(line)


def whom(reply: str) -> Addressed | None:
    """`addressed(reply)`, from a cache when the greeting and its name fit the first line."""
    cut = reply.find("\n", 0, 120)
    if cut > 0:
        found = _opening_line(reply[:cut])
        return found if found is not None else vocative(reply)  # the first line names nobody
    return addressed(reply)


class Detector:
    """Runs every check kind plus the team's regex rules; build once, reuse for all batches.

    Regexes that rarely match (placeholders, plan names) scan a whole batch joined by "\\0" in
    one call, so the per-reply Python work stays small on large imports.
    """

    def __init__(self, config: DetectorsConfig) -> None:
        self._config = config
        self._plans = {plan_key(p): " ".join(p.split()) for p in config.plans}
        self._rules = [
            (f"rule:{r.name}", r.name, compile_rule(r.pattern)) for r in config.rules
        ]  # RE2: linear time
        self._default = build_profile(config, None)
        self._profiles: dict[str | None, Profile] = {None: self._default}
        self._split = bool(config.channels)  # only then may replies of one batch differ
        self._other_plans: dict[frozenset[str], list[re.Pattern[str]]] = {}
        windows = [self._default.window, *(self.profile(c).window for c in config.channels)]
        self.window = max(windows)  # the longest duplicate window of any channel

    def profile(self, channel: str | None) -> Profile:
        """The settings for replies of `channel`."""
        if channel not in self._profiles:
            self._profiles[channel] = build_profile(self._config, channel)
        return self._profiles[channel]

    def _window_of(self, channel: str | None) -> dt.timedelta:
        return self.profile(channel).window

    def _allowed(self, kind: str, evidence: dict, channel: str | None, text: str) -> bool:
        return self.profile(channel).allows(kind, evidence, text)

    def check(self, record: ReplyRecord) -> list[Finding]:
        """Per-reply checks: every kind except duplicate_reply, then the team rules."""
        return self._scan([record]).get(0, [])

    def check_batch(
        self,
        records: Sequence[ReplyRecord],
        earlier: Mapping[str, Sequence[PriorReply]] | None = None,
    ) -> list[Finding]:
        """All checks over a batch, duplicates included (also against `earlier` stored replies)."""
        return self.settle(records, self.scan(records), earlier)

    def scan(self, records: Sequence[Any]) -> ByIndex:
        """Per-reply findings by index in `records` (every kind but duplicates); absent if none."""
        return self._scan(records)

    def settle(
        self,
        records: Sequence[Any],
        per_record: ByIndex,
        earlier: Mapping[str, Sequence[PriorReply]] | None = None,
        *,
        tickets: Sequence[str] | None = None,
    ) -> list[Finding]:
        """The ticket-level pass of check_batch over `scan(records)`'s result (which it changes).

        Two steps, which a bulk import runs apart: `within_batch` (a worker process can run it
        with the scan) and `with_stored` (where the database is).
        """
        if tickets is None:
            tickets = [record.ticket_id for record in records]
        self.within_batch(records, per_record, tickets)
        if earlier:
            self.with_stored(records, per_record, earlier, tickets)
        return [f for i in sorted(per_record) for f in per_record[i]]

    def within_batch(self, records: Sequence[Any], per_record: ByIndex, tickets: Sequence[str]) -> None:
        """Compare the replies of each ticket with two or more of them in the batch."""
        first: dict[str, int] = {}
        several: dict[str, list[int]] = {}
        for i, ticket_id in enumerate(tickets):
            j = first.setdefault(ticket_id, i)
            if j != i:
                several.setdefault(ticket_id, [j]).append(i)
        for indexes in several.values():
            settle_ticket(records, indexes, (), per_record, self._window_of, self._allowed)

    def with_stored(
        self,
        records: Sequence[Any],
        per_record: ByIndex,
        earlier: Mapping[str, Sequence[PriorReply]],
        tickets: Sequence[str],
    ) -> StoredChanges:
        """After `within_batch`: settle again, with the stored replies, the tickets that have some;
        return what that changes on the stored replies (a later one stored before this batch)."""
        changes = StoredChanges()
        on_ticket: dict[str, list[int]] = {}
        for i, ticket_id in enumerate(tickets):
            if ticket_id in earlier:
                on_ticket.setdefault(ticket_id, []).append(i)
        for ticket, indexes in on_ticket.items():
            settle_ticket(
                records, indexes, earlier[ticket], per_record, self._window_of, self._allowed, changes
            )
        return changes

    def _scan(self, records: Sequence[Any]) -> ByIndex:
        if not self._split:
            return self._scan_part(records, self._default)
        groups: dict[str | None, list[int]] = {}
        for i, record in enumerate(records):
            key = record.channel if configured(self._config, record.channel) else None
            groups.setdefault(key, []).append(i)
        if len(groups) == 1:
            return self._scan_part(records, self.profile(next(iter(groups))))
        out: ByIndex = {}
        for key, indexes in groups.items():
            found = self._scan_part([records[i] for i in indexes], self.profile(key))
            out.update((indexes[j], f) for j, f in found.items())
        return out

    def _scan_part(self, records: Sequence[Any], profile: Profile) -> ByIndex:
        """Findings by index in `records`; indexes without findings are absent."""
        out: ByIndex = {}
        on = profile.enabled
        names, stale, holes = "name_mismatch" in on, "stale_kb" in on, "placeholder_leak" in on
        rules = [(kind, name, p) for kind, name, p in self._rules if kind in on]
        slots: dict[int, list[tuple[str, int, int]]] = {}
        by_plan: dict[frozenset[str], list[int]] = {}
        cutoffs: dict[dt.date, dt.date] = {}
        utc, stale_days = dt.UTC, profile.stale_days
        texts = [r.reply for r in records]
        records = read_as_text(records, texts)  # HTML replies as their readers see them
        joined = "\0".join(texts) if names or holes else ""  # scanned whole by the regexes below
        closers = _closing_candidates(texts, joined) if names else set()
        for i, record in enumerate(records):
            customer, articles = record.customer, record.kb_articles
            if customer.plan:
                by_plan.setdefault(customer_plans(customer.plan), []).append(i)
            if names and (customer.name or customer.email):
                addr = whom(record.reply)
                if addr is not None and addr.slot is not None:
                    if holes:
                        slots[i] = [(addr.slot, addr.start, addr.end)]
                elif (  # the common case, decided cheaply: the name as on record, and no ", Name?"
                    i in closers or (addr is not None and not _plainly_named(addr.people, customer.name))
                ) and (wrong := _misaddressed(record, addr, i in closers)) is not None:
                    ev = {
                        "greeted": " and ".join(wrong.people),
                        "customer": customer.name or customer.email,
                        "sentence": sentence(record.reply, wrong.start, wrong.end),
                    }
                    out.setdefault(i, []).append(Finding(record.id, "name_mismatch", ev))
            if articles and stale:
                created = record.created_at
                if created.tzinfo is not utc:
                    created = aware(created).astimezone(utc)
                day = created.date()
                cutoff = cutoffs.get(day)
                if cutoff is None:
                    cutoff = cutoffs[day] = day - dt.timedelta(days=stale_days)
                found = _stalest(articles, cutoff)
                if found is not None:
                    out.setdefault(i, []).append(_stale_finding(record, found, day))
            for kind, rule, pattern in rules:
                m = pattern.search(record.reply)
                if m is not None:
                    ev = {
                        "rule": rule,
                        "match": m.group()[:MAX_EVIDENCE],
                        "sentence": sentence(record.reply, m.start(), m.end()),
                    }
                    out.setdefault(i, []).append(Finding(record.id, kind, ev))
        if holes:
            self._placeholder_leaks(records, texts, joined, out, slots, profile)
        if "plan_mismatch" in on:
            self._plan_mismatches(records, by_plan, out, profile)
        if profile.mutes:
            for i, found in list(out.items()):
                kept = [f for f in found if profile.allows(f.kind, f.evidence, records[i].reply)]
                if kept:
                    out[i] = kept
                else:
                    del out[i]
        return out

    def _placeholder_leaks(
        self,
        records: Sequence[Any],
        texts: list[str],
        joined: str,
        out: ByIndex,
        slots: dict[int, list],
        profile: Profile,
    ) -> None:
        by_record: dict[int, list[re.Match[str]]] = {}
        matches = find(joined)
        if matches:
            starts = _starts(texts)
            for m in matches:
                by_record.setdefault(bisect_right(starts, m.start()) - 1, []).append(m)
        else:
            starts = []
        for i in sorted(by_record.keys() | slots.keys()):
            record = records[i]
            found = leaks(
                texts[i],
                by_record.get(i, []),
                starts[i] if starts else 0,
                record.customer_message,
                profile.allow,
            )
            found = [s for s in slots.get(i, []) if "".join(s[0].split()) not in profile.allow] + found
            if found:
                tag, start, end = found[0]
                ev = {
                    "placeholder": tag,
                    "placeholders": list(dict.fromkeys(t for t, _, _ in found))[:5],
                    "sentence": sentence(texts[i], start, end),
                }
                out.setdefault(i, []).append(Finding(record.id, "placeholder_leak", ev))

    def _plan_mismatches(
        self, records: Sequence[Any], by_plan: dict[frozenset[str], list[int]], out: ByIndex, profile: Profile
    ) -> None:
        # Grouped by the customer's plan, one regex naming only the *other* plans finds every
        # candidate in a single scan; replies that name only the right plan never reach Python.
        for plans, indexes in by_plan.items():
            patterns = self._other_plans_patterns(plans)
            if not patterns:
                continue
            texts = [records[i].reply for i in indexes]
            lowered = [t.lower() for t in texts]
            joined, starts = "\0".join(lowered), _starts(lowered)
            hits = sorted((m.start(), m.end(), p) for p in patterns for m in p.finditer(joined))
            done: set[int] = set()
            for at, until, pattern in hits:
                j = bisect_right(starts, at) - 1
                i = indexes[j]
                if i in done:
                    continue
                start, end = at - starts[j], until - starts[j]
                text, record = texts[j], records[i]
                named = " ".join(joined[at:until].split())
                if len(text) != len(lowered[j]):  # lower() changed the length: find the name again
                    again = re.compile(pattern.pattern, re.IGNORECASE).search(text, max(0, start - 5))
                    if again is None:
                        continue
                    start, end = again.span()
                spelled = self._plans.get(plan_key(named), named)
                if attributed(
                    text,
                    start,
                    end,
                    spelled=spelled,
                    case_sensitive=profile.case_sensitive,
                    customer_message=record.customer_message,
                ):
                    done.add(i)
                    ev = {
                        "plan": spelled,
                        "customer_plan": record.customer.plan,
                        "sentence": sentence(text, start, end),
                    }
                    out.setdefault(i, []).append(Finding(record.id, "plan_mismatch", ev))

    def _other_plans_patterns(self, plans: frozenset[str]) -> list[re.Pattern[str]]:
        if plans not in self._other_plans:
            others = [p for key, p in self._plans.items() if key not in plans]
            self._other_plans[plans] = names_patterns(others)
        return self._other_plans[plans]


def _closing_candidates(texts: list[str], joined: str) -> set[int]:
    """Indexes of the replies with a ", Name?" anywhere, found in one scan of the batch (`texts`
    joined by "\0"): only they may end by addressing someone."""
    matches = list(CLOSING_NAME.finditer(joined))
    if not matches:
        return set()
    starts = _starts(texts)
    return {bisect_right(starts, m.start()) - 1 for m in matches}


def _misaddressed(record: Any, opening: Addressed | None, may_close: bool) -> Addressed | None:
    """Where the reply addresses someone other than the customer: its opening, else a closing
    sentence ("Anything else I can help with, Kevin?"); None when it addresses nobody else."""
    if _names_another(record, opening):
        return opening
    last = closing(record.reply) if may_close else None
    return last if _names_another(record, last) else None


def _names_another(record: Any, addr: Addressed | None) -> bool:
    customer = record.customer
    if addr is None or addr.slot is not None or _plainly_named(addr.people, customer.name):
        return False
    tokens = customer_tokens(customer.name, customer.id, customer.email)
    message = record.customer_message
    return is_other_person(addr, tokens, message, record.reply[addr.end :]) and not any(
        not is_other_person(later, tokens, message) for later in later_greetings(record.reply, addr.end)
    )  # "Thanks, Ahmed, I'll take it from here.\n\nHi Rosa": the customer is greeted next


@lru_cache(maxsize=8192)  # per reply on an import; the same customers are greeted the same way
def _plainly_named(people: tuple[str, ...], name: str | None) -> bool:
    """One of `people` is written exactly as words of the record's name ("Dana" of "Dana Lee")."""
    if not name:
        return False
    words = name.casefold().split()
    for person in people:
        folded = person.casefold()
        if folded in words or (" " in folded and all(part in words for part in folded.split())):
            return True
    return False


def _stalest(articles: Sequence[Any], cutoff: dt.date) -> Any:
    stalest = None
    for article in articles:
        checked = article.checked_at
        if checked is not None and checked < cutoff and (stalest is None or checked < stalest.checked_at):
            stalest = article
    return stalest


def _stale_finding(record: Any, article: Any, day: dt.date) -> Finding:
    checked = article.checked_at
    ev: dict[str, Any] = {
        "article_id": article.id,
        "url": article.url,
        "updated_at": article.updated_at.isoformat() if article.updated_at else None,
        "age_days": (day - checked).days,
    }
    if article.reviewed_at is not None:
        ev["reviewed_at"] = article.reviewed_at.isoformat()
    cited = next((c for c in (article.url, article.id) if c and c in record.reply), None)
    if cited is not None:
        at = record.reply.index(cited)
        ev["sentence"] = sentence(record.reply, at, at + len(cited))
    return Finding(record.id, "stale_kb", ev)
