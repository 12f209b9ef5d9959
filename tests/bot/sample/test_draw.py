"""Sampling: the window, the stratified draw (incl. a statistical check) and the stored batch."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlmodel import select

from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import FrameCell, Reply, SampleBatch, SampleItem
from bot.sample.draw import (
    FLAGGED,
    UNFLAGGED,
    default_seed,
    default_window,
    draw_sample,
    ensure_batch,
    previous_scheduled_day,
    stratum_sizes,
)

BERLIN = AuditConfig.model_validate({"slack": {"timezone": "Europe/Berlin"}}).slack.tz
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
NOW = dt.datetime(2026, 11, 27, 8, 31, tzinfo=dt.UTC)


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(dt.UTC)


# -- window (pure) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "days", "expected"),
    [
        (dt.date(2026, 11, 24), WEEKDAYS, dt.date(2026, 11, 23)),  # Tue -> Mon
        (dt.date(2026, 11, 23), WEEKDAYS, dt.date(2026, 11, 20)),  # Mon -> Fri
        (dt.date(2026, 11, 21), WEEKDAYS, dt.date(2026, 11, 20)),  # Sat (unscheduled) -> Fri
        (dt.date(2026, 11, 23), ["mon"], dt.date(2026, 11, 16)),  # weekly
        (dt.date(2026, 11, 23), [], dt.date(2026, 11, 22)),  # nothing scheduled: the day before
    ],
)
def test_previous_scheduled_day(day: dt.date, days: list[str], expected: dt.date) -> None:
    assert previous_scheduled_day(day, days) == expected


def test_tuesday_covers_monday_in_local_time(config: AuditConfig) -> None:
    start, end = default_window(dt.date(2026, 11, 24), config)
    assert (start, end) == (berlin(2026, 11, 23), berlin(2026, 11, 24))
    assert start == dt.datetime(2026, 11, 22, 23, tzinfo=dt.UTC)


def test_monday_covers_friday_to_sunday(config: AuditConfig) -> None:
    start, end = default_window(dt.date(2026, 11, 23), config)
    assert (start, end) == (berlin(2026, 11, 20), berlin(2026, 11, 23))


def test_window_across_the_spring_dst_change_is_71_hours(config: AuditConfig) -> None:
    start, end = default_window(dt.date(2026, 3, 30), config)  # clocks went forward on Sun 29 Mar
    assert end - start == dt.timedelta(hours=71)
    assert end == dt.datetime(2026, 3, 29, 22, tzinfo=dt.UTC)


# -- the draw (pure) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_flagged", "n_unflagged", "size", "share", "expected"),
    [
        (10, 100, 20, 0.3, (6, 14)),
        (2, 100, 20, 0.3, (2, 18)),  # few flagged: the rest is unflagged
        (10, 5, 20, 0.3, (6, 5)),  # few unflagged: never more than risk_share from flagged
        (50, 500, 100, 0.29, (29, 71)),  # 0.29 * 100 is 28.999… in floating point
        (0, 0, 20, 0.3, (0, 0)),
        (10, 10, 20, 0.0, (0, 10)),
        (30, 10, 20, 1.0, (20, 0)),
    ],
)
def test_stratum_sizes(n_flagged: int, n_unflagged: int, size: int, share: float, expected: tuple) -> None:
    assert stratum_sizes(n_flagged, n_unflagged, size, share) == expected


def _draw(seed: int, flagged: range = range(1, 41), unflagged: range = range(100, 500)):  # type: ignore[no-untyped-def]
    return draw_sample(list(flagged), list(unflagged), size=20, risk_share=0.3, double_share=0.1, seed=seed)


def test_draw_sizes_probabilities_and_double_reviews() -> None:
    draw = _draw(7)
    strata = Counter(p.stratum for p in draw.picks)
    assert strata == {FLAGGED: 6, UNFLAGGED: 14}
    assert (draw.flagged_population, draw.unflagged_population, draw.population) == (40, 400, 440)
    assert len({p.reply_id for p in draw.picks}) == 20
    for pick in draw.picks:
        assert pick.inclusion_prob == (6 / 40 if pick.stratum == FLAGGED else 14 / 400)
        assert (pick.reply_id < 100) == (pick.stratum == FLAGGED)
    assert sum(p.double_review for p in draw.picks) == 2


def test_draw_is_reproducible_from_its_seed_and_order_independent() -> None:
    assert _draw(7) == _draw(7)
    assert _draw(7) == draw_sample(
        list(reversed(range(1, 41))),
        list(range(499, 99, -1)),
        size=20,
        risk_share=0.3,
        double_share=0.1,
        seed=7,
    )
    assert {p.reply_id for p in _draw(7).picks} != {p.reply_id for p in _draw(8).picks}


def test_strata_are_interleaved_not_in_two_blocks() -> None:
    orders = {tuple(p.stratum for p in _draw(seed).picks) for seed in range(20)}
    assert len(orders) > 1


def test_default_seed_depends_on_channel_and_day_and_fits_the_column() -> None:
    day = dt.date(2026, 11, 26)
    assert default_seed("C0AUDIT", day) == default_seed("C0AUDIT", day)
    assert default_seed("C0AUDIT", day) != default_seed("C0AUDIT", day + dt.timedelta(days=1))
    assert default_seed("C0AUDIT", day) != default_seed("C0OTHER", day)
    assert 0 <= default_seed("C0AUDIT", day) < 2**31


def test_selection_frequencies_match_the_inclusion_probabilities() -> None:
    """Over 2000 seeded draws, each reply is chosen as often as its stored probability says."""
    flagged, unflagged = list(range(1, 8)), list(range(100, 113))  # 7 flagged, 13 unflagged
    runs = 2000
    chosen: Counter[int] = Counter()
    doubled: Counter[int] = Counter()
    stored: dict[int, float] = {}
    for seed in range(runs):
        draw = draw_sample(flagged, unflagged, size=8, risk_share=0.5, double_share=0.25, seed=seed)
        for pick in draw.picks:
            chosen[pick.reply_id] += 1
            doubled[pick.reply_id] += pick.double_review
            stored.setdefault(pick.reply_id, pick.inclusion_prob)
            assert stored[pick.reply_id] == pick.inclusion_prob
    assert stored[1] == 4 / 7 and stored[100] == 4 / 13
    for reply_id in flagged + unflagged:
        p = stored[reply_id]
        sigma = math.sqrt(p * (1 - p) / runs)
        assert abs(chosen[reply_id] / runs - p) < 4 * sigma, (reply_id, chosen[reply_id], p)
        q = p * 2 / 8  # chosen, then one of the 2 double-review slots among 8 items
        assert abs(doubled[reply_id] / runs - q) < 4 * math.sqrt(q * (1 - q) / runs), reply_id


def test_weighting_by_inclusion_probability_estimates_the_defect_rate_without_bias() -> None:
    """Horvitz-Thompson with the stored probabilities: the mean estimate is the true rate."""
    flagged, unflagged = list(range(1, 31)), list(range(100, 300))
    defective = set(range(1, 13)) | set(range(100, 110))  # 12 of 30 flagged, 10 of 200 unflagged
    truth = len(defective) / 230
    estimates, naive = [], []
    for seed in range(2000):
        draw = draw_sample(flagged, unflagged, size=20, risk_share=0.3, double_share=0.0, seed=seed)
        estimates.append(sum(1 / p.inclusion_prob for p in draw.picks if p.reply_id in defective) / 230)
        naive.append(sum(p.reply_id in defective for p in draw.picks) / 20)
    mean = sum(estimates) / len(estimates)
    spread = math.sqrt(sum((e - mean) ** 2 for e in estimates) / (len(estimates) - 1))
    assert abs(mean - truth) < 4 * spread / math.sqrt(len(estimates))
    # unweighted, the tilt toward flagged replies would overstate the rate (about 0.155 vs 0.096)
    assert sum(naive) / len(naive) > 1.4 * truth


# -- the stored batch (SQLite and PostgreSQL) ------------------------------------------------


async def add_replies(
    db: Database, day: dt.date, count: int, *, flagged_every: int = 4, prefix: str = "R"
) -> None:
    """`count` replies spread over `day` (Berlin), every `flagged_every`-th flagged."""
    start = berlin(day.year, day.month, day.day)
    async with db.transaction() as session:
        for n in range(count):
            session.add(
                Reply(
                    source="test",
                    external_id=f"{prefix}-{day:%m%d}-{n}",
                    ticket_id=f"T-{n}",
                    created_at=start + dt.timedelta(minutes=n * (1440 // max(count, 1))),
                    reply=f"Hello, reply {n}",
                    flagged=n % flagged_every == 0,
                    ingested_at=NOW,
                )
            )


async def test_batch_and_items_are_stored_with_strata_and_probabilities(
    db: Database, config: AuditConfig
) -> None:
    await add_replies(db, dt.date(2026, 11, 26), 100)  # 25 flagged, 75 unflagged
    batch = await ensure_batch(db, config, dt.date(2026, 11, 27), NOW)
    assert (batch.window_start, batch.window_end) == (berlin(2026, 11, 26), berlin(2026, 11, 27))
    assert (batch.population, batch.flagged_population, batch.unflagged_population) == (100, 25, 75)
    assert (batch.flagged_drawn, batch.unflagged_drawn) == (6, 14)
    assert batch.late_population == 0
    assert batch.seed == default_seed("C0AUDIT", dt.date(2026, 11, 27))
    async with db.session() as session:
        items = list((await session.execute(select(SampleItem).order_by(SampleItem.position))).scalars())
        replies = {r.id: r for r in (await session.execute(select(Reply))).scalars()}
        cells = {c.id: c for c in (await session.execute(select(FrameCell))).scalars()}
    assert [i.position for i in items] == list(range(1, 21))
    for item in items:
        reply = replies[item.reply_id]
        assert reply.external_id.startswith("R-1126")
        assert item.stratum == (FLAGGED if reply.flagged else UNFLAGGED)
        assert item.inclusion_prob == pytest.approx(6 / 25 if reply.flagged else 14 / 75)
        assert item.message_ts is None and item.channel is None
        assert (cells[item.cell_id].week, cells[item.cell_id].stratum) == ("2026-W48", item.stratum)
    assert sum(i.double_review for i in items) == 2
    # the frame: every reply of the window is in this batch's frame, in its week's cells
    assert {r.frame_id for r in replies.values()} == {batch.id}
    assert sorted((c.week, c.stratum, c.population, c.drawn) for c in cells.values()) == [
        ("2026-W48", FLAGGED, 25, 6),
        ("2026-W48", UNFLAGGED, 75, 14),
    ]


async def test_the_first_frame_also_takes_older_replies_no_sample_covered(
    db: Database, config: AuditConfig
) -> None:
    await add_replies(db, dt.date(2026, 11, 26), 100)  # 25 flagged, 75 unflagged
    await add_replies(db, dt.date(2026, 11, 18), 10, prefix="old")  # a week earlier: 3 flagged
    batch = await ensure_batch(db, config, dt.date(2026, 11, 27), NOW)
    assert (batch.window_start, batch.window_end) == (berlin(2026, 11, 26), berlin(2026, 11, 27))
    assert (batch.population, batch.late_population) == (110, 10)
    assert (batch.flagged_population, batch.unflagged_population) == (28, 82)
    async with db.session() as session:
        cells = list((await session.execute(select(FrameCell))).scalars())
        framed = set((await session.execute(select(Reply.frame_id))).scalars())
    assert framed == {batch.id}
    assert sorted((c.week, c.stratum, c.population) for c in cells) == [
        ("2026-W47", FLAGGED, 3),
        ("2026-W47", UNFLAGGED, 7),
        ("2026-W48", FLAGGED, 25),
        ("2026-W48", UNFLAGGED, 75),
    ]
    assert sum(c.drawn for c in cells) == 20


async def test_a_second_call_returns_the_same_batch(db: Database, config: AuditConfig) -> None:
    await add_replies(db, dt.date(2026, 11, 26), 50)
    first = await ensure_batch(db, config, dt.date(2026, 11, 27), NOW)
    second = await ensure_batch(db, config, dt.date(2026, 11, 27), NOW, seed=123)
    assert second.id == first.id and second.seed == first.seed


async def test_next_window_starts_where_the_previous_batch_ended(db: Database, config: AuditConfig) -> None:
    for day in (18, 19, 20, 21, 22):
        await add_replies(db, dt.date(2026, 11, day), 10)
    wednesday = await ensure_batch(db, config, dt.date(2026, 11, 18), NOW)
    assert wednesday.window_start == berlin(2026, 11, 17)
    # no batches Thu/Fri (the bot was down): Monday covers everything since Wednesday's window
    monday = await ensure_batch(db, config, dt.date(2026, 11, 23), NOW)
    assert (monday.window_start, monday.window_end) == (berlin(2026, 11, 18), berlin(2026, 11, 23))
    assert monday.population == 50


async def test_a_reply_is_never_sampled_twice(db: Database, config: AuditConfig) -> None:
    await add_replies(db, dt.date(2026, 11, 26), 30)
    first = await ensure_batch(db, config, dt.date(2026, 11, 27), NOW)
    assert first.population == 30
    # a second audit channel the same day: every reply is in a frame already, so its frame is empty
    slack = config.slack.model_copy(update={"audit_channel": "C0OTHER"})
    other = await ensure_batch(db, config.model_copy(update={"slack": slack}), dt.date(2026, 11, 27), NOW)
    assert (other.channel, other.population, other.flagged_drawn + other.unflagged_drawn) == ("C0OTHER", 0, 0)
    async with db.session() as session:
        ids = list((await session.execute(select(SampleItem.reply_id))).scalars())
        frames = set((await session.execute(select(Reply.frame_id))).scalars())
    assert len(ids) == 20 and len(set(ids)) == 20
    assert frames == {first.id}


async def test_concurrent_processes_store_exactly_one_batch(
    database_url: str, db: Database, config: AuditConfig
) -> None:
    await add_replies(db, dt.date(2026, 11, 26), 60)
    others = [Database(database_url) for _ in range(3)]
    try:
        batches = await asyncio.gather(*(ensure_batch(o, config, dt.date(2026, 11, 27), NOW) for o in others))
    finally:
        for other in others:
            await other.dispose()
    assert len({b.id for b in batches}) == 1
    async with db.session() as session:
        assert await session.scalar(select(sa.func.count()).select_from(SampleBatch)) == 1
        assert await session.scalar(select(sa.func.count()).select_from(SampleItem)) == 20


async def test_empty_window_stores_an_empty_batch(db: Database, config: AuditConfig) -> None:
    batch = await ensure_batch(db, config, dt.date(2026, 11, 27), NOW)
    assert batch.population == 0 and batch.flagged_drawn == 0
