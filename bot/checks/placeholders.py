"""placeholder_leak: unfilled template variables ({{first_name}}, [FIRST_NAME], %PLAN%, ${name})."""

from __future__ import annotations

import re

# Each alternative is a template-variable syntax. JSON never matches: its keys are quoted, and
# "{" followed by a quote is not an identifier. Markdown links are excluded by "not followed by (".
_IDENT = r"[A-Za-z_][\w.\-]{0,60}"
PLACEHOLDER = re.compile(
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
    return in_prose(text, list(PLACEHOLDER.finditer(text)), 0)


def in_prose(text: str, matches: list[re.Match[str]], offset: int) -> list[str]:
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
