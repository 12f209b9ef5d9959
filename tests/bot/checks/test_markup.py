"""Replies written as HTML are checked as their readers see them (bot/checks/markup.py)."""

from __future__ import annotations

import pytest

from bot.checks.markup import unmarked
from tests.bot.checks.test_real_text import found

HTML_GREETING = (
    "<p>Hi {name},</p>\n<p>Your chart was filtered to the last 7 days.</p>\n<p>Best,<br>Noelle</p>"
)


def test_a_greeting_inside_paragraph_tags_is_read() -> None:
    wrong = found(HTML_GREETING.format(name="Wes"))
    assert wrong["name_mismatch"]["greeted"] == "Wes"
    assert wrong["name_mismatch"]["sentence"] == ["Hi ", "Wes", ","]  # quoted without its tags
    assert "name_mismatch" not in found(HTML_GREETING.format(name="Priya"))


def test_a_plan_inside_emphasis_tags_is_read() -> None:
    text = "<p>Hi Priya,</p><p>Your <b>{plan}</b> plan renews on 3 December; no action is needed.</p>"
    wrong = found(text.format(plan="Pro"))  # Priya is on Basic
    assert wrong["plan_mismatch"]["plan"] == "Pro"
    assert wrong["plan_mismatch"]["sentence"][0] == "Your "
    assert "plan_mismatch" not in found(text.format(plan="Basic"))


@pytest.mark.parametrize(
    "text",
    [
        "<p>Hi Priya,</p><p>Your refund of <AMOUNT> is on its way.</p>",
        "<div>Hi Priya,<br/>Your order <ORDER_ID> has shipped.</div>",
        "<p>Hi {{first_name}},</p><p>Your export is ready.</p>",
    ],
)
def test_an_unfilled_slot_in_an_html_reply_is_still_a_leak(text: str) -> None:
    assert "placeholder_leak" in found(text)


@pytest.mark.parametrize(
    "text",
    [
        '<p>Hi Priya,</p><p>Your export is ready: <a href="https://app.example.test/x">download it</a>.</p>',
        "<p>Hi&nbsp;Priya,</p><p>Your <strong>Basic</strong> plan includes 3 seats.</p>",
        "<table><tr><td>Plan</td><td>Seats</td></tr><tr><td>Pro</td><td>10</td></tr></table>"
        "<p>Hi Priya, above are the plans you asked about.</p>",
    ],
)
def test_correct_html_replies_stay_quiet(text: str) -> None:
    assert found(text) == {}


def test_only_html_tags_are_read_and_the_rest_is_kept() -> None:
    assert unmarked("<p>Hi Ann,</p><p>Total: <AMOUNT></p>") == "\nHi Ann,\n\nTotal: <AMOUNT>\n"
    assert unmarked("Your <b>Pro</b> plan, <i>really</i>") == "Your Pro plan, really"
    assert unmarked("<td>Plan</td><td>Pro</td>") == " Plan  Pro "
    assert unmarked("a < b and c > d, no tags") == "a < b and c > d, no tags"


def test_a_customer_message_in_html_names_its_writer() -> None:
    """A colleague of the customer writes in and signs the message: greeting them is right."""
    reply = "Hi Deniz,\n\nThe seats are added."
    assert found(reply, customer_message="<p>Can you add two seats?</p><p>Cheers,<br>Deniz</p>") == {}
    assert "name_mismatch" in found(reply, customer_message="<p>Can you add two seats?</p>")


@pytest.mark.parametrize(
    ("text", "kind", "what"),
    [
        ("Hi **Oskar**,\n\nYour export is ready.", "name_mismatch", "Oskar"),
        ("**Hi Oskar,**\n\nYour export is ready.", "name_mismatch", "Oskar"),
        ("Hi Priya,\n\nYour **Pro** plan renews on 3 May.", "plan_mismatch", "Pro"),
        ("Hi Priya,\n\nAs a *Pro* customer you get SSO.", "plan_mismatch", "Pro"),
    ],
)
def test_markdown_emphasis_is_read_as_its_text(text: str, kind: str, what: str) -> None:
    evidence = found(text)[kind]
    assert evidence["sentence"][1] == what


@pytest.mark.parametrize(
    "text",
    [
        "Hi **Priya**,\n\nYour **Basic** plan renews on 3 May.",
        "Hi Priya,\n\nUpload *.csv or *.tsv files, or call `export(**options)`.",
        "Hi Priya,\n\n* Seats: 4\n* Storage: 10 GB",
        "Hi Priya,\n\n2 * 3 * 4 = 24 rows were merged.",
    ],
)
def test_asterisks_that_are_no_emphasis_change_nothing(text: str) -> None:
    assert found(text) == {}


def test_merge_tags_with_asterisks_or_underscores_stay_leaks() -> None:
    assert unmarked("Hi *|FNAME|*, hi __NAME__") == "Hi *|FNAME|*, hi __NAME__"
    assert found("Hi *|FNAME|*, your trial ends soon.")["placeholder_leak"]["placeholder"] == "*|FNAME|*"
