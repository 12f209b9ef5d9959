"""Checks across a ticket's replies: what a duplicate is, and the same result in any arrival order."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from bot.checks.detector import Detector
from bot.checks.findings import PriorReply, text_key
from bot.core.config import DetectorsConfig
from bot.core.records import Customer, KbArticle, ReplyRecord

T0 = dt.datetime(2027, 2, 9, 15, 0, tzinfo=dt.UTC)
DETECTOR = Detector(DetectorsConfig())


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def reply(rid: str, text: str, minutes: float, asked: str | None = None, **kw: Any) -> ReplyRecord:
    fields: dict[str, Any] = {
        "id": rid,
        "ticket_id": "T-1",
        "created_at": at(minutes),
        "reply": text,
        "customer_message": asked,
        "customer": Customer(name="Lena Fischer"),
    }
    fields.update(kw)
    return ReplyRecord(**fields)


def duplicates(records: list[ReplyRecord], detector: Detector = DETECTOR) -> dict[str, str]:
    return {
        f.reply_id: f.evidence["earlier_id"]
        for f in detector.check_batch(records)
        if f.kind == "duplicate_reply"
    }


def test_a_filler_before_each_lookup_is_not_a_duplicate() -> None:
    records = [
        reply("R-1", "Let me check that for you.", 0, "Where is my parcel?", channel="chat"),
        reply("R-2", "It left the depot this morning.", 2, channel="chat"),
        reply("R-3", "Let me check that for you.", 5, "And the second one?", channel="chat"),
    ]
    assert duplicates(records) == {}


def test_a_notice_sent_again_for_a_new_message_is_not_a_duplicate() -> None:
    notice = "Our office is closed for the holiday; we'll answer on Monday."
    records = [reply("R-1", notice, 0, "Hello?"), reply("R-2", notice, 180, "Is anyone there??")]
    assert duplicates(records) == {}


def test_a_copy_answering_the_same_message_is_a_duplicate() -> None:
    text = "Your refund of 20 EUR is on its way."
    records = [reply("R-1", text, 0, "Refund please"), reply("R-2", text + "\n", 10, "Refund please")]
    assert duplicates(records) == {"R-2": "R-1"}


def test_copies_sent_at_the_same_instant_are_both_duplicates() -> None:
    text = "Could you send us your order number by DM?"
    records = [reply("R-b", text, 0, channel="twitter"), reply("R-a", text, 0, channel="twitter")]
    assert duplicates(records) == {"R-a": "R-b", "R-b": "R-a"}


def test_live_channels_have_a_shorter_window_unless_configured() -> None:
    text = "Please don't paste long logs here; use a paste site."
    chat = [reply("R-1", text, 0, "x", channel="chat"), reply("R-2", text, 180, "x", channel="chat")]
    mail = [reply("R-1", text, 0, "x", channel="email"), reply("R-2", text, 180, "x", channel="email")]
    assert duplicates(chat) == {}
    assert duplicates(mail) == {"R-2": "R-1"}
    longer = Detector(DetectorsConfig(channels={"chat": {"duplicate_window_hours": 6}}))
    assert duplicates(chat, longer) == {"R-2": "R-1"}
    muted = Detector(DetectorsConfig(mute=["duplicate_reply: ^please don't paste"]))
    assert duplicates(mail, muted) == {}


# -- any arrival order -------------------------------------------------------------------------


class Store:
    """A stand-in for the database: what bot.ingest.store keeps per reply, changes applied."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.replies: dict[str, ReplyRecord] = {}
        self.findings: dict[str, dict[str, dict]] = {}

    def priors(self, ticket: str) -> list[PriorReply]:
        return [
            PriorReply(
                id=r.id,
                created_at=r.created_at,
                text_key=text_key(r.reply),
                asked=text_key(r.customer_message) if r.customer_message else None,
                channel=r.channel,
                findings=dict(self.findings.get(r.id, {})),
                row_id=n,
            )
            for n, r in enumerate(self.replies.values())
            if r.ticket_id == ticket
        ]

    def add(self, batch: list[ReplyRecord]) -> None:
        per_record = self.detector.scan(batch)
        tickets = [r.ticket_id for r in batch]
        self.detector.within_batch(batch, per_record, tickets)
        earlier = {t: self.priors(t) for t in set(tickets) if self.priors(t)}
        ids = list(self.replies)
        changes = self.detector.with_stored(batch, per_record, earlier, tickets) if earlier else None
        if changes:
            for row, kind in changes.delete:
                del self.findings[ids[row]][kind]
            for row, finding in changes.insert:
                self.findings.setdefault(ids[row], {})[finding.kind] = finding.evidence
        for i, r in enumerate(batch):
            self.replies[r.id] = r
            self.findings[r.id] = {f.kind: f.evidence for f in per_record.get(i, [])}

    def summary(self) -> set[tuple[str, str, Any]]:
        return {
            (rid, kind, ev.get("earlier_id") or ev.get("article_id"))
            for rid, found in self.findings.items()
            for kind, ev in found.items()
        }


def test_any_arrival_order_gives_the_same_findings() -> None:
    stale = (KbArticle("kb-3", None, (T0 - dt.timedelta(days=400)).date()),)
    text = "Hi Lena, your invoice is attached."
    ticket = [
        reply("R-1", text, 0, "Invoice?", kb_articles=stale),
        reply("R-2", text, 3, "Invoice?"),
        reply("R-3", "Anything else I can do?", 20, "No thanks", kb_articles=stale),
        reply("R-4", text, 21, "Invoice?"),  # after R-3: the conversation went on, no duplicate
        reply("R-5", "Hi Lena, your invoice is attached.", 21, "Invoice?"),  # same instant as R-4
    ]
    expected = {
        ("R-1", "stale_kb", "kb-3"),
        ("R-2", "duplicate_reply", "R-1"),
        ("R-4", "duplicate_reply", "R-5"),
        ("R-5", "duplicate_reply", "R-4"),
    }
    one_batch = Store(DETECTOR)
    one_batch.add(ticket)
    assert one_batch.summary() == expected
    for order in itertools.permutations(ticket):
        for cut in (1, 2, 4):
            store = Store(DETECTOR)
            store.add(list(order[:cut]))
            for item in order[cut:]:
                store.add([item])
            assert store.summary() == expected, [r.id for r in order]


def test_a_later_copy_stored_first_gets_its_duplicate_when_the_first_arrives() -> None:
    store = Store(DETECTOR)
    store.add([reply("R-2", "Done, Lena.", 5, "ok?")])
    assert store.findings["R-2"] == {}
    store.add([reply("R-1", "Done, Lena.", 0, "ok?")])
    assert store.findings["R-1"] == {}
    assert store.findings["R-2"]["duplicate_reply"]["earlier_id"] == "R-1"
