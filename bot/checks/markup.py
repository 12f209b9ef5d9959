"""Replies written as HTML (helpdesks send and export many that way) or with Markdown's emphasis (as
language models write) are checked as their readers see them: "<p>Hi Wes,</p>" and "Hi **Wes**,"
greet Wes, "Your <b>Premium</b> plan" and "Your **Premium** plan" name a plan.

Only the tags of HTML's text markup are read (paragraphs, line breaks, emphasis, links, lists,
tables…): "<AMOUNT>" or "<insert date>" are no HTML, and are left for the placeholder check. A
block's tag becomes a line end, a table cell's a space, an inline one nothing ("<b>Premium</b>"
is "Premium"); the evidence of a finding then quotes the text as its reader saw it. Of Markdown,
only emphasis with asterisks is read ("**Pro**", "*Pro*"): not "*|FNAME|*", a Mailchimp merge tag,
nor underscores, which template slots use ("__CUSTOMER_NAME__").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_BLOCK = (
    "p|br|div|li|ul|ol|tr|table|tbody|thead|tfoot|h[1-6]|blockquote|hr|pre|section|header|footer"
    "|body|html|head"
)
_INLINE = "b|i|u|s|em|strong|a|span|font|small|big|sup|sub|code|mark|img|center|label"
_TAG = re.compile(
    rf"</?(?:(?P<block>{_BLOCK})|(?P<cell>td|th)|{_INLINE})(?:\s[^<>]{{0,500}})?\s*/?>", re.IGNORECASE
)
_SPACE_ENTITY = re.compile(r"&nbsp;|&#160;|&#xa0;", re.IGNORECASE)
_EMPHASIS = re.compile(
    r"\*\*(?=[^\s*|])(?P<strong>[^*\n]{1,200}?)(?<=[^\s*|])\*\*"
    r"|(?<![\w*])\*(?=[^\s*|])(?P<em>[^*\n]{1,100}?)(?<=[^\s*|])\*(?![\w*])"
)


class _Unmarked:
    """A record read through, its reply and its customer's message as `unmarked` reads them."""

    __slots__ = ("_record", "customer_message", "reply")

    def __init__(self, record: Any, reply: str, customer_message: str | None) -> None:
        self._record = record
        self.reply = reply
        self.customer_message = customer_message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)


def _plain(m: re.Match[str]) -> str:
    return "\n" if m.group("block") else " " if m.group("cell") else ""


def unmarked(text: str) -> str:
    """`text` as its reader sees it: HTML tags and emphasis read as above, non-breaking spaces as
    spaces."""
    if "<" in text:
        text = _TAG.sub(_plain, text)
    if "&" in text:
        text = _SPACE_ENTITY.sub(" ", text)
    if "*" in text:
        text = _EMPHASIS.sub(lambda m: m.group("strong") or m.group("em"), text)
    return text


def read_as_text(records: Sequence[Any], texts: list[str]) -> Sequence[Any]:
    """`records` with the replies and customers' messages written as HTML read through `unmarked`
    (`texts`, their replies, changed in place to match); the same sequence when none is."""
    changed: list[Any] | None = None
    messages = [r.customer_message for r in records]
    marked = {i for i, text in enumerate(texts) if "<" in text or "&" in text or "*" in text}
    marked.update(i for i, m in enumerate(messages) if m and ("<" in m or "&" in m or "*" in m))
    for i in sorted(marked):
        reply, message = unmarked(texts[i]), messages[i] and unmarked(messages[i])
        if reply != texts[i] or message != messages[i]:
            if changed is None:
                changed = list(records)
            changed[i], texts[i] = _Unmarked(records[i], reply, message), reply
    return records if changed is None else changed
