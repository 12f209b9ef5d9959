"""The verification strata: replies of a fixed group's segment, oversampled while its fix is verified.

While a fix's window is open (bot.defects.verification), every reply of the frame that belongs to the
group's segment (its template, cited article or intent) and was created in the window leaves the
flagged/unflagged strata for a stratum of its own, `verify:<group id>`, which gets `[verify]
sample_size` draws. Which stratum a reply is in depends only on what is stored when the frame is
drawn, never on the draw, and each stratum is a simple random sample with a fixed size, so every
reply's inclusion probability is still exactly n_h / N_h and the digest's weights stay unbiased. A
reply in the segments of two fixes goes to the older window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import FixVerification, Reply

VERIFYING = "verifying"
PREFIX = "verify:"
SEGMENT_KINDS = ("template", "article", "intent")
R = Reply.__table__


def stratum_of(group_id: int) -> str:
    return f"{PREFIX}{group_id}"


def is_verification(stratum: str) -> bool:
    return stratum.startswith(PREFIX)


def split_segment(segment: str | None) -> tuple[str, str] | None:
    """("template", "refund_v3") from "template:refund_v3"; None for no segment."""
    if not segment:
        return None
    kind, _, value = segment.partition(":")
    return (kind, value) if kind in SEGMENT_KINDS and value else None


def cited(kb_articles: Any) -> list[str]:
    """The ids of the help-centre articles a reply cites (its record's `kb_articles`)."""
    if not isinstance(kb_articles, list):
        return []
    return [str(a["id"]) for a in kb_articles if isinstance(a, dict) and a.get("id")]


def in_segment(segment: str | None, *, template_id: str | None, intent: str | None, kb_articles: Any) -> bool:
    """Whether a reply with these fields belongs to `segment`."""
    parts = split_segment(segment)
    if parts is None:
        return False
    kind, value = parts
    if kind == "template":
        return template_id == value
    if kind == "intent":
        return intent == value
    return value in cited(kb_articles)


@dataclass(frozen=True)
class Window:
    """An open verification window, as the sampler needs it."""

    group_id: int
    segment: str
    started_at: dt.datetime
    ends_at: dt.datetime

    def holds(
        self, template_id: str | None, intent: str | None, kb_articles: Any, created: dt.datetime
    ) -> bool:
        in_time = self.started_at <= created < self.ends_at
        return in_time and in_segment(
            self.segment, template_id=template_id, intent=intent, kb_articles=kb_articles
        )


async def open_windows(session: AsyncSession) -> list[Window]:
    """The windows being verified that have a segment, oldest first."""
    stmt = (
        sa.select(FixVerification)
        .where(FixVerification.status == VERIFYING, FixVerification.segment.is_not(None))
        .order_by(FixVerification.started_at, FixVerification.id)
    )
    rows = (await session.execute(stmt)).scalars()
    return [Window(v.group_id, v.segment or "", v.started_at, v.ends_at) for v in rows]


async def split_frame(
    session: AsyncSession,
    windows: Sequence[Window],
    members: Sequence[sa.ColumnElement[bool]],
    flagged: Sequence[int],
    unflagged: Sequence[int],
) -> tuple[list[int], list[int], dict[str, list[int]]]:
    """(flagged, unflagged, verification strata): the frame's replies (`members`: the conditions that
    select them) of an open window's segment, created in it, moved to that window's stratum."""
    if not windows:
        return list(flagged), list(unflagged), {}
    first = min(w.started_at for w in windows)
    columns = (R.c.id, R.c.template_id, R.c.intent, R.c.kb_articles, R.c.created_at)
    strata: dict[str, list[int]] = {}
    moved: set[int] = set()
    for condition in members:
        rows = await session.execute(sa.select(*columns).where(condition, R.c.created_at >= first))
        for rid, template_id, intent, kb_articles, created in rows:
            window = next((w for w in windows if w.holds(template_id, intent, kb_articles, created)), None)
            if window is not None and rid not in moved:
                moved.add(rid)
                strata.setdefault(stratum_of(window.group_id), []).append(rid)
    for ids in strata.values():
        ids.sort()
    return (
        [rid for rid in flagged if rid not in moved],
        [rid for rid in unflagged if rid not in moved],
        dict(sorted(strata.items())),
    )


def verify_sizes(strata: Mapping[str, Sequence[int]], size: int) -> dict[str, int]:
    """Draws per verification stratum: `size` each, never more than it holds."""
    return {name: min(size, len(ids)) for name, ids in strata.items()}
