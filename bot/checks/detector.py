"""Automatic checks on AI replies (DESIGN.md "Detector kinds"): pure functions, no database."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate, chain, repeat

from bot.core.config import DetectorsConfig
from bot.core.records import ReplyRecord

KINDS = ("placeholder_leak", "duplicate_reply", "name_mismatch", "plan_mismatch", "stale_kb")
_MAX_EVIDENCE = 200  # evidence is shown in Slack and stored; a runaway regex match stays short


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


# --- placeholder_leak -------------------------------------------------------------------------
# Each alternative is a template-variable syntax. JSON never matches: its keys are quoted, and
# "{" followed by a quote is not an identifier. Markdown links are excluded by "not followed by (".
_IDENT = r"[A-Za-z_][\w.\-]{0,60}"
_PLACEHOLDER = re.compile(
    # Nothing matches across "\0", which separates the replies of a batch scanned in one go.
    r"\{\{\s*[#/^&>!]?\s*[A-Za-z_][^{}\n\0]{0,60}\}\}"  # {{first_name}}, {{ agent.signature }}
    r"|\{%\s*[A-Za-z_][^{}\n\0]{0,60}%\}"  # {% if plan %}
    rf"|\$\{{{_IDENT}\}}"  # ${name}
    # {first_name}, but not a URL template /notes/{id}; lookbehinds come after the literal so
    # that every branch starts with one, which lets the regex engine skip ahead fast.
    rf"|\{{(?<![\w{{$/]\{{){_IDENT}\}}(?!\}})"
    rf"|<<\s*{_IDENT}\s*>>"  # <<REFUND_AMOUNT>>
    r"|\[(?:[A-Z][A-Z0-9]*(?:[_.][A-Z0-9]+)+|[A-Z]{4,}|[a-z]+(?:[_.][a-z0-9]+)+"  # [FIRST_NAME]
    # [Customer Name], [Refund Amount]: an LLM-style slot, named by what goes in it
    r"|(?:[A-Z][a-z]+ ){1,3}(?:Name|Date|Amount|Number|Email|Plan|Link|Company|Address|Phone|ID))"
    r"\](?![(\[])"
    # %PLAN%, but not "50%" nor a Windows path like %APPDATA%\Nimbus
    r"|%(?<![\w%]%)[A-Za-z_][\w.\-]{0,60}[A-Za-z0-9_]%(?![\w%\\/])"
)
# Code and URLs may legitimately contain braces and percent signs: placeholders there don't count.
_NOT_PROSE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`|\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s<>()\[\]]+", re.DOTALL)


def find_placeholders(text: str) -> list[str]:
    """Distinct unfilled template variables in `text`, in order, outside code and URLs."""
    if "{" not in text and "[" not in text and "%" not in text and "<<" not in text:
        return []  # fast path: most replies have none of the opening characters
    return _in_prose(text, list(_PLACEHOLDER.finditer(text)), 0)


def _in_prose(text: str, matches: list[re.Match[str]], offset: int) -> list[str]:
    """The distinct matched placeholders that lie outside code and URLs (`offset` into text)."""
    if not matches:
        return []
    excluded = [s.span() for s in _NOT_PROSE.finditer(text)]
    found: list[str] = []
    for m in matches:
        start = m.start() - offset
        if m.group() not in found and not any(a <= start < b for a, b in excluded):
            found.append(m.group())
    return found


# --- name_mismatch ----------------------------------------------------------------------------
_GREETING = re.compile(
    r"\s*(?:hi|hello|hey|hiya|howdy|dear|greetings|good\s+(?:morning|afternoon|evening|day)"
    r"|hola|hallo|bonjour|ciao|hej|olá)"
    r"(?:[ \t]+again)?[ \t,]+"
    r"(?:(?:mr|mrs|ms|mx|miss|dr|prof)\.?[ \t]+)?"
    r"(?P<name>[^\W\d_][\w'’\-]*(?:[ \t]+[^\W\d_][\w'’\-]*){0,3})"
    r"[ \t]*(?:[,!.:;?—–-]|\n|$)",
    re.IGNORECASE,
)
# Greeting words that address nobody in particular.
_NOT_NAMES = frozenset(
    {
        "there", "all", "everyone", "everybody", "team", "folks", "friend", "friends",
        "customer", "again", "sir", "madam", "user", "valued", "guys", "you", "both", "and",
        "welcome",
    }
)  # fmt: skip
# Letters that NFKD does not decompose but that people drop just like accents.
_FOLD = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "æ": "ae"})
_WORD = re.compile(r"[^\W\d_]+")


@lru_cache(maxsize=65536)
def name_tokens(name: str) -> tuple[str, ...]:
    """Accent- and case-insensitive tokens of a person's name ("Zoë Müller" -> zoe, muller)."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_FOLD))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return tuple(_WORD.findall(plain.casefold()))


def greeted_name(reply: str) -> str | None:
    """The name in the reply's opening greeting ("Hi Dana," -> "Dana"), or None."""
    m = _GREETING.match(reply)
    return m.group("name") if m is not None and _is_name(m.group("name")) else None


def _is_name(words: str) -> bool:
    # "Hello and welcome!", "Hi there,": not addressed to a name. Scripts without case pass.
    return not words[0].islower() and words.split()[0].casefold() not in _NOT_NAMES


@lru_cache(maxsize=65536)
def _is_other_person(greeted: str, customer: str) -> bool:
    """True if the greeting addresses a name with a part that is not in the customer's name."""
    wanted = set(name_tokens(customer))
    if not wanted or not _is_name(greeted):
        return False
    # Lower-case words are not names: "Hi Dana and team," greets Dana.
    named = [w for w in greeted.split() if not w[0].islower()]
    return not set(name_tokens(" ".join(named))) <= wanted


# --- plan_mismatch ----------------------------------------------------------------------------
def _plan_pattern(plans: Sequence[str]) -> re.Pattern[str] | None:
    """Matches "your <plan> plan|subscription|account" for any of `plans`, in lower-cased text."""
    if not plans:
        return None
    keys = sorted({_plan_key(p) for p in plans}, key=len, reverse=True)
    names = "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in keys)
    # Run on text.lower() rather than with IGNORECASE: a literal prefix makes the search fast.
    return re.compile(
        rf"your(?<!\wyour)\s+(?:current\s+)?(?P<plan>{names})(?!\w)[\s-]+"
        r"(?:plan|subscription|account)s?\b"
    )


@lru_cache(maxsize=1024)
def _plan_key(plan: str) -> str:
    key = " ".join(plan.lower().split())
    return key.removesuffix(" plan")


# --- the detector -----------------------------------------------------------------------------
def _aware(when: dt.datetime) -> dt.datetime:
    # Rows read back from SQLite lose their offset; everything stored is UTC.
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _starts(texts: list[str]) -> list[int]:
    """Where each text starts in "\0".join(texts) (C-level iterators: this runs per batch)."""
    lengths_and_separators = chain.from_iterable(zip(map(len, texts), repeat(1)))
    return list(accumulate(lengths_and_separators, initial=0))[::2]


_ByIndex = dict[int, list[Finding]]  # findings by position in a batch; absent if none


class Detector:
    """Runs every detector kind plus the team's regex rules; build once, reuse for all batches.

    Regexes that rarely match (placeholders, plan names) scan a whole batch joined by "\\0" in
    one call, so the per-reply Python work stays small on large imports.
    """

    def __init__(self, config: DetectorsConfig) -> None:
        self._plans = {_plan_key(p): p for p in config.plans}
        self._stale_days = config.stale_kb_days
        self._window = dt.timedelta(hours=config.duplicate_window_hours)
        self._rules = [(r.name, re.compile(r.pattern)) for r in config.rules]
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
        self, records: Sequence[ReplyRecord], per_record: _ByIndex, tickets: Sequence[str]
    ) -> None:
        """Compare the replies of each ticket with two or more of them in the batch."""
        first: dict[str, int] = {}
        several: dict[str, list[int]] = {}
        for i, ticket_id in enumerate(tickets):
            j = first.setdefault(ticket_id, i)
            if j != i:
                several.setdefault(ticket_id, [j]).append(i)
        for indexes in several.values():
            self._compare_within_ticket(records, indexes, (), per_record)

    def with_stored(
        self,
        records: Sequence[ReplyRecord],
        per_record: _ByIndex,
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
            self._compare_within_ticket(records, indexes, earlier[ticket], per_record)

    def _scan(self, records: Sequence[ReplyRecord]) -> _ByIndex:
        """Findings by index in `records`; indexes without findings are absent."""
        out: _ByIndex = {}
        by_plan: dict[str, list[int]] = {}
        cutoffs: dict[dt.date, dt.date] = {}
        utc, stale_days, rules, match_greeting = dt.UTC, self._stale_days, self._rules, _GREETING.match
        for i, record in enumerate(records):
            customer, articles = record.customer, record.kb_articles
            if customer.plan:
                by_plan.setdefault(customer.plan, []).append(i)
            name = customer.name
            if name and "@" not in name:
                m = match_greeting(record.reply)  # inlined greeted_name(): this loop is hot
                greeted = m and m.group("name")
                if greeted and _is_other_person(greeted, name):
                    ev = {"greeted": greeted, "customer": name}
                    out.setdefault(i, []).append(Finding(record.id, "name_mismatch", ev))
            if articles:
                created = record.created_at
                if created.tzinfo is not utc:
                    created = _aware(created).astimezone(utc)
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
                    ev = {"rule": rule, "match": m.group()[:_MAX_EVIDENCE]}
                    out.setdefault(i, []).append(Finding(record.id, f"rule:{rule}", ev))
        self._placeholder_leaks(records, out)
        self._plan_mismatches(records, by_plan, out)
        return out

    def _placeholder_leaks(self, records: Sequence[ReplyRecord], out: _ByIndex) -> None:
        texts = [r.reply for r in records]
        matches = list(_PLACEHOLDER.finditer("\0".join(texts)))
        if not matches:
            return
        starts = _starts(texts)
        by_record: dict[int, list[re.Match[str]]] = {}
        for m in matches:
            by_record.setdefault(bisect_right(starts, m.start()) - 1, []).append(m)
        for i, ms in by_record.items():
            found = _in_prose(texts[i], ms, starts[i])
            if found:
                ev = {"placeholder": found[0], "placeholders": found[:5]}
                out.setdefault(i, []).append(Finding(records[i].id, "placeholder_leak", ev))

    def _plan_mismatches(
        self, records: Sequence[ReplyRecord], by_plan: dict[str, list[int]], out: _ByIndex
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
                    said = _plan_key(m.group("plan"))
                    ev = {"plan": self._plans.get(said, said), "customer_plan": plan}
                    out.setdefault(i, []).append(Finding(records[i].id, "plan_mismatch", ev))

    def _other_plans_pattern(self, plan: str) -> re.Pattern[str] | None:
        if plan not in self._other_plans:
            own = _plan_key(plan)
            others = [p for key, p in self._plans.items() if key != own]
            self._other_plans[plan] = _plan_pattern(others)
        return self._other_plans[plan]

    def _compare_within_ticket(
        self,
        records: Sequence[ReplyRecord],
        indexes: list[int],
        priors: Sequence[PriorReply],
        per_record: _ByIndex,
    ) -> None:
        """Add duplicate findings and drop repeated ones, in time order, for one ticket."""
        in_batch = {records[i].id for i in indexes}
        # (created_at, id, text key, batch index or -1 for a stored reply, stored finding keys)
        events = [
            (_aware(p.created_at), p.id, p.text_key, -1, p.finding_keys)
            for p in priors
            if p.id not in in_batch  # a re-import of the same record is not a duplicate
        ]
        events += [
            (_aware(records[i].created_at), records[i].id, text_key(records[i].reply), i, None)
            for i in indexes
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
            if prev is not None and prev[1] != rid and when - prev[0] <= self._window:
                hours = round((when - prev[0]).total_seconds() / 3600, 2)
                ev = {"earlier_id": prev[1], "hours_apart": hours}
                kept.append(Finding(rid, "duplicate_reply", ev))
            if kept:
                per_record[index] = kept
            else:
                per_record.pop(index, None)
            latest[key] = (when, rid)
