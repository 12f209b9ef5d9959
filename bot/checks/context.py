"""Evidence a reviewer can judge at a glance: the sentence a check matched in, the match marked."""

from __future__ import annotations

import re

# A sentence ends at . ! ? before a space (not after a title or "e.g.") or at a line end.
_STOP = re.compile(
    r"(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bMx)(?<!\bSt)(?<!\bMrs)(?<!\bProf)(?<!\be\.g)(?<!\bi\.e)[.!?](?=\s)|\n"
)
_LAST_STOP = re.compile(r".*(?:" + _STOP.pattern + ")", re.DOTALL)  # greedy: the last stop before
SIDE = 90  # characters of the sentence kept on each side of the match
MATCH_MAX = 120


def sentence(text: str, start: int, end: int) -> list[str]:
    """[before, match, after]: the sentence around text[start:end], whitespace collapsed, each
    side cut to SIDE characters with "…" (json-friendly: stored in a finding's evidence)."""
    low = max(0, start - 4 * SIDE)
    last_stop = _LAST_STOP.match(text, low, start)
    first = last_stop.end() if last_stop else low
    last = _STOP.search(text, end, end + 4 * SIDE)
    stop = last.end() if last else min(len(text), end + 4 * SIDE)
    before = " ".join(text[first:start].split())
    if text[first:start][-1:].isspace() and before:
        before += " "
    match = " ".join(text[start:end].split())
    after = " ".join(text[end:stop].split())
    if text[end:stop][:1].isspace() and after:
        after = " " + after
    if len(before) > SIDE:
        before = "…" + before[-SIDE:]
    if len(after) > SIDE:
        after = after[:SIDE] + "…"
    if len(match) > MATCH_MAX:
        match = match[:MATCH_MAX] + "…"
    return [before, match, after]


def opening(text: str) -> list[str]:
    """The first sentence of `text`, all of it marked (the duplicate's evidence)."""
    body = text.lstrip()
    offset = len(text) - len(body)
    stop = _STOP.search(body)
    end = stop.end() if stop else len(body)
    return sentence(text, offset, offset + min(end, MATCH_MAX))


def marked(parts: list[str] | None, left: str = "«", right: str = "»") -> str:
    """The sentence as one line with the match between `left` and `right` (empty without one)."""
    if not parts or len(parts) != 3:
        return ""
    before, match, after = (str(p) for p in parts)
    return f"{before}{left}{match}{right}{after}"
