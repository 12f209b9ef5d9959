"""ISO weeks in the team's time zone: labels like 2026-W48 and their [start, end) in UTC.

The one definition of a week everywhere (digest, sample frames, App Home, `/audit stats`): from
Monday 00:00 to the next Monday 00:00, local time, so a week is 167 or 169 hours across a
daylight-saving change and every moment is in exactly one week.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(label: str) -> tuple[int, int]:
    """(year, week) from "2026-W48"; ValueError for anything else."""
    match = _WEEK.match(label)
    if match is None:
        raise ValueError(f"{label!r} is not an ISO week like 2026-W48")
    year, week = int(match.group(1)), int(match.group(2))
    dt.date.fromisocalendar(year, week, 1)  # raises for week 53 of a 52-week year
    return year, week


def monday(label: str) -> dt.date:
    year, week = parse_week(label)
    return dt.date.fromisocalendar(year, week, 1)


def label_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def bounds(label: str, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """Monday 00:00 to the next Monday 00:00 in `tz`, as aware UTC (DST weeks are 167 or 169 hours)."""
    start = monday(label)
    return _midnight(start, tz), _midnight(start + dt.timedelta(days=7), tz)


def shift(label: str, weeks: int) -> str:
    return label_of(monday(label) + dt.timedelta(weeks=weeks))


def last_complete(now: dt.datetime, tz: ZoneInfo) -> str:
    """The ISO week before the one `now` falls in, in `tz`."""
    return label_of(now.astimezone(tz).date() - dt.timedelta(days=7))


def week_of(moment: dt.datetime, tz: ZoneInfo) -> str:
    return label_of(moment.astimezone(tz).date())


def current(now: dt.datetime, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The [start, end) of the week `now` falls in."""
    return bounds(week_of(now, tz), tz)


def labels_of(moments: Sequence[dt.datetime], tz: ZoneInfo) -> list[str]:
    """`week_of` each moment (aware), by bisecting the week starts they span (a frame's many replies)."""
    if not moments:
        return []
    label, last = week_of(min(moments), tz), max(moments)
    starts: list[dt.datetime] = []
    labels: list[str] = []
    while True:
        start, end = bounds(label, tz)
        starts.append(start)
        labels.append(label)
        if end > last:
            break
        label = shift(label, 1)
    return [labels[bisect.bisect_right(starts, moment) - 1] for moment in moments]


def _midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
