"""Redaction and escaping of untrusted text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.redact import escape_mrkdwn, luhn_ok, redact, safe_mrkdwn, safe_plain, truncate
from tests.conftest import DEV_DATA, SHARED

GENERATOR = SHARED / "tools" / "gen_replies.py"


def _dev_records() -> dict[str, dict]:
    records = {}
    for line in (DEV_DATA / "replies.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            records[record["id"]] = record
        except (ValueError, KeyError, TypeError):
            continue
    return records


@pytest.mark.skipif(not DEV_DATA.exists(), reason="shared dev data not present")
def test_no_planted_value_survives_safe_mrkdwn() -> None:
    planted = json.loads((DEV_DATA / "planted.json").read_text(encoding="utf-8"))
    records = _dev_records()
    values = [*planted["pii"], *planted["injections"]]
    assert len(values) > 100
    for item in values:
        text = records[item["id"]]["customer_message"]
        assert item["value"] in text  # it really was planted there
        assert item["value"] not in safe_mrkdwn(text), item
    for item in planted["pii"]:
        assert item["value"] not in safe_plain(records[item["id"]]["customer_message"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to dana.lee+x@mail.example.com today", "write to [email] today"),
        ("call +1 (415) 555-9204 now", "call [phone] now"),
        ("or 415-555-9204", "or [phone]"),
        ("UK +44 20 7946 0958", "UK [phone]"),
        ("card 4111 1111 1111 1111.", "card [card]."),
        ("card 4111-1111-1111-1111", "card [card]"),
        ("4111111111111111", "[card]"),
        ("card 4111 1111 1111 1111 20", "card [card] 20"),  # Luhn on the card, not the run
        ("call 415.555.9204", "call [phone]"),
        ("office 020 7946 0958", "office [phone]"),
        ("Berlin +49 30 901820", "Berlin [phone]"),
    ],
)
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 123456 cost $1,299.00",
        "on 2026-11-20 at 10:04",
        "not a card: 1234 5678 9012 3456",  # fails Luhn
        "version 3.11.7, 30-day window, 5-10 business days",
        "ticket T-4821",
        "between 100-2000 requests a minute",
        "on 2026-11-20 10:04 UTC, or 05.10.2026",
        "in 2024 2025 2026",
        "from 192.168.100.200",
        "order 1234 5678",
    ],
)
def test_keeps_ordinary_numbers(text: str) -> None:
    assert redact(text) == text


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")


def test_escape_only_three_characters() -> None:
    assert escape_mrkdwn("<!channel> & <@U123|x> \"q\" 'a'") == (
        "&lt;!channel&gt; &amp; &lt;@U123|x&gt; \"q\" 'a'"
    )


def test_safe_mrkdwn_never_pings_or_formats() -> None:
    out = safe_mrkdwn("<!here> *bold* _it_ ~s~ `c` <https://evil.test|help>")
    assert "<" not in out and ">" not in out
    for marker in ("*bold*", "_it_", "~s~", "`c`"):
        assert marker not in out


def test_idempotent_redaction() -> None:
    text = "mail a@b.co, call +1 415 555 0101, card 4111 1111 1111 1111"
    assert redact(redact(text)) == redact(text)


def test_truncate_is_visible_and_never_splits_an_entity() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate(escape_mrkdwn("<" * 10), 7)
    assert len(cut) <= 7 and cut.endswith("…")
    assert not cut.rstrip("…").endswith(("&", "&l", "&lt"))
    assert truncate("x" * 100, 10) == "x" * 9 + "…"
    assert truncate("abcdef", 1) == "…"
    assert truncate("abcdef", 0) == ""


@pytest.mark.skipif(not GENERATOR.exists(), reason="shared generator not present")
def test_no_planted_value_survives_in_another_draw(tmp_path: Path) -> None:
    args = ["-n", "1500", "--seed", "99", "--out", str(tmp_path)]
    subprocess.run([sys.executable, str(GENERATOR), *args], check=True, capture_output=True)
    planted = json.loads((tmp_path / "planted.json").read_text(encoding="utf-8"))
    messages = {}
    for line in (tmp_path / "replies.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        messages[record["id"]] = record["customer_message"]
    for item in [*planted["pii"], *planted["injections"]]:
        out = safe_mrkdwn(messages[item["id"]])
        assert item["value"] not in out, item
        assert "<" not in out and ">" not in out
