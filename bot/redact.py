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
# Phone numbers: an optional +country code, then groups of digits with separators, 7+ digits in
# all. Bare digit runs (order numbers, amounts) are left to the card check or kept.
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w])"
)
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
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
    digits = re.sub(r"\D", "", match.group())
    return "[card]" if luhn_ok(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    if len(digits) < 7 or len(digits) > 15 or _DATE_LIKE.match(text.strip()):
        return text
    if not (text.startswith("+") or "(" in text or re.search(r"[\s.-]", text)):
        return text
    return "[phone]"


def redact(text: str | None) -> str:
    """Emails, card numbers (Luhn-checked) and phone numbers replaced by placeholders."""
    if not text:
        return ""
    text = EMAIL.sub("[email]", text)
    text = CARD.sub(_card, text)
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
    cut = text[: max(0, limit - len(suffix))]
    cut = _ENTITY_TAIL.sub("", cut)
    return cut + suffix
