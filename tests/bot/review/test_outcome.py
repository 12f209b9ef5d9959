"""What bot.review.verdicts keeps with every verdict (item outcome, batch counts, calibration matches, the
defect's group) equals a recomputation from the reviews themselves, after changes of mind."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.core.models import Defect, DefectGroup, OutboxItem, Review, SampleBatch, SampleItem
from bot.review import verdicts as reviews
from tests.bot.seed_reviews import POSTED_AT, seed_items

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def defect_input(category: str = "template_error") -> reviews.DefectInput:
    return reviews.DefectInput(category, "high", "Quotes the old refund window", None, False)


async def give(db, config, item: int, reviewer: str, verdict: str, now: dt.datetime = NOW) -> reviews.Outcome:  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        if verdict == "defect":
            return await reviews.record_defect(
                session=session,
                item_id=item,
                reviewer=reviewer,
                defect=defect_input(),
                config=config,
                now=now,
            )
        return await reviews.record_verdict(
            session=session, item_id=item, reviewer=reviewer, verdict=verdict, now=now
        )


async def recomputed(db) -> tuple[dict[int, str | None], dict[tuple[int, str], tuple[int, int]]]:  # type: ignore[no-untyped-def]
    """Each item's outcome by the documented rule, and each batch stratum's (reviewed, defective),
    computed from the reviews alone (not from the stored columns)."""
    async with db.session() as session:
        votes = sa.select(
            SampleItem.id,
            SampleItem.batch_id,
            SampleItem.stratum,
            sa.func.coalesce(sa.func.sum(sa.case((Review.verdict == "defect", 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((Review.verdict == "correct", 1), else_=0)), 0),
        )
        votes = votes.outerjoin(Review, Review.item_id == SampleItem.id)
        rows = (
            await session.execute(votes.group_by(SampleItem.id, SampleItem.batch_id, SampleItem.stratum))
        ).all()
    outcomes: dict[int, str | None] = {}
    strata: dict[tuple[int, str], tuple[int, int]] = {}
    for item_id, batch_id, stratum, defects, correct in rows:
        outcome = None if defects + correct == 0 else ("defect" if defects >= correct else "correct")
        outcomes[item_id] = outcome
        done, bad = strata.get((batch_id, stratum), (0, 0))
        strata[batch_id, stratum] = (done + (outcome is not None), bad + (outcome == "defect"))
    return outcomes, strata


async def stored(
    db,
) -> tuple[dict[int, str | None], dict[tuple[int, str], tuple[int, int]], dict[int, object]]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        items = list((await session.execute(sa.select(SampleItem))).scalars())
        batches = list((await session.execute(sa.select(SampleBatch))).scalars())
    strata = {}
    for batch in batches:
        strata[batch.id, "flagged"] = (batch.flagged_reviewed, batch.flagged_defective)
        strata[batch.id, "unflagged"] = (batch.unflagged_reviewed, batch.unflagged_defective)
    return {i.id: i.outcome for i in items}, strata, {i.id: i.reviewed_at for i in items}


async def assert_consistent(db) -> dict[int, str | None]:  # type: ignore[no-untyped-def]
    outcomes, strata = await recomputed(db)
    kept, kept_strata, reviewed_at = await stored(db)
    assert kept == outcomes
    assert {k: v for k, v in kept_strata.items() if v != (0, 0)} == {
        k: v for k, v in strata.items() if v != (0, 0)
    }
    assert {i for i, at in reviewed_at.items() if at is not None} == {i for i, o in kept.items() if o}
    return kept


async def test_stored_outcomes_follow_every_change_of_mind(db, config) -> None:  # type: ignore[no-untyped-def]
    single = await seed_items(db, 3)
    [double, tie] = await seed_items(db, 2, double_review=True, day=dt.date(2026, 11, 25))
    a, b, c = single

    await give(db, config, a, "U0REV1", "defect")
    await give(db, config, b, "U0REV1", "unsure")  # "not sure" alone decides nothing
    await give(db, config, c, "U0REV2", "correct")
    kept = await assert_consistent(db)
    assert (kept[a], kept[b], kept[c]) == ("defect", None, "correct")

    await give(db, config, a, "U0REV1", "correct", LATER)  # defect → correct
    await give(db, config, b, "U0REV1", "defect", LATER)  # unsure → defect
    await give(db, config, c, "U0REV2", "unsure", LATER)  # correct → unsure: no outcome any more
    await give(db, config, double, "U0REV1", "defect")
    await give(db, config, double, "U0REV2", "defect")
    await give(db, config, tie, "U0REV1", "correct")
    await give(db, config, tie, "U0REV2", "defect")  # a calibration tie counts as defective
    kept = await assert_consistent(db)
    assert (kept[a], kept[b], kept[c], kept[double], kept[tie]) == (
        "correct",
        "defect",
        None,
        "defect",
        "defect",
    )

    await give(db, config, double, "U0REV2", "correct", LATER)  # 1 defect vs 1 correct: still a tie
    await give(db, config, tie, "U0REV2", "correct", LATER)  # now both say correct
    kept = await assert_consistent(db)
    assert (kept[double], kept[tie]) == ("defect", "correct")

    async with db.session() as session:
        matches = {
            (r.item_id, r.reviewer): (r.calibration_pairs, r.calibration_agreed)
            for r in (await session.execute(sa.select(Review))).scalars()
        }
    assert matches[double, "U0REV1"] == (1, 0) and matches[tie, "U0REV2"] == (1, 1)
    assert matches[a, "U0REV1"] == (0, 0)  # not a calibration item


async def test_wait_seconds_is_measured_from_the_item_message(db) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)
    async with db.transaction() as session:
        await reviews.record_verdict(
            session=session, item_id=item, reviewer="U0REV1", verdict="correct", now=NOW
        )
    async with db.session() as session:
        review = (await session.execute(sa.select(Review))).scalar_one()
    assert review.wait_seconds == (NOW - POSTED_AT).total_seconds()


async def test_a_withdrawn_defect_leaves_its_group_and_the_card_is_queued(db, config) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)
    filed = await give(db, config, item, "U0REV1", "defect")
    assert [key.split(":")[0] for key in filed.slack_effects] == ["slack.group_card", "slack.thread_post"]
    withdrawn = await give(db, config, item, "U0REV1", "correct", LATER)
    assert [key.split(":")[0] for key in withdrawn.slack_effects] == ["slack.group_card"]
    async with db.session() as session:
        defect = (await session.execute(sa.select(Defect))).scalar_one()
        group = await session.get(DefectGroup, defect.group_id)
        keys = set((await session.execute(sa.select(OutboxItem.idempotency_key))).scalars())
    assert defect.status == "withdrawn" and group is not None and group.occurrences == 0
    assert set(withdrawn.slack_effects) <= keys
    back = await give(db, config, item, "U0REV1", "defect", LATER + dt.timedelta(minutes=5))
    async with db.session() as session:
        group = await session.get(DefectGroup, defect.group_id)
    assert group is not None and group.occurrences == 1 and back.slack_effects
    await assert_consistent(db)
