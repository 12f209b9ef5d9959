"""Evidence a reviewer can judge at a glance: the sentence a check matched in, the match marked."""

from __future__ import annotations

SIDE = 90  # characters of the sentence kept on each side of the match
MATCH_MAX = 120
REACH = 4 * SIDE  # how far a sentence end is looked for
_STOPS = (". ", "! ", "? ", ".\t", "!\t", "?\t", "\n")
_ABBREVIATIONS = ("Mr", "Ms", "Dr", "Mx", "St", "Mrs", "Prof", "e.g", "i.e", "etc")


def _after_stop(text: str, low: int, start: int) -> int:
    """Where the sentence holding text[start] begins (not after "Dr." or "e.g.")."""
    while True:
        at = max(text.rfind(stop, low, start) for stop in _STOPS)
        if at < 0:
            return low
        if text[at] == "." and text[max(low, at - 4) : at].endswith(_ABBREVIATIONS):
            start = at
            continue
        return at + (1 if text[at] == "\n" else 2)


def _before_stop(text: str, end: int, high: int) -> int:
    """Where the sentence holding text[end - 1] ends (its stop included)."""
    found = [at for at in (text.find(stop, end, high) for stop in _STOPS) if at >= 0]
    return min(found) + 1 if found else high


def sentence(text: str, start: int, end: int) -> list[str]:
    """[before, match, after]: the sentence around text[start:end], whitespace collapsed, each
    side cut to SIDE characters with "…" (json-friendly: stored in a finding's evidence)."""
    first = _after_stop(text, max(0, start - REACH), start)
    stop = _before_stop(text, end, min(len(text), end + REACH))
    head, tail = text[first:start], text[end:stop]
    before = " ".join(head.split())
    if before and head[-1:].isspace():
        before += " "
    match = " ".join(text[start:end].split())
    after = " ".join(tail.split())
    if after and tail[:1].isspace():
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
    offset = len(text) - len(text.lstrip())
    end = _before_stop(text, offset, min(len(text), offset + MATCH_MAX))
    return sentence(text, offset, end)


def marked(parts: list[str] | None, left: str = "«", right: str = "»") -> str:
    """The sentence as one line with the match between `left` and `right` (empty without one)."""
    if not parts or len(parts) != 3:
        return ""
    before, match, after = (str(p) for p in parts)
    return f"{before}{left}{match}{right}{after}"
