"""Detector kinds on hand-written replies: what each flags, what it must leave alone."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from bot.checks.detector import Detector
from bot.checks.findings import KINDS, Finding, PriorReply, finding_key, text_key
from bot.core.config import DetectorsConfig, RuleConfig
from bot.core.records import Customer, KbArticle, ReplyRecord
from bot.views.sample import finding_text

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
DETECTOR = Detector(DetectorsConfig())


def reply(text: str = "Hi Ana,\n\nAll good.", *, rid: str = "R-1", **kw: Any) -> ReplyRecord:
    fields: dict[str, Any] = {
        "id": rid,
        "ticket_id": "T-1",
        "created_at": T0,
        "reply": text,
        "customer": Customer(id="C-1", name="Ana Ruiz", plan="Plus"),
    }
    fields.update(kw)
    return ReplyRecord(**fields)


def kinds(record: ReplyRecord, detector: Detector = DETECTOR) -> dict[str, dict]:
    return {f.kind: f.evidence for f in detector.check(record)}


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [
        ("Hi {{first_name}},\n\nDone.", "{{first_name}}"),
        ("Hi Ana,\n\nSigned, {{ agent.signature }}", "{{ agent.signature }}"),
        ("Hi [FIRST_NAME], done.", "[FIRST_NAME]"),
        ("As a %PLAN% customer you get more.", "%PLAN%"),
        ("Thanks ${customer_name}!", "${customer_name}"),
        ("Hello {first_name}, here you go.", "{first_name}"),
        ("We refunded <<REFUND_AMOUNT>> today.", "<<REFUND_AMOUNT>>"),
        ("Your [plan_name] includes it.", "[plan_name]"),
        ("Thanks, [Customer Name]!", "[Customer Name]"),
        ("We refunded [Refund Amount].", "[Refund Amount]"),
    ],
)
def test_placeholder_leaks_are_found(text: str, placeholder: str) -> None:
    assert kinds(reply(text))["placeholder_leak"]["placeholder"] == placeholder


@pytest.mark.parametrize(
    "text",
    [
        'A 429 body looks like this:\n\n```\n{"error": "rate_limited", "retry_after": 12}\n```',
        'The payload has the form {"event": "note.created", "id": "..."}.',
        "See [the API limits page](https://help.example.test/kb/kb-3) for details.",
        "Call `GET /v1/notes/{note_id}` or https://api.example.test/v1/notes/{note_id}.",
        "Open https://help.example.test/search?q=%E2%80%99plan%20limits%",
        "Run `echo ${HOME}` in a terminal.",
        "Save 50% now, or 20% on the Team plan.",
        "Your data lives in %APPDATA%\\Nimbus on Windows.",
        "```python\nprint(f'{name}')\n```",
        "- [x] done\n- [ ] todo",
        "Click [Save] and then [Billing Settings].",
    ],
)
def test_code_json_links_and_percentages_are_not_placeholders(text: str) -> None:
    assert "placeholder_leak" not in kinds(reply("Hi Ana,\n\n" + text))


def test_every_distinct_placeholder_is_in_the_evidence() -> None:
    found = kinds(reply("Hi {{first_name}}, your {{plan}} plan, {{first_name}}."))
    assert found["placeholder_leak"]["placeholders"] == ["{{first_name}}", "{{plan}}"]


@pytest.mark.parametrize(
    ("greeting", "customer"),
    [
        ("Hi Ana,", "Ana Ruiz"),
        ("Hello ANA!", "Ana Ruiz"),
        ("Hi again Ana,", "Ana Ruiz"),
        ("Hey Zoe,", "Zoë Müller"),
        ("Hi Zoë,", "Zoe Muller"),
        ("Dear Ms. Muller,", "Zoë Müller"),
        ("Dear Dr. Ruiz,", "Ana Ruiz"),
        ("Hi Ana Sofía,", "Ana Sofia Ruiz"),
        ("Good morning Ana Ruiz.", "Ana Ruiz"),
        ("Hi Søren,", "Soren Holm"),
        ("Hi Jean-Luc,", "Jean-Luc Picard"),
        ("Hi there,", "Ana Ruiz"),
        ("Hello!", "Ana Ruiz"),
        ("Hello and welcome!", "Ana Ruiz"),
        ("Hi {{first_name}},", "Ana Ruiz"),
        ("Hi Ana and team,", "Ana Ruiz"),
        ("Hola Ana,", "Ana Ruiz"),
        ("您好 王伟,", "王伟"),  # not a greeting we read
        ("Hi 王伟,", "王伟"),
    ],
)
def test_greeting_that_matches_the_customer_is_not_flagged(greeting: str, customer: str) -> None:
    record = reply(f"{greeting}\n\nAll done.", customer=Customer(name=customer))
    assert "name_mismatch" not in kinds(record)


@pytest.mark.parametrize(
    ("greeting", "greeted"),
    [
        ("Hi Marcus,", "Marcus"),
        ("Hello Ana Marie,", "Ana Marie"),  # a middle name the customer doesn't have
        ("Dear Mr. Okafor,", "Okafor"),
        ("Hey BOB!", "BOB"),
        ("Hi 李娜,", "李娜"),  # scripts without case are names too
        ("Thanks for writing in, Bob.", "Bob"),  # a name closing the opening sentence
    ],
)
def test_greeting_naming_someone_else_is_flagged(greeting: str, greeted: str) -> None:
    found = kinds(reply(f"{greeting}\n\nAll done."))
    evidence = found["name_mismatch"]
    assert (evidence["greeted"], evidence["customer"]) == (greeted, "Ana Ruiz")
    before, match, _ = evidence["sentence"]  # the sentence, with the name marked
    assert match == greeted and greeting.startswith(before + match)


def test_no_customer_name_means_no_name_finding() -> None:
    assert "name_mismatch" not in kinds(reply("Hi Marcus,\n\nDone.", customer=Customer()))


@pytest.mark.parametrize(
    ("text", "customer_plan", "flagged"),
    [
        ("Your Team plan includes SSO.", "Plus", "Team"),
        ("Since YOUR team plan renewed", "Plus", "Team"),
        ("Since your team subscription renewed", "Plus", None),  # lower case, not called a plan
        ("on your\nEnterprise account", "Plus", "Enterprise"),
        ("your current Free plan", "Plus", "Free"),
        ("Your Team plan includes SSO.", "Pro", "Team"),  # customer plan not configured
        ("Your Plus plan includes 25 seats; the Team plan adds SSO.", "Plus", None),
        ("Your plus plan includes 25 seats.", "PLUS", None),
        ("Upgrade to the Team plan from your Plus plan.", "Plus", None),
        ("Your Teams plan", "Plus", None),  # not a configured plan name
        ("your Team plan", None, None),  # unknown customer plan
    ],
)
def test_plan_mismatch(text: str, customer_plan: str | None, flagged: str | None) -> None:
    found = kinds(reply("Hi Ana,\n\n" + text, customer=Customer(name="Ana", plan=customer_plan)))
    if flagged is None:
        assert "plan_mismatch" not in found
    else:
        evidence = found["plan_mismatch"]
        assert (evidence["plan"], evidence["customer_plan"]) == (flagged, customer_plan)


def test_multi_word_plan_names_prefer_the_longest() -> None:
    detector = Detector(DetectorsConfig(plans=["Plus", "Enterprise Plus"]))
    customer = Customer(name="Ana", plan="Enterprise Plus")
    assert kinds(reply("Your Enterprise  Plus plan is set.", customer=customer), detector) == {}
    found = kinds(reply("Your Plus plan is set.", customer=customer), detector)
    assert found["plan_mismatch"]["plan"] == "Plus"


def article(aid: str, days_old: int | None) -> KbArticle:
    updated = None if days_old is None else (T0 - dt.timedelta(days=days_old)).date()
    return KbArticle(id=aid, url=f"https://help.example.test/{aid}", updated_at=updated)


def test_stale_kb_names_the_stalest_article() -> None:
    record = reply(kb_articles=(article("kb-1", 3), article("kb-2", 400), article("kb-3", 181)))
    assert kinds(record)["stale_kb"] == {
        "article_id": "kb-2",
        "url": "https://help.example.test/kb-2",
        "updated_at": (T0 - dt.timedelta(days=400)).date().isoformat(),
        "age_days": 400,
    }  # no sentence: the reply does not cite the article in its text


def test_stale_kb_threshold_and_missing_dates() -> None:
    assert "stale_kb" not in kinds(reply(kb_articles=(article("kb-1", 180), article("kb-2", None))))
    short = Detector(DetectorsConfig(stale_kb_days=30))
    assert kinds(reply(kb_articles=(article("kb-1", 31),)), short)["stale_kb"]["age_days"] == 31


def test_team_rules() -> None:
    rule = RuleConfig(name="promises_refund", pattern=r"(?i)\bfull refund\b")
    detector = Detector(DetectorsConfig(rules=[rule]))
    findings = detector.check(reply("Hi Ana,\n\nI've started a Full Refund to your card."))
    assert findings == [
        Finding(
            "R-1",
            "rule:promises_refund",
            {
                "rule": "promises_refund",
                "match": "Full Refund",
                "sentence": ["I've started a ", "Full Refund", " to your card."],
            },
        )
    ]
    assert (
        finding_text(findings[0].kind, findings[0].evidence) == "matches rule promises_refund: “Full Refund”"
    )
    assert detector.check(reply("Hi Ana,\n\nNo refund, sorry.")) == []


def test_text_key_ignores_whitespace_only() -> None:
    assert text_key("  Hi Ana,\n\n Done.\n") == text_key("Hi Ana, Done.") == "Hi Ana, Done."
    assert text_key("Hi Ana, done.") != text_key("Hi Ana, Done.")


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_duplicate_in_a_batch_flags_the_later_copy_whatever_the_order() -> None:
    first = reply("Hi Ana,\n\nDone.", rid="R-1", created_at=at(0))
    second = reply("Hi Ana,\n\n Done.\n", rid="R-2", created_at=at(150))
    other_ticket = reply("Hi Ana,\n\nDone.", rid="R-3", ticket_id="T-2", created_at=at(10))
    findings = DETECTOR.check_batch([second, other_ticket, first])
    assert [(f.reply_id, f.kind, f.evidence["earlier_id"], f.evidence["hours_apart"]) for f in findings] == [
        ("R-2", "duplicate_reply", "R-1", 2.5)
    ]
    assert findings[0].evidence["sentence"] == ["", "Hi Ana, Done.", ""]
    assert (
        finding_text(findings[0].kind, findings[0].evidence) == "same text as reply R-1, sent 2.5 h earlier"
    )


def test_duplicates_outside_the_window_or_different_text_are_not_flagged() -> None:
    records = [
        reply("Hi Ana,\n\nDone.", rid="R-1", created_at=at(0)),
        reply("Hi Ana,\n\nDone.", rid="R-2", created_at=at(24 * 60 + 1)),
        reply("Hi Ana,\n\nDone!", rid="R-3", created_at=at(24 * 60 + 2)),
    ]
    assert DETECTOR.check_batch(records) == []
    narrow = Detector(DetectorsConfig(duplicate_window_hours=0.5))
    assert narrow.check_batch([records[0], reply("Hi Ana,\n\nDone.", rid="R-4", created_at=at(31))]) == []


def test_each_copy_names_the_copy_before_it() -> None:
    records = [reply("Hi Ana,\n\nDone.", rid=f"R-{i}", created_at=at(10 * i)) for i in (1, 2, 3)]
    found = {f.reply_id: f.evidence["earlier_id"] for f in DETECTOR.check_batch(records)}
    assert found == {"R-2": "R-1", "R-3": "R-2"}


def test_duplicate_of_a_stored_reply_across_batches() -> None:
    # Stored rows read back from SQLite have no offset: they are UTC.
    prior = PriorReply("R-1", T0.replace(tzinfo=None), text_key("Hi Ana,\n\nDone."))
    later = reply("Hi Ana,\n\nDone.", rid="R-2", created_at=at(30))
    findings = DETECTOR.check_batch([later], {"T-1": [prior]})
    assert [(f.reply_id, f.kind, f.evidence["earlier_id"], f.evidence["hours_apart"]) for f in findings] == [
        ("R-2", "duplicate_reply", "R-1", 0.5)
    ]


def test_reimporting_the_same_record_is_not_a_duplicate() -> None:
    record = reply("Hi Ana,\n\nDone.", rid="R-1")
    prior = PriorReply("R-1", T0, text_key(record.reply))
    assert DETECTOR.check_batch([record], {"T-1": [prior]}) == []


def test_a_follow_up_repeating_a_finding_on_the_same_ticket_is_not_reported_again() -> None:
    stale = (article("kb-9", 400),)
    first = reply("Hi Ana,\n\nSee the guide.", rid="R-1", kb_articles=stale)
    follow = reply("Hi Ana,\n\nAlso this.", rid="R-2", created_at=at(20), kb_articles=stale)
    other = reply("Hi Ana,\n\nAnd this.", rid="R-3", created_at=at(40), kb_articles=(article("kb-8", 500),))
    elsewhere = reply("Hi Ana,\n\nSee.", rid="R-4", ticket_id="T-2", kb_articles=stale)
    found = [(f.reply_id, f.kind) for f in DETECTOR.check_batch([follow, other, first, elsewhere])]
    assert found == [("R-3", "stale_kb"), ("R-1", "stale_kb"), ("R-4", "stale_kb")]
    # The per-reply check has no ticket context: it reports what it sees.
    assert "stale_kb" in kinds(follow)


def test_a_finding_already_stored_for_the_ticket_is_not_repeated() -> None:
    follow = reply("Hi Marcus,\n\nAlso this.", rid="R-2", created_at=at(20))
    stored = DETECTOR.check(reply("Hi Marcus,\n\nFirst.", rid="R-1"))
    prior = PriorReply(
        "R-1",
        T0,
        text_key("Hi Marcus,\n\nFirst."),
        frozenset(finding_key(f.kind, f.evidence) for f in stored),
    )
    assert DETECTOR.check_batch([follow], {"T-1": [prior]}) == []
    assert [f.kind for f in DETECTOR.check_batch([follow])] == ["name_mismatch"]


def test_evidence_is_json_and_every_kind_describes_itself() -> None:
    records = [
        reply("Hi {{first_name}},\n\nDone.", rid="R-1"),
        reply("Hi Marcus,\n\nYour Team plan.", rid="R-2", ticket_id="T-2"),
        reply("Hi Ana,\n\nSee.", rid="R-3", ticket_id="T-3", kb_articles=(article("kb-1", 300),)),
        reply("Hi Ana,\n\nSee.", rid="R-4", ticket_id="T-3", created_at=at(5)),
    ]
    findings = DETECTOR.check_batch(records)
    assert {f.kind for f in findings} == set(KINDS)
    for f in findings:
        json.dumps(f.evidence)
        assert finding_text(f.kind, f.evidence) not in ("", f.kind)


def test_a_large_batch_on_one_ticket_stays_linear() -> None:
    # 5000 distinct replies on one ticket: duplicate matching is by key, not pairwise.
    records = [reply(f"Hi Ana,\n\nAnswer {i}.", rid=f"R-{i}", created_at=at(i)) for i in range(5000)]
    records.append(reply("Hi Ana,\n\nAnswer 17.", rid="R-x", created_at=at(17.5)))
    assert [f.evidence["earlier_id"] for f in DETECTOR.check_batch(records)] == ["R-17"]
