"""Sample frames: every reply is in exactly one frame, whenever it arrives.

A draw's *frame* is every reply created before its cutoff (the local midnight that starts the
draw's day) that is in no frame yet: what was created since the previous frame's cutoff, plus
what arrived late (created earlier, ingested after the frame covering its time was drawn). Its
members get `replies.frame_id`, set once, so no reply is ever in two frames and a back-fill of a
missed day draws only what no frame holds. `sample --date D` draws the frame the scheduled run on
D would draw now: every reply created before D's local midnight that no frame holds yet.

Finding the unframed replies without reading all history: the last frame drawn (by draw order)
saw every committed reply up to `high_reply_id` and took each one created before its cutoff, so an
unframed reply has a larger id (arrived since) or was created at or after that cutoff. The draw
holds the replies' write lock, so no import commits in between: on SQLite a write transaction
(BEGIN IMMEDIATE), on PostgreSQL `LOCK TABLE … SHARE ROW EXCLUSIVE`, which also waits for imports
in flight, whose ids may be lower than ids already committed.

The frame is split into cells, one per (stratum, ISO week of created_at in the team time zone):
the digest counts each reply in the week it was created, and a frame spanning two weeks (Monday's
covers Friday to Sunday, late arrivals go back further) weighs its items within each week's cell.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import weeks
from bot.core.models import FrameCell, Reply, SampleBatch, SampleItem

FLAGGED, UNFLAGGED = "flagged", "unflagged"
R = Reply.__table__
_COLUMNS = (R.c.id, R.c.flagged, R.c.created_at)


@dataclass(frozen=True)
class Frame:
    """The replies a draw covers: all unframed replies created before `cutoff`."""

    window_start: dt.datetime  # where the previous frames' cutoffs reached (members before it arrived late)
    cutoff: dt.datetime
    flagged: list[int]
    unflagged: list[int]
    weeks: dict[int, str]  # reply id -> the week it was created in
    late: int  # members created before window_start
    high_reply_id: int  # the largest reply id when the frame was gathered
    after: tuple[int, dt.datetime] | None  # the previous frame's (high_reply_id, cutoff), if any
    verify: dict[str, list[int]] = field(default_factory=dict)  # verification strata (bot.sample.verify)

    @property
    def population(self) -> int:
        return len(self.flagged) + len(self.unflagged) + sum(len(ids) for ids in self.verify.values())

    def cells(self, drawn: Iterable[tuple[int, str]]) -> dict[tuple[str, str], tuple[int, int]]:
        """(week, stratum) -> (population, drawn), for the drawn (reply id, stratum) pairs."""
        population = Counter((self.weeks[rid], FLAGGED) for rid in self.flagged)
        population.update((self.weeks[rid], UNFLAGGED) for rid in self.unflagged)
        for stratum, ids in self.verify.items():
            population.update((self.weeks[rid], stratum) for rid in ids)
        picked = Counter((self.weeks[rid], stratum) for rid, stratum in drawn)
        return {key: (count, picked[key]) for key, count in sorted(population.items())}


async def lock_replies(session: AsyncSession) -> None:
    """Hold off imports until this transaction ends (and wait for those in flight).

    On SQLite the write transaction already holds the database's write lock (bot.core.db.writing).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.text("LOCK TABLE replies IN SHARE ROW EXCLUSIVE MODE"))


async def last_frame(session: AsyncSession) -> tuple[int, dt.datetime] | None:
    """(high_reply_id, cutoff) of the frame drawn last, None before the first."""
    row = (
        await session.execute(
            sa.select(SampleBatch.high_reply_id, SampleBatch.window_end)
            .where(SampleBatch.high_reply_id.is_not(None))  # type: ignore[union-attr]
            .order_by(SampleBatch.id.desc())  # type: ignore[union-attr]
            .limit(1)
        )
    ).first()
    return (int(row[0]), row[1]) if row is not None else None


def unframed(cutoff: dt.datetime, after: tuple[int, dt.datetime] | None) -> list[sa.ColumnElement[bool]]:
    """Conditions selecting the frame's members, one per part (each served by an index)."""
    free = R.c.frame_id.is_(None)
    if after is None:
        return [sa.and_(free, R.c.created_at < cutoff)]
    high, previous_cutoff = after
    # arrived since the last frame (the primary key; coalesce keeps SQLite off the created_at index,
    # which would make it read all history before the cutoff)
    arrived = sa.and_(free, R.c.id > high, sa.func.coalesce(R.c.created_at, R.c.created_at) < cutoff)
    parts = [arrived]
    if previous_cutoff < cutoff:  # created since the last frame's cutoff, seen by it (created_at index)
        parts.append(
            sa.and_(free, R.c.id <= high, R.c.created_at >= previous_cutoff, R.c.created_at < cutoff)
        )
    return parts


async def gather_frame(
    session: AsyncSession, cutoff: dt.datetime, default_start: dt.datetime, tz: ZoneInfo
) -> Frame:
    """The frame a draw with this cutoff takes now (nothing is stored)."""
    after = await last_frame(session)
    members: list[tuple[int, bool, dt.datetime]] = []
    for condition in unframed(cutoff, after):
        members += (await session.execute(sa.select(*_COLUMNS).where(condition))).all()  # type: ignore[arg-type]
    members.sort()
    reach = await session.scalar(sa.select(sa.func.max(SampleBatch.window_end)))
    window_start = min(reach, cutoff) if reach is not None else min(default_start, cutoff)
    high = await session.scalar(sa.select(sa.func.max(R.c.id)))
    labels = weeks.labels_of([created for _, _, created in members], tz)
    return Frame(
        window_start=window_start,
        cutoff=cutoff,
        flagged=[rid for rid, flagged, _ in members if flagged],
        unflagged=[rid for rid, flagged, _ in members if not flagged],
        weeks={rid: label for (rid, _, _), label in zip(members, labels, strict=True)},
        late=sum(created < window_start for _, _, created in members),
        high_reply_id=int(high or 0),
        after=after,
    )


async def assign(session: AsyncSession, frame: Frame, batch_id: int) -> None:
    """Put the frame's members in the batch's frame (inside the draw's locked transaction)."""
    updated = 0
    for condition in unframed(frame.cutoff, frame.after):
        result = await session.execute(sa.update(R).where(condition).values(frame_id=batch_id))
        updated += result.rowcount  # type: ignore[attr-defined]
    if updated != frame.population:  # the lock makes this impossible; never store a wrong frame
        raise RuntimeError(
            f"frame of batch {batch_id}: {updated} replies assigned, {frame.population} drawn from"
        )


async def store_cells(
    session: AsyncSession, frame: Frame, batch_id: int, drawn: Iterable[tuple[int, str]]
) -> dict[tuple[str, str], int]:
    """The frame's cells as rows; (week, stratum) -> cell id."""
    cells = {
        key: FrameCell(batch_id=batch_id, week=key[0], stratum=key[1], population=population, drawn=picked)
        for key, (population, picked) in frame.cells(drawn).items()
    }
    session.add_all(cells.values())
    await session.flush()
    return {key: cell.id for key, cell in cells.items()}  # type: ignore[misc]


async def adopt_legacy(session: AsyncSession, tz: ZoneInfo) -> int:
    """Give batches drawn before frames existed their cells and frame, as the digest counted them.

    Each such batch becomes one cell per stratum in the week its window starts, with its stored
    counts, and takes the unframed replies of its window. Their high_reply_id stays NULL, so the
    first frame drawn after them takes every reply they left out (created before the first of
    them, in no window, or arrived after their draw): no reply stays outside every frame. Returns
    how many batches were adopted.
    """
    legacy = list(
        (
            await session.execute(
                sa.select(SampleBatch)
                .where(
                    SampleBatch.high_reply_id.is_(None),  # type: ignore[union-attr]
                    ~sa.exists().where(FrameCell.batch_id == SampleBatch.id),
                )
                .order_by(SampleBatch.id)  # type: ignore[arg-type]
            )
        ).scalars()
    )
    if not legacy:
        return 0
    for batch in legacy:
        week = weeks.week_of(batch.window_start, tz)
        for stratum in (FLAGGED, UNFLAGGED):
            cell = FrameCell(
                batch_id=batch.id,  # type: ignore[arg-type]
                week=week,
                stratum=stratum,
                population=getattr(batch, f"{stratum}_population"),
                drawn=getattr(batch, f"{stratum}_drawn"),
                reviewed=getattr(batch, f"{stratum}_reviewed"),
                defective=getattr(batch, f"{stratum}_defective"),
            )
            session.add(cell)
            await session.flush()
            await session.execute(
                sa.update(SampleItem)
                .where(SampleItem.batch_id == batch.id, SampleItem.stratum == stratum)  # type: ignore[arg-type]
                .values(cell_id=cell.id)
            )
        window = (R.c.created_at >= batch.window_start, R.c.created_at < batch.window_end)
        await session.execute(sa.update(R).where(R.c.frame_id.is_(None), *window).values(frame_id=batch.id))
    await session.flush()
    return len(legacy)
