"""Sample frames: every reply in exactly one frame, whenever it arrives (SQLite and PostgreSQL).

The findings of issue #20 this answers: a reply that arrived after its day's sample was drawn was
never eligible again; back-filling a missed day re-covered the day before it (a week's population
of 116 for 80 replies, with wrong inclusion probabilities). Draws and imports run at the same
moment here on separate engines (separate connections), as two processes would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import select

from bot.core.config import AuditConfig, DetectorsConfig
from bot.core.db import Database
from bot.core.models import FrameCell, Reply, SampleBatch, SampleItem
from bot.core.records import ReplyRecord
from bot.digest.rollup import compute_rollup
from bot.ingest.store import Checks, ingest
from bot.sample.draw import ensure_batch

BERLIN = ZoneInfo("Europe/Berlin")
CHECKS = Checks.from_config(DetectorsConfig())


def berlin(day: int, hour: float = 0.0, month: int = 11) -> dt.datetime:
    """A moment of November 2026 (Mon 16, Mon 23, Mon 30) in Berlin, as aware UTC."""
    return (dt.datetime(2026, month, day, tzinfo=BERLIN) + dt.timedelta(hours=hour)).astimezone(dt.UTC)


def record(name: str, created: dt.datetime, *, flagged: bool = False) -> ReplyRecord:
    return ReplyRecord(
        id=name,
        ticket_id=f"T-{name}",
        created_at=created,
        reply=f"Hello, here is {name}.",
        csat=1 if flagged else 5,
    )


async def arrive(db: Database, names: list[str], created: dt.datetime, now: dt.datetime, **kw: bool) -> None:
    """Replies created at `created` (a minute apart), ingested at `now`."""
    batch = [record(n, created + dt.timedelta(minutes=i), **kw) for i, n in enumerate(names)]
    await ingest(db, batch, checks=CHECKS, now=now)


async def frames_of(db: Database) -> dict[str, int | None]:
    async with db.session() as session:
        return dict((await session.execute(select(Reply.external_id, Reply.frame_id))).all())  # type: ignore[arg-type]


async def cells_of(db: Database, batch_id: int | None = None) -> list[FrameCell]:
    async with db.session() as session:
        stmt = select(FrameCell).order_by(FrameCell.batch_id, FrameCell.week, FrameCell.stratum)
        if batch_id is not None:
            stmt = stmt.where(FrameCell.batch_id == batch_id)
        return list((await session.execute(stmt)).scalars())


async def assert_frames_add_up(db: Database) -> None:
    """Each batch's population is its frame's replies, split exactly into its cells."""
    frames = await frames_of(db)
    async with db.session() as session:
        batches = list((await session.execute(select(SampleBatch))).scalars())
    for batch in batches:
        members = sum(1 for frame in frames.values() if frame == batch.id)
        cells = await cells_of(db, batch.id)
        assert batch.population == members == sum(c.population for c in cells), batch.day
        assert batch.flagged_drawn + batch.unflagged_drawn == sum(c.drawn for c in cells)


async def test_a_reply_that_arrives_after_its_days_sample_goes_into_the_next_frame(
    db: Database, config: AuditConfig
) -> None:
    await arrive(db, [f"mon-{i}" for i in range(30)], berlin(23, 9), berlin(23, 18))
    tuesday = await ensure_batch(db, config, dt.date(2026, 11, 24), berlin(24, 9.5))
    assert tuesday.population == 30
    # a webhook retry, polling lag or a night of downtime: Monday's reply arrives after Tuesday's draw
    await arrive(db, ["mon-late"], berlin(23, 22), berlin(24, 11))
    await arrive(db, [f"tue-{i}" for i in range(20)], berlin(24, 9), berlin(24, 18))
    wednesday = await ensure_batch(db, config, dt.date(2026, 11, 25), berlin(25, 9.5))
    assert (wednesday.population, wednesday.late_population) == (21, 1)
    frames = await frames_of(db)
    assert frames["mon-late"] == wednesday.id
    assert {frames[f"mon-{i}"] for i in range(30)} == {tuesday.id}
    # its cell is the week it was created in, like every other reply of that week
    cells = await cells_of(db, wednesday.id)
    assert {(c.week, c.population) for c in cells} == {("2026-W48", 21)}
    assert all(frame is not None for frame in frames.values())
    await assert_frames_add_up(db)


async def test_a_back_fill_draws_only_what_no_frame_holds(db: Database, config: AuditConfig) -> None:
    """Tuesday's run was missed; Wednesday's covered Monday and Tuesday; `sample --date` Tuesday then
    finds only what arrived since, never Monday again, and the week counts 80 replies, not 116."""
    await arrive(db, [f"mon-{i}" for i in range(40)], berlin(23, 8), berlin(23, 20))
    await arrive(db, [f"tue-{i}" for i in range(40)], berlin(24, 8), berlin(24, 20))
    wednesday = await ensure_batch(db, config, dt.date(2026, 11, 25), berlin(25, 9.5))
    assert wednesday.population == 80
    await arrive(db, ["mon-late"], berlin(23, 23), berlin(25, 12))  # arrived since Wednesday's draw
    backfill = await ensure_batch(db, config, dt.date(2026, 11, 24), berlin(25, 14))
    assert (backfill.population, backfill.late_population) == (1, 1)
    assert backfill.window_start == backfill.window_end == berlin(24)  # an empty window: only late replies
    frames = await frames_of(db)
    assert {frames[f"mon-{i}"] for i in range(40)} | {frames[f"tue-{i}"] for i in range(40)} == {wednesday.id}
    assert frames["mon-late"] == backfill.id
    async with db.session() as session:
        items = list((await session.execute(select(SampleItem))).scalars())
        rollup = await compute_rollup(session, week="2026-W48", tz=BERLIN, now=berlin(30, 9))
    assert len({item.reply_id for item in items}) == len(items) == 21  # 20 + the one late reply
    for item in items:  # the stored probabilities are those of the frame each was drawn from
        batch = wednesday if item.batch_id == wednesday.id else backfill
        drawn = getattr(batch, f"{item.stratum}_drawn")
        assert item.inclusion_prob == pytest.approx(drawn / getattr(batch, f"{item.stratum}_population"))
    volume = rollup.volume
    assert volume.ingested == 81
    assert volume.estimated + volume.uncovered + volume.not_sampled == 81
    assert (volume.uncovered, volume.not_sampled) == (81, 0)  # drawn, nobody reviewed yet
    await assert_frames_add_up(db)


async def test_draws_and_imports_at_the_same_moment_leave_every_reply_in_exactly_one_frame(
    database_url: str, db: Database, config: AuditConfig
) -> None:
    """Imports run on their own engines while the day's draw and a back-fill run on theirs: whatever
    the interleaving, every reply ends up in exactly one frame and every frame's counts add up."""
    await arrive(db, [f"old-{i}" for i in range(50)], berlin(23, 8), berlin(23, 20))
    engines = [Database(database_url) for _ in range(6)]
    try:

        async def import_wave(engine: Database, wave: int) -> None:
            for step in range(4):  # Monday's and Tuesday's replies, some arriving late
                names = [f"w{wave}-{step}-{i}" for i in range(15)]
                await arrive(engine, names, berlin(23 + step % 2, 9 + wave), berlin(25, 9 + step / 10))

        await asyncio.gather(
            ensure_batch(engines[0], config, dt.date(2026, 11, 25), berlin(25, 9.5)),
            ensure_batch(engines[1], config, dt.date(2026, 11, 24), berlin(25, 9.5)),
            *(import_wave(engines[2 + w], w) for w in range(4)),
        )
        late = await ensure_batch(engines[0], config, dt.date(2026, 11, 26), berlin(26, 9.5))
    finally:
        for engine in engines:
            await engine.dispose()
    frames = await frames_of(db)
    assert len(frames) == 50 + 4 * 4 * 15
    assert all(frame is not None for frame in frames.values())  # every reply is in a frame
    async with db.session() as session:
        sampled = list((await session.execute(select(SampleItem.reply_id))).scalars())
        batches = list((await session.execute(select(SampleBatch))).scalars())
    assert len(sampled) == len(set(sampled))
    assert sum(b.population for b in batches) == len(frames)  # each counted in exactly one frame
    assert late.population == sum(1 for frame in frames.values() if frame == late.id)
    await assert_frames_add_up(db)


async def test_a_frame_is_split_into_the_weeks_its_replies_were_created_in(
    db: Database, config: AuditConfig
) -> None:
    """Monday's frame holds Friday to Sunday of the week before; a late Sunday reply drawn on
    Tuesday still counts in that week."""
    await arrive(db, [f"fri-{i}" for i in range(10)], berlin(20, 12), berlin(20, 13), flagged=True)
    await arrive(db, [f"sun-{i}" for i in range(10)], berlin(22, 12), berlin(22, 13))
    await arrive(db, [f"mon-{i}" for i in range(10)], berlin(23, 12), berlin(23, 13))
    monday = await ensure_batch(db, config, dt.date(2026, 11, 23), berlin(23, 9.5))
    await arrive(db, ["sun-late"], berlin(22, 23.5), berlin(23, 15))  # Sunday 23:30, arrived Monday
    tuesday = await ensure_batch(db, config, dt.date(2026, 11, 24), berlin(24, 9.5))
    got = [(c.batch_id, c.week, c.stratum, c.population) for c in await cells_of(db)]
    assert got == [
        (monday.id, "2026-W47", "flagged", 10),
        (monday.id, "2026-W47", "unflagged", 10),
        (tuesday.id, "2026-W47", "unflagged", 1),
        (tuesday.id, "2026-W48", "unflagged", 10),
    ]
    await assert_frames_add_up(db)


async def test_batches_drawn_before_frames_existed_are_adopted_once(
    db: Database, config: AuditConfig
) -> None:
    """A batch from before this version (no frame, no cells) gets its cells and its window's replies
    at the next draw; what it covered is not drawn again, and what it left out is drawn then."""
    await arrive(db, ["sun-0"], berlin(22, 8), berlin(22, 9))  # before the old batch's window
    await arrive(db, [f"mon-{i}" for i in range(12)], berlin(23, 8), berlin(23, 20))
    async with db.transaction() as session:
        ids = list((await session.execute(select(Reply.id).order_by(Reply.id))).scalars())[1:]  # Monday's
        legacy = SampleBatch(
            channel="C0AUDIT", day=dt.date(2026, 11, 24), window_start=berlin(23), window_end=berlin(24),
            seed=1, population=12, unflagged_population=12, unflagged_drawn=2, unflagged_reviewed=1,
            created_at=berlin(24, 9),
        )  # fmt: skip
        session.add(legacy)
        await session.flush()
        session.add_all(
            SampleItem(
                batch_id=legacy.id, reply_id=rid, position=n, stratum="unflagged", inclusion_prob=2 / 12
            )
            for n, rid in enumerate(ids[:2], 1)
        )
    await arrive(db, [f"tue-{i}" for i in range(8)], berlin(24, 8), berlin(24, 20))
    wednesday = await ensure_batch(db, config, dt.date(2026, 11, 25), berlin(25, 9.5))
    again = await ensure_batch(db, config, dt.date(2026, 11, 26), berlin(26, 9.5))
    assert (wednesday.population, wednesday.late_population, again.population) == (9, 1, 0)
    frames = await frames_of(db)
    assert {frames[f"mon-{i}"] for i in range(12)} == {legacy.id}
    assert frames["sun-0"] == wednesday.id and None not in frames.values()
    cells = [(c.batch_id, c.week, c.stratum, c.population, c.drawn, c.reviewed) for c in await cells_of(db)]
    assert (legacy.id, "2026-W48", "unflagged", 12, 2, 1) in cells
    assert (legacy.id, "2026-W48", "flagged", 0, 0, 0) in cells
    async with db.session() as session:
        orphans = await session.scalar(
            select(sa.func.count()).select_from(SampleItem).where(SampleItem.cell_id.is_(None))  # type: ignore[union-attr]
        )
    assert orphans == 0
