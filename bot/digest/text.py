"""How the digest writes numbers: percentages, counts with their noun, durations."""

from __future__ import annotations

import datetime as dt


def pct(rate: float | None) -> str:
    """3.2%, or 0.42% for small rates; an en dash when there is nothing to show."""
    if rate is None:
        return "–"
    value = rate * 100
    return f"{value:.2f}%" if 0 < value < 1 else f"{value:.1f}%"


def number(value: float) -> str:
    return f"{round(value):,}"


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def duration(delta: dt.timedelta | float) -> str:
    """ "3 d 5 h", "2 h 10 min", "7 min"."""
    seconds = round(delta.total_seconds() if isinstance(delta, dt.timedelta) else delta)
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"
