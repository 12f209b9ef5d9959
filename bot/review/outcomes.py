"""An item's outcome from its verdicts, and the counts the digest reads, kept with every verdict.

`sample_items.outcome` is the majority of the item's correct/defect verdicts (a tie counts as a
defect; "not sure" decides nothing); the batch's per-stratum and the frame cell's reviewed and
defective counts follow it. bot.review.verdicts calls `settle_outcome` in the verdict's own
transaction.
"""

from __future__ import annotations

import datetime as dt
import functools

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import select

from bot.core.models import FrameCell, Review, SampleBatch, SampleItem

DEFECT, CORRECT = "defect", "correct"


class UnknownItem(LookupError):
    """The sample item a button or modal names does not exist (any more)."""


def item_outcome(verdicts: list[str]) -> str | None:
    """The item's outcome: the majority of its correct/defect verdicts, a tie counts as a defect."""
    defects, correct = verdicts.count(DEFECT), verdicts.count(CORRECT)
    if defects + correct == 0:
        return None  # nobody decided yet ("not sure" only)
    return DEFECT if defects >= correct else CORRECT


def calibration_of(review: Review, everyone: list[Review]) -> tuple[int, int]:
    """(other reviewers' correct/defect verdicts on the item, how many match this one's)."""
    if review.verdict not in (DEFECT, CORRECT):
        return 0, 0
    others = [o.verdict for o in everyone if o.reviewer != review.reviewer and o.verdict in (DEFECT, CORRECT)]
    return len(others), others.count(review.verdict)


async def settle_outcome(
    session: AsyncSession, item: SampleItem, everyone: list[Review], now: dt.datetime
) -> None:
    """Store the item's outcome (and calibration matches) from its verdicts; move its counts.

    The outcome is written by one conditional UPDATE that names the outcome it replaces, and the
    batch's and cell's counts move only when that UPDATE took: two verdicts settling the same
    item at once cannot both count it. Within a write transaction (bot.core.db.writing) this holds
    on SQLite and PostgreSQL alike; should the outcome have changed since it was read, the item's
    verdicts are read again and the outcome recomputed from them.
    """
    for _ in range(_SETTLE_ATTEMPTS):
        if item.double_review:
            for review in everyone:
                review.calibration_pairs, review.calibration_agreed = calibration_of(review, everyone)
        before, after = item.outcome, item_outcome([r.verdict for r in everyone])
        reviewed_at = item.reviewed_at
        if after is None:
            reviewed_at = None
        elif before is None or reviewed_at is None:
            reviewed_at = now
        if after == before and reviewed_at == item.reviewed_at:
            await session.flush()
            return
        values = {"item": item.id, "before": before, "after": after, "reviewed_at": reviewed_at}
        taken = await session.execute(_settle_update(before is None), values)
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            set_committed_value(item, "outcome", after)
            set_committed_value(item, "reviewed_at", reviewed_at)
            if after != before:
                await _move_counts(session, item, before, after)
            await session.flush()
            return
        # settled by another transaction since we read it: start again from what is stored now
        item = (await session.execute(ITEM_FOR_UPDATE, {"item_id": item.id})).scalar_one()
        everyone = await item_reviews(session, item.id)  # type: ignore[arg-type]
    raise RuntimeError(f"the outcome of sample item {item.id} keeps changing under this verdict")


async def _move_counts(
    session: AsyncSession, item: SampleItem, before: str | None, after: str | None
) -> None:
    """Move the batch's per-stratum and the cell's reviewed/defective counts by one item's change."""
    delta = {
        "batch": item.batch_id,
        "cell": item.cell_id,
        "more_reviewed": int(after is not None) - int(before is not None),
        "more_defective": int(after == DEFECT) - int(before == DEFECT),
    }
    if item.stratum in _BATCH_STRATA:  # the verification strata are counted in their cells only
        await session.execute(_batch_counts_update(item.stratum), delta)
    if item.cell_id is not None:
        await session.execute(_CELL_COUNTS_UPDATE, delta)


async def refresh_outcome(*, session: AsyncSession, item_id: int, now: dt.datetime) -> SampleItem:
    """Recompute and store one item's outcome from its reviews (for rows written outside record_verdict)."""
    item = await session.get(SampleItem, item_id)
    if item is None:
        raise UnknownItem(f"sample item {item_id} does not exist")
    await settle_outcome(session, item, await item_reviews(session, item_id), now)
    return item


async def item_reviews(session: AsyncSession, item_id: int) -> list[Review]:
    """Every reviewer's current verdict on the item, oldest first."""
    return list((await session.execute(_ITEM_REVIEWS, {"item_id": item_id})).scalars())


# Built once: every verdict runs them.
ITEM_FOR_UPDATE = (
    select(SampleItem)
    .where(SampleItem.id == sa.bindparam("item_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_SETTLE_ATTEMPTS = 5
_BATCH_STRATA = ("flagged", "unflagged")
_CELL = FrameCell.__table__
_CELL_COUNTS_UPDATE = (
    sa.update(_CELL)
    .where(_CELL.c.id == sa.bindparam("cell"))
    .values(
        reviewed=_CELL.c.reviewed + sa.bindparam("more_reviewed"),
        defective=_CELL.c.defective + sa.bindparam("more_defective"),
    )
)
_ITEM_REVIEWS = (
    select(Review).where(Review.item_id == sa.bindparam("item_id")).order_by(Review.created_at, Review.id)
)


@functools.cache
def _settle_update(unsettled: bool) -> sa.Update:
    """Set the item's outcome if it still is the bound `before` (NULL when `unsettled`)."""
    items: sa.Table = SampleItem.__table__  # type: ignore[attr-defined]
    still = items.c.outcome.is_(None) if unsettled else items.c.outcome == sa.bindparam("before")
    return (
        sa.update(items)
        .where(items.c.id == sa.bindparam("item"), still)
        .values(outcome=sa.bindparam("after"), reviewed_at=sa.bindparam("reviewed_at"))
    )


@functools.cache
def _batch_counts_update(stratum: str) -> sa.Update:
    """Move a batch's reviewed/defective counts of `stratum` by the bound deltas."""
    batch: sa.Table = SampleBatch.__table__  # type: ignore[attr-defined]
    reviewed, defective = batch.c[f"{stratum}_reviewed"], batch.c[f"{stratum}_defective"]
    return (
        sa.update(batch)
        .where(batch.c.id == sa.bindparam("batch"))
        .values(
            {
                reviewed: reviewed + sa.bindparam("more_reviewed"),
                defective: defective + sa.bindparam("more_defective"),
            }
        )
    )
