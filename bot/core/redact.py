"""Redaction and escaping: the one module every outbound surface uses for untrusted text.

Customer and AI text may carry emails, phone numbers and card numbers (which must not reach Slack,
a tracker or a helpdesk note) and Slack control sequences (`<!channel>`, `<@U…>`, `<url|label>`)
which must never ping anyone or forge a link.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
# 13-19 digits, optionally grouped by single spaces or dashes; Luhn decides.
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# Phone numbers, in three shapes: international "+" then 8-15 digits in groups (E.164);
# US (415) 555-9204 / 415-555-9204; national with a trunk 0, 020 7946 0958. Digit runs without
# those shapes (order numbers, amounts, years, ranges like 100-2000, IPs, dates) are kept.
PHONE = re.compile(
    r"(?<![\w+])\+\d{1,3}(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}(?![\w-])"
    r"|(?<![\w(.])(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}(?![\w-])"
    r"|(?<![\w(.])\(?0\d{1,4}\)?(?:[ .\-/]\d{2,4}){2,3}(?![\w-])"
)
_DATE = re.compile(r"\d{1,2}([./\- ])\d{1,2}\1\d{2,4}")
_ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")
# Slack has no escape for *bold* _italic_ ~strike~ `code`: a zero-width space after each marker
# keeps untrusted text from formatting itself while it reads the same.
_FORMAT_MARKERS = re.compile(r"([*_~`])")
ZWSP = "\u200b"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    groups = re.split(r"[ -]", match.group())
    # "4111 1111 1111 1111 20" fails Luhn as a whole: retry without trailing groups.
    for end in range(len(groups), 0, -1):
        digits = "".join(groups[:end])
        if len(digits) < 13:
            break
        if len(digits) <= 19 and luhn_ok(digits):
            rest = match.group()[len(digits) + end - 1 :]
            return "[card]" + rest
    return match.group()


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    if _DATE.fullmatch(text):
        return text  # 05.10.2026 has a national number's shape
    return "[phone]" if 8 <= sum(c.isdigit() for c in text) <= 15 else text


def redact(text: str | None) -> str:
    """Emails, card numbers (Luhn-checked) and phone numbers replaced by placeholders."""
    if not text:
        return ""
    if "@" in text:
        text = EMAIL.sub("[email]", text)
    text = CARD.sub(_card, text)  # before phones: a card's digit groups look like a phone's
    return PHONE.sub(_phone, text)


def escape_mrkdwn(text: str | None) -> str:
    """Slack's three control characters, and only those."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralize_formatting(text: str) -> str:
    """Markers that would format untrusted text, made inert."""
    return _FORMAT_MARKERS.sub("\\1" + ZWSP, text)


def safe_mrkdwn(text: str | None) -> str:
    """Untrusted text for a mrkdwn field: redacted, escaped, its formatting markers inert."""
    return neutralize_formatting(escape_mrkdwn(redact(text)))


def safe_plain(text: str | None) -> str:
    """Untrusted text for a plain_text field (no mentions render there): redacted."""
    return redact(text)


def truncate(text: str, limit: int, suffix: str = "…") -> str:
    """At most `limit` characters, ending in a visible `suffix` when cut, never mid-entity."""
    if len(text) <= limit:
        return text
    if limit <= len(suffix):
        return suffix[: max(0, limit)]
    cut = text[: limit - len(suffix)]
    cut = _ENTITY_TAIL.sub("", cut)
    return cut + suffix
