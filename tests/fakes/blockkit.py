"""Block Kit limit checks (LIMITS.md section 1), as pure functions shared by the fake and tests."""

from __future__ import annotations

import re
from typing import Any

BLOCK_TYPES = {
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "table",
    "video",
}
SELECT_TYPES = {
    "static_select",
    "multi_static_select",
    "external_select",
    "multi_external_select",
    "users_select",
    "multi_users_select",
    "conversations_select",
    "multi_conversations_select",
    "channels_select",
    "multi_channels_select",
}
INPUT_TYPES = SELECT_TYPES | {
    "plain_text_input",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "number_input",
    "email_text_input",
    "url_text_input",
    "rich_text_input",
    "file_input",
    "checkboxes",
    "radio_buttons",
}
ELEMENT_TYPES = INPUT_TYPES | {"button", "overflow", "image", "workflow_button"}
MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
OPTION_LIMITS = {"checkboxes": 10, "radio_buttons": 10, "overflow": 5}
PING = re.compile(r"<(?:!channel|!here|!everyone|!subteam\^[A-Z0-9]+|@[UW][A-Z0-9]+)(?:\|[^>]*)?>")


def check_blocks(blocks: Any, surface: str = "message") -> list[str]:
    """Every limit `blocks` breaks on `surface` ("message", "modal" or "home"), Slack-style."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", surface)
    return checker.errors


def check_view(view: Any) -> list[str]:
    """Every limit a modal or Home-tab view breaks, Slack-style."""
    checker = _Checker()
    checker.view(view)
    return checker.errors


def all_text(obj: Any) -> str:
    """Every string under `obj` (blocks, a view, a message), newline-joined, to search for values."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return "\n".join(all_text(value) for value in obj.values())
    if isinstance(obj, list | tuple):
        return "\n".join(all_text(value) for value in obj)
    return ""


def pings(obj: Any) -> list[str]:
    """Slack control sequences that notify people (`<!channel>`, `<@U…>`, …) anywhere in `obj`."""
    return PING.findall(all_text(obj))


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.markdown_chars = 0

    def fail(self, pointer: str, message: str) -> None:
        self.errors.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def max_len(self, value: Any, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.fail(pointer, f"must be less than {limit + 1} characters")

    def view(self, view: Any) -> None:
        if not isinstance(view, dict):
            self.fail("/view", "must be an object")
            return
        kind = view.get("type")
        if kind not in ("modal", "home"):
            self.fail("/view/type", "must be 'modal' or 'home'")
            return
        if kind == "modal":
            if "title" not in view:
                self.fail("/view/title", "missing required field")
            has_input = any(
                isinstance(block, dict) and block.get("type") == "input" for block in view.get("blocks") or []
            )
            if has_input and "submit" not in view:
                self.fail("/view/submit", "is required when the view contains an input block")
        for key in ("title", "submit", "close"):
            if key in view:
                self.text(view[key], f"/view/{key}", 24, plain=True)
        self.max_len(view.get("private_metadata"), 3000, "/view/private_metadata")
        self.max_len(view.get("callback_id"), 255, "/view/callback_id")
        self.max_len(view.get("external_id"), 255, "/view/external_id")
        self.blocks(view.get("blocks"), "/view/blocks", kind)

    def blocks(self, blocks: Any, pointer: str, surface: str) -> None:
        if not isinstance(blocks, list):
            self.fail(pointer, "must be an array")
            return
        limit = MAX_BLOCKS[surface]
        if len(blocks) > limit:
            self.fail(pointer, f"no more than {limit} items allowed")
        seen: set[str] = set()
        for index, block in enumerate(blocks):
            where = f"{pointer}/{index}"
            if not isinstance(block, dict):
                self.fail(where, "must be an object")
                continue
            block_id = block.get("block_id")
            if block_id is not None:
                self.max_len(block_id, 255, f"{where}/block_id")
                if block_id in seen:
                    self.fail(f"{where}/block_id", "duplicate block_id")
                seen.add(block_id)
            self.block(block, where)
        if self.markdown_chars > 12000:
            self.fail(pointer, "markdown blocks must total less than 12001 characters")

    def block(self, block: dict[str, Any], where: str) -> None:
        kind = block.get("type")
        if kind is None:
            self.fail(f"{where}/type", "missing required field")
            return
        if kind not in BLOCK_TYPES:
            self.fail(f"{where}/type", f"unknown block type '{kind}'")
            return
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.fail(where, "must provide text or fields")
            if "text" in block:
                self.text(block["text"], f"{where}/text", 3000)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or len(fields) > 10:
                    self.fail(f"{where}/fields", "must be an array of no more than 10 items")
                else:
                    for i, field in enumerate(fields):
                        self.text(field, f"{where}/fields/{i}", 2000)
            if "accessory" in block:
                self.element(block["accessory"], f"{where}/accessory")
        elif kind == "header":
            self.text(block.get("text"), f"{where}/text", 150, plain=True)
        elif kind == "context":
            self.elements(block, where, 10, context=True)
        elif kind == "actions":
            self.elements(block, where, 25)
        elif kind == "input":
            self.text(block.get("label"), f"{where}/label", 2000, plain=True)
            if "hint" in block:
                self.text(block["hint"], f"{where}/hint", 2000, plain=True)
            element = block.get("element")
            if not isinstance(element, dict) or element.get("type") not in INPUT_TYPES:
                self.fail(f"{where}/element", "must be an input element")
            else:
                self.element(element, f"{where}/element")
        elif kind == "image":
            self.image(block, where)
            if "title" in block:
                self.text(block["title"], f"{where}/title", 2000, plain=True)
        elif kind == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not text:
                self.fail(f"{where}/text", "must be a non-empty string")
            else:
                self.markdown_chars += len(text)

    def elements(self, block: dict[str, Any], where: str, limit: int, context: bool = False) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{where}/elements", "must be a non-empty array")
            return
        if len(elements) > limit:
            self.fail(f"{where}/elements", f"no more than {limit} items allowed")
        action_ids: set[str] = set()
        for i, element in enumerate(elements):
            pointer = f"{where}/elements/{i}"
            if context and isinstance(element, dict) and element.get("type") != "image":
                self.text(element, pointer, 3000)
            elif context:
                self.image(element, pointer)
            else:
                self.element(element, pointer)
                action_id = element.get("action_id") if isinstance(element, dict) else None
                if action_id is not None and action_id in action_ids:
                    self.fail(f"{pointer}/action_id", "action_id must be unique within the block")
                action_ids.add(action_id)

    def element(self, element: Any, where: str) -> None:
        if not isinstance(element, dict):
            self.fail(where, "must be an object")
            return
        kind = element.get("type")
        if kind not in ELEMENT_TYPES:
            self.fail(f"{where}/type", f"unknown element type '{kind}'")
            return
        self.max_len(element.get("action_id"), 255, f"{where}/action_id")
        if "placeholder" in element:
            self.text(element["placeholder"], f"{where}/placeholder", 150, plain=True)
        if "confirm" in element:
            self.confirm(element["confirm"], f"{where}/confirm")
        if kind == "image":
            self.image(element, where)
        elif kind == "button":
            self.text(element.get("text"), f"{where}/text", 75, plain=True)
            self.max_len(element.get("value"), 2000, f"{where}/value")
            self.max_len(element.get("url"), 3000, f"{where}/url")
            self.max_len(element.get("accessibility_label"), 75, f"{where}/accessibility_label")
        elif kind == "plain_text_input":
            self.range(element, "min_length", 0, 3000, where)
            self.range(element, "max_length", 1, 3000, where)
            low, high = element.get("min_length"), element.get("max_length")
            if isinstance(low, int) and isinstance(high, int) and low > high:
                self.fail(f"{where}/min_length", "must not be greater than max_length")
        self.options(element, where, kind)

    def options(self, element: dict[str, Any], where: str, kind: str) -> None:
        plain = kind in SELECT_TYPES or kind == "overflow"
        limit = OPTION_LIMITS.get(kind, 100)
        options = element.get("options")
        if isinstance(options, list):
            if len(options) > limit:
                self.fail(f"{where}/options", f"no more than {limit} items allowed")
            if kind == "overflow" and not options:
                self.fail(f"{where}/options", "must have at least 1 item")
            for i, option in enumerate(options):
                self.option(option, f"{where}/options/{i}", plain)
        groups = element.get("option_groups")
        if isinstance(groups, list):
            if len(groups) > 100:
                self.fail(f"{where}/option_groups", "no more than 100 items allowed")
            for g, group in enumerate(groups):
                pointer = f"{where}/option_groups/{g}"
                self.text(group.get("label"), f"{pointer}/label", 75, plain=True)
                for i, option in enumerate(group.get("options") or []):
                    self.option(option, f"{pointer}/options/{i}", plain)

    def option(self, option: Any, where: str, plain: bool) -> None:
        if not isinstance(option, dict):
            self.fail(where, "must be an object")
            return
        self.text(option.get("text"), f"{where}/text", 75, plain=plain)
        if "description" in option:
            self.text(option["description"], f"{where}/description", 75, plain=plain)
        value = option.get("value")
        if not isinstance(value, str) or not value:
            self.fail(f"{where}/value", "must be a non-empty string")
        self.max_len(value, 150, f"{where}/value")
        self.max_len(option.get("url"), 3000, f"{where}/url")

    def confirm(self, confirm: Any, where: str) -> None:
        if not isinstance(confirm, dict):
            self.fail(where, "must be an object")
            return
        self.text(confirm.get("title"), f"{where}/title", 100, plain=True)
        self.text(confirm.get("text"), f"{where}/text", 300)
        self.text(confirm.get("confirm"), f"{where}/confirm", 30, plain=True)
        self.text(confirm.get("deny"), f"{where}/deny", 30, plain=True)

    def image(self, image: Any, where: str) -> None:
        if not isinstance(image, dict):
            self.fail(where, "must be an object")
            return
        if "image_url" not in image and "slack_file" not in image:
            self.fail(f"{where}/image_url", "missing required field")
        self.max_len(image.get("image_url"), 3000, f"{where}/image_url")
        alt = image.get("alt_text")
        if not isinstance(alt, str) or not alt:
            self.fail(f"{where}/alt_text", "must be a non-empty string")
        self.max_len(alt, 2000, f"{where}/alt_text")

    def range(self, element: dict[str, Any], key: str, low: int, high: int, where: str) -> None:
        value = element.get(key)
        if value is not None and (not isinstance(value, int) or not low <= value <= high):
            self.fail(f"{where}/{key}", f"must be between {low} and {high}")

    def text(self, obj: Any, where: str, limit: int, plain: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail(where, "must be a text object")
            return
        kind = obj.get("type")
        if plain and kind != "plain_text":
            self.fail(f"{where}/type", "must be plain_text")
        elif kind not in ("plain_text", "mrkdwn"):
            self.fail(f"{where}/type", "must be plain_text or mrkdwn")
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self.fail(f"{where}/text", "must be more than 0 characters")
        self.max_len(text, limit, f"{where}/text")
