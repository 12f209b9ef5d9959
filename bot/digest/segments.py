"""Where the AI fails: the week's defect rate per segment (intent, template, channel, language, article).

A segment is every reply of the week with one value of a reply-record field; a reply citing two
help-centre articles is in both articles' segments, one citing none is in the `(none)` segment.
Each segment's rate is a domain estimate from the week's stratified sample
(bot.digest.estimate.domain_estimate): the same cells and weights as the weekly rate, so the
segments of one dimension add up to the weekly estimate. A segment with fewer than SMALL_N reviewed
items is marked: its interval is wide, and a single defect can put it on top.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.core.models import FrameCell, Reply, SampleItem
from bot.digest.estimate import Estimate, domain_estimate

R, SI, FC = (m.__table__ for m in (Reply, SampleItem, FrameCell))
DIMENSIONS = ("intent", "template", "channel", "language", "article")
COLUMN = {"intent": "intent", "template": "template_id", "channel": "channel", "language": "language"}
NONE = "(none)"
SMALL_N = 30  # reviewed items: below this a segment is marked "small n"
DEFECT = "defect"


@dataclass(frozen=True)
class Segment:
    dimension: str  # one of DIMENSIONS
    value: str
    estimate: Estimate  # estimate.total: the segment's estimated defective replies this week
    reviewed: int
    defective: int

    @property
    def small(self) -> bool:
        return self.reviewed < SMALL_N


@dataclass(frozen=True)
class Item:
    """A reviewed sample item of the week: its cell, whether it is defective, its segment values."""

    cell_id: int
    defective: bool
    values: dict[str, tuple[str, ...]]  # dimension -> its values (several articles, or one value)


def article_ids(kb_articles: object) -> tuple[str, ...]:
    """The ids (or, without one, the URLs) of the articles a reply cites, in order, once each."""
    found: list[str] = []
    for article in kb_articles if isinstance(kb_articles, list) else ():
        if isinstance(article, dict):
            key = article.get("id") or article.get("url")
            if key and str(key) not in found:
                found.append(str(key))
    return tuple(found)


def item_values(row: dict[str, object]) -> dict[str, tuple[str, ...]]:
    values = {dim: (str(row[col]) if row[col] not in (None, "") else NONE,) for dim, col in COLUMN.items()}
    values["article"] = article_ids(row["kb_articles"]) or (NONE,)
    return values


def estimate_segments(
    cells: dict[int, tuple[int, str]], items: Iterable[Item], dimensions: Sequence[str] = DIMENSIONS
) -> list[Segment]:
    """Every segment of `dimensions` seen among the reviewed items, worst estimated rate first.

    `cells`: cell id -> (population, stratum) for the week's cells; n_h is counted from `items`.
    """
    items = list(items)
    reviewed: dict[int, int] = defaultdict(int)
    for item in items:
        reviewed[item.cell_id] += 1
    frame = {cid: (cells[cid][0], reviewed[cid], cells[cid][1]) for cid in reviewed if cid in cells}
    hits: dict[tuple[str, str], dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for item in items:
        if item.cell_id not in frame:
            continue
        for dimension in dimensions:
            for value in item.values[dimension]:
                counts = hits[dimension, value][item.cell_id]
                counts[0] += 1
                counts[1] += item.defective
    segments = []
    for (dimension, value), per_cell in hits.items():
        found = domain_estimate(frame, {cid: (m, d) for cid, (m, d) in per_cell.items()})
        n = sum(m for m, _ in per_cell.values())
        bad = sum(d for _, d in per_cell.values())
        segments.append(Segment(dimension, value, found, n, bad))
    return rank(segments)


def rank(segments: Iterable[Segment]) -> list[Segment]:
    """Worst first: segments with enough reviews by estimated rate, then the small ones likewise."""
    return sorted(
        segments,
        key=lambda s: (s.small, -(s.estimate.rate or 0.0), -s.defective, s.dimension, s.value),
    )


def worst(segments: Iterable[Segment], limit: int = 5, reviewed: int | None = None) -> list[Segment]:
    """The segments to look at first: those where reviewers found a defect, worst first.

    Left out: the `(none)` segments (a field the records do not fill says nothing about where), and
    with `reviewed` (the week's reviewed items) a segment holding all of them, whose rate is the week's.
    """
    return [
        s
        for s in rank(segments)
        if s.defective > 0 and s.value != NONE and (reviewed is None or s.reviewed < reviewed)
    ][:limit]


async def week_segments(
    session: AsyncSession | AsyncConnection, week: str, dimensions: Sequence[str] = DIMENSIONS
) -> list[Segment]:
    """The week's segments (two reads: the week's cells, and its reviewed items with their fields)."""
    unknown = set(dimensions) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown segment dimensions {sorted(unknown)}")
    cells = {
        int(cid): (int(population), stratum)
        for cid, population, stratum in (
            await session.execute(sa.select(FC.c.id, FC.c.population, FC.c.stratum).where(FC.c.week == week))
        ).all()
    }
    fields = [R.c[col] for col in COLUMN.values()]
    stmt = (
        sa.select(SI.c.cell_id, SI.c.outcome, *fields, R.c.kb_articles)
        .select_from(FC)
        .join(SI, SI.c.cell_id == FC.c.id)
        .join(R, R.c.id == SI.c.reply_id)
        .where(FC.c.week == week, SI.c.outcome.is_not(None))
    )
    items = [
        Item(int(row["cell_id"]), row["outcome"] == DEFECT, item_values(dict(row)))
        for row in (await session.execute(stmt)).mappings()
    ]
    return estimate_segments(cells, items, dimensions)
