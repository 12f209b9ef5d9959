"""Two verdicts on one calibration item at the same moment, from two engines (as two replicas or two
processes would), on SQLite and PostgreSQL: the item is counted once.

Issue #20 found that on SQLite (`SELECT … FOR UPDATE` is a no-op there) both verdicts settled the
outcome: the batch said 20 reviewed for 10 items, and the rate came out 0.85–0.95 for a true 1.0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.core.db import Database
from bot.core.models import FrameCell, Review, SampleBatch, SampleItem
from bot.digest.rollup import compute_rollup
from bot.review import outcomes
from bot.review import verdicts as reviews
from tests.bot.review.test_stats import give
from tests.bot.seed_reviews import seed_items

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
BERLIN = ZoneInfo("Europe/Berlin")


async def at_once(database_url: str, config, verdicts: list[tuple[int, str, str]]) -> None:  # type: ignore[no-untyped-def]
    """Each (item, first verdict, second verdict): two reviewers, each on their own engine, at once."""
    first, second = Database(database_url), Database(database_url)
    try:
        for item, a, b in verdicts:
            await asyncio.gather(
                give(first, item, "U0REV1", a, config=config), give(second, item, "U0REV2", b, config=config)
            )
    finally:
        await first.dispose()
        await second.dispose()


async def counts(db: Database) -> tuple[tuple[int, int], tuple[int, int], dict[int, str | None]]:
    """(batch reviewed, defective), (cell reviewed, defective), and each item's outcome."""
    async with db.session() as session:
        batch = (await session.execute(sa.select(SampleBatch))).scalar_one()
        cell = (await session.execute(sa.select(FrameCell))).scalar_one()
        items = dict((await session.execute(sa.select(SampleItem.id, SampleItem.outcome))).all())  # type: ignore[arg-type]
    return (batch.unflagged_reviewed, batch.unflagged_defective), (cell.reviewed, cell.defective), items


async def test_two_verdicts_at_once_on_calibration_items_count_each_item_once(
    database_url: str, db: Database, config
) -> None:  # type: ignore[no-untyped-def]
    items = await seed_items(db, 10, double_review=True)
    # every item truly defective: both reviewers say so, at the same moment
    await at_once(database_url, config, [(item, "defect", "defect") for item in items])
    batch_counts, cell_counts, outcome_of = await counts(db)
    assert batch_counts == cell_counts == (10, 10)  # not 20 reviewed for 10 items
    assert set(outcome_of.values()) == {"defect"}
    async with db.session() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Review)) == 20
        pairs = list(
            (await session.execute(sa.select(Review.calibration_pairs, Review.calibration_agreed))).all()
        )
        rollup = await compute_rollup(session, week="2026-W48", tz=BERLIN, now=NOW)
    assert set(pairs) == {(1, 1)}  # each verdict sees the other one, once
    assert rollup.rate.estimate.rate == pytest.approx(1.0)  # the true rate, not 0.85–0.95
    assert rollup.rate.reviewed == 10


async def test_disagreeing_verdicts_at_once_settle_on_the_majority_rule(
    database_url: str, db: Database, config
) -> None:  # type: ignore[no-untyped-def]
    """Correct and Defect at the same moment: a tie, which counts as defective, whoever commits last."""
    items = await seed_items(db, 8, double_review=True)
    verdicts = [
        (item, *(("correct", "defect") if n % 2 else ("defect", "correct"))) for n, item in enumerate(items)
    ]
    await at_once(database_url, config, verdicts)  # type: ignore[arg-type]
    batch_counts, cell_counts, outcome_of = await counts(db)
    assert batch_counts == cell_counts == (8, 8)
    assert set(outcome_of.values()) == {"defect"}


async def test_an_outcome_settled_meanwhile_is_read_again_not_counted_twice(db: Database) -> None:
    """settle_outcome names the outcome it replaces: handed an item read before another verdict
    settled it, its conditional UPDATE finds nothing, and it starts again from what is stored."""
    [item_id] = await seed_items(db, 1, double_review=True)
    async with db.session() as stale:
        item = await stale.get(SampleItem, item_id)  # read now: no outcome yet
        assert item is not None and item.outcome is None
        stale.expunge(item)  # the copy keeps what it read
    async with db.transaction() as other:  # meanwhile the first verdict settles it
        await reviews.record_verdict(
            session=other, item_id=item_id, reviewer="U0REV1", verdict="correct", now=NOW
        )
    async with db.transaction() as session:
        session.add(
            Review(
                item_id=item_id, reviewer="U0REV2", verdict="defect", category="tone", severity="low",
                created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        await session.flush()
        item = await session.merge(item, load=False)  # the stale copy: outcome None
        everyone = await outcomes.item_reviews(session, item_id)
        await outcomes.settle_outcome(session, item, everyone, NOW)
    batch_counts, cell_counts, outcome_of = await counts(db)
    assert outcome_of == {item_id: "defect"}  # a tie counts as defective
    assert batch_counts == cell_counts == (1, 1)  # moved once from None, once from correct
