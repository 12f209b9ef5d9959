"""check_blocks / check_view flag each Block Kit limit from LIMITS.md and pass real views."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SPECS
from tests.fakes.blockkit import all_text, check_blocks, check_view, pings


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def button(text: str = "Go", **extra: object) -> dict:
    return {"type": "button", "text": plain(text), "action_id": "a", **extra}


def actions(*elements: dict) -> dict:
    return {"type": "actions", "elements": list(elements)}


def select(options: list, **extra: object) -> dict:
    return {"type": "static_select", "action_id": "s", "options": options, **extra}


def option(text: str = "One", value: str = "1") -> dict:
    return {"text": plain(text), "value": value}


def text_input(**extra: object) -> dict:
    element = {"type": "plain_text_input", "action_id": "t", **extra}
    return {"type": "input", "label": plain("What"), "element": element}


def image(**extra: object) -> dict:
    return {"type": "image", "image_url": "https://x.test/a.png", "alt_text": "a", **extra}


BROKEN_BLOCKS = [
    ("message", [{"type": "divider"}] * 51, "/blocks"),
    ("modal", [{"type": "divider"}] * 101, "/blocks"),
    ("message", [{"type": "section", "text": mrkdwn("x" * 3001)}], "/blocks/0/text/text"),
    ("message", [{"type": "section", "text": mrkdwn("")}], "/blocks/0/text/text"),
    ("message", [{"type": "section", "fields": [mrkdwn("f")] * 11}], "/blocks/0/fields"),
    ("message", [{"type": "section", "fields": [mrkdwn("f" * 2001)]}], "/blocks/0/fields/0/text"),
    ("message", [{"type": "section"}], "/blocks/0"),
    ("message", [{"type": "header", "text": plain("h" * 151)}], "/blocks/0/text/text"),
    ("message", [{"type": "header", "text": mrkdwn("h")}], "/blocks/0/text/type"),
    ("message", [{"type": "context", "elements": [mrkdwn("c")] * 11}], "/blocks/0/elements"),
    ("message", [actions(*[button()] * 26)], "/blocks/0/elements"),
    ("message", [actions(button(), button())], "/blocks/0/elements/1/action_id"),
    ("message", [actions(button("b" * 76))], "/blocks/0/elements/0/text/text"),
    ("message", [actions(button(value="v" * 2001))], "/blocks/0/elements/0/value"),
    ("message", [actions(button(url="u" * 3001))], "/blocks/0/elements/0/url"),
    ("message", [actions(button(action_id="a" * 256))], "/blocks/0/elements/0/action_id"),
    ("message", [{"type": "divider", "block_id": "b" * 256}], "/blocks/0/block_id"),
    ("message", [{"type": "divider", "block_id": "b"}] * 2, "/blocks/1/block_id"),
    ("message", [actions(select([option("o" * 76)]))], "/options/0/text/text"),
    ("message", [actions(select([option(value="v" * 151)]))], "/options/0/value"),
    ("message", [actions(select([option()] * 101))], "/blocks/0/elements/0/options"),
    ("modal", [{**text_input(), "label": plain("l" * 2001)}], "/blocks/0/label/text"),
    ("modal", [text_input(placeholder=plain("p" * 151))], "/element/placeholder/text"),
    ("modal", [text_input(min_length=3001)], "/blocks/0/element/min_length"),
    ("modal", [text_input(max_length=0)], "/blocks/0/element/max_length"),
    ("modal", [text_input(min_length=10, max_length=5)], "/blocks/0/element/min_length"),
    ("message", [{"type": "markdown", "text": "m" * 6001}] * 2, "/blocks"),
    ("message", [image(image_url="u" * 3001)], "/blocks/0/image_url"),
    ("message", [image(alt_text="a" * 2001)], "/blocks/0/alt_text"),
    ("message", [{"block_id": "x"}], "/blocks/0/type"),
    ("message", [{"type": "carousel"}], "/blocks/0/type"),
    ("message", [actions({"type": "slider", "action_id": "s"})], "/blocks/0/elements/0/type"),
]


@pytest.mark.parametrize(("surface", "blocks", "pointer"), BROKEN_BLOCKS)
def test_each_broken_limit_is_reported_with_its_place(surface: str, blocks: list, pointer: str) -> None:
    problems = check_blocks(blocks, surface)
    assert any(p.startswith("[ERROR]") and f"{pointer}]" in p for p in problems), problems


def test_blocks_exactly_at_the_limits_pass() -> None:
    blocks = [
        {"type": "section", "text": mrkdwn("x" * 3000), "fields": [mrkdwn("f" * 2000)] * 10},
        {"type": "header", "text": plain("h" * 150)},
        actions(*[button("b" * 75, action_id=f"a{i}", value="v" * 2000) for i in range(25)]),
        actions(select([option("o" * 75, "v" * 150)] * 100)),
        {"type": "markdown", "text": "m" * 12000},
    ] + [{"type": "divider"}] * 45
    assert check_blocks(blocks, "message") == []


def modal(**extra: object) -> dict:
    view = {"type": "modal", "title": plain("Defect"), "blocks": [text_input()]}
    return {**view, "submit": plain("Save"), **extra}


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (modal(title=plain("t" * 25)), "/view/title/text"),
        (modal(title=mrkdwn("t")), "/view/title/type"),
        (modal(submit=plain("s" * 25)), "/view/submit/text"),
        (modal(close=plain("c" * 25)), "/view/close/text"),
        ({k: v for k, v in modal().items() if k != "submit"}, "/view/submit"),
        (modal(private_metadata="m" * 3001), "/view/private_metadata"),
        (modal(callback_id="c" * 256), "/view/callback_id"),
        (modal(blocks=[{"type": "divider"}] * 101), "/view/blocks"),
        ({"type": "home", "blocks": [{"type": "divider"}] * 101}, "/view/blocks"),
        ({"type": "popup", "blocks": []}, "/view/type"),
    ],
)
def test_each_broken_view_limit_is_reported(view: dict, pointer: str) -> None:
    problems = check_view(view)
    assert any(f"{pointer}]" in p for p in problems), problems


def test_the_sdk_sample_views_pass() -> None:
    samples = sorted((SPECS / "slack" / "payloads" / "python-slack-sdk-views").glob("*.json"))
    assert len(samples) >= 10
    for path in samples:
        assert check_view(json.loads(path.read_text())) == [], path.name
    assert check_view(modal(private_metadata="m" * 3000, title=plain("t" * 24))) == []


def test_all_text_and_pings_find_planted_values_anywhere() -> None:
    view = modal(blocks=[{"type": "section", "text": mrkdwn("hi <!here> and <@U0ABC|ann>")}])
    assert "PLANTED" in all_text({"a": [{"b": "x PLANTED y"}], "n": 3})
    assert pings(view) == ["<!here>", "<@U0ABC|ann>"]
    assert pings(mrkdwn("&lt;!channel&gt; is escaped")) == []
