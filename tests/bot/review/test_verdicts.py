"""Verdicts against a real database (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from bot.core.models import Defect, DefectGroup, Review, ReviewChange
from bot.review import verdicts as reviews
from tests.bot.seed_reviews import seed_items

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)


async def count(db, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        stmt = sa.select(sa.func.count()).select_from(model).where(*where)
        return (await session.execute(stmt)).scalar_one()


async def verdict(db, item_id: int, reviewer: str, value: str, **kw) -> reviews.Outcome:  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        return await reviews.record_verdict(
            session=session, item_id=item_id, reviewer=reviewer, verdict=value, now=NOW, **kw
        )


def defect_input(category: str = "template_error", severity: str = "high") -> reviews.DefectInput:
    return reviews.DefectInput(category, severity, "Quotes the old refund window", None, True)


async def test_first_verdict_is_recorded_with_its_history(db) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)
    outcome = await verdict(db, item, "U0REV1", "correct")
    assert (outcome.created, outcome.changed, outcome.previous) == (True, True, None)
    assert [r.verdict for r in outcome.reviews] == ["correct"]
    assert await count(db, ReviewChange) == 1


async def test_repeated_click_changes_nothing(db) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)
    await verdict(db, item, "U0REV1", "correct")
    again = await verdict(db, item, "U0REV1", "correct")
    assert (again.created, again.changed) == (False, False)
    assert await count(db, Review) == 1
    assert await count(db, ReviewChange) == 1


async def test_changed_mind_edits_the_verdict_and_keeps_history(db) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)
    await verdict(db, item, "U0REV1", "correct")
    outcome = await verdict(db, item, "U0REV1", "unsure")
    assert (outcome.created, outcome.changed, outcome.previous) == (False, True, "correct")
    assert outcome.asks_second_opinion
    async with db.session() as session:
        rows = (await session.execute(sa.select(Review))).scalars().all()
        changes = (await session.execute(sa.select(ReviewChange.verdict).order_by(ReviewChange.id))).all()
    assert [(r.reviewer, r.verdict) for r in rows] == [("U0REV1", "unsure")]
    assert [c[0] for c in changes] == ["correct", "unsure"]


async def test_twenty_concurrent_clicks_record_one_verdict(db) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)
    outcomes = await asyncio.gather(*(verdict(db, item, "U0REV1", "correct") for _ in range(20)))
    assert await count(db, Review) == 1
    assert sum(o.created for o in outcomes) == 1
    assert await count(db, ReviewChange) == 1


async def test_concurrent_different_verdicts_leave_one_row_and_a_history_per_change(db) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)
    values = ["correct", "unsure"] * 10
    outcomes = await asyncio.gather(*(verdict(db, item, "U0REV1", v) for v in values))
    assert await count(db, Review) == 1
    assert await count(db, ReviewChange) == sum(o.changed for o in outcomes)
    async with db.session() as session:
        last = (
            await session.execute(sa.select(ReviewChange.verdict).order_by(ReviewChange.id.desc()))
        ).first()
        current = (await session.execute(sa.select(Review.verdict))).scalar_one()
    assert last is not None and current == last[0]


async def test_unknown_item_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(reviews.UnknownItem):
        await verdict(db, 999, "U0REV1", "correct")
    assert await count(db, Review) == 0


async def test_defect_is_filed_with_the_review_in_one_transaction(db, config) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)
    async with db.transaction() as session:
        outcome = await reviews.record_defect(
            session=session, item_id=item, reviewer="U0REV1", defect=defect_input(), config=config, now=NOW
        )
    review = outcome.review
    assert (review.verdict, review.category, review.severity, review.helpdesk_note) == (
        "defect",
        "template_error",
        "high",
        True,
    )
    assert review.note == "Quotes the old refund window"
    assert await count(db, Defect, Defect.review_id == review.id) == 1
    assert await count(db, DefectGroup) == 1


async def test_failed_transaction_stores_neither_review_nor_defect(db, config) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await reviews.record_defect(
                session=session,
                item_id=item,
                reviewer="U0REV1",
                defect=defect_input(),
                config=config,
                now=NOW,
            )
            raise RuntimeError("crash before commit")
    assert await count(db, Review) == 0
    assert await count(db, Defect) == 0


async def test_withdrawn_defect_comes_back_when_the_reviewer_changes_back(db, config) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db)

    async def file() -> None:
        async with db.transaction() as session:
            await reviews.record_defect(
                session=session,
                item_id=item,
                reviewer="U0REV1",
                defect=defect_input(),
                config=config,
                now=NOW,
            )

    await file()
    await verdict(db, item, "U0REV1", "correct")
    assert await count(db, Defect, Defect.status == "withdrawn") == 1
    await file()
    assert await count(db, Defect, Defect.status == "open") == 1
    assert await count(db, Defect) == 1


async def test_calibration_second_verdict_and_disagreement(db) -> None:  # type: ignore[no-untyped-def]
    [item] = await seed_items(db, double_review=True)
    first = await verdict(db, item, "U0REV1", "correct")
    assert not first.second_verdict_arrived and first.needed == 2
    second = await verdict(db, item, "U0REV2", "defect", category="tone", severity="low")
    assert second.second_verdict_arrived
    assert reviews.disagree(second.reviews[0], second.reviews[1])
    edit = await verdict(db, item, "U0REV2", "correct")
    assert not edit.second_verdict_arrived  # an edit is not a new arrival: posted once
    async with db.session() as session:
        pairs = await reviews.calibration_pairs(
            session, start=NOW - dt.timedelta(days=1), end=NOW + dt.timedelta(days=1)
        )
    assert [(a.reviewer, b.reviewer) for a, b in pairs] == [("U0REV1", "U0REV2")]
    assert not reviews.disagree(*pairs[0])  # after the edit both say correct


@pytest.mark.parametrize(
    ("note", "expected", "category", "problem"),
    [
        ("", None, "tone", "note"),
        ("   \n ", None, "tone", "note"),
        ("x" * 3001, None, "tone", "note"),
        ("fine", "y" * 3001, "tone", "expected"),
        ("fine", None, "not_a_category", "category"),
    ],
)
def test_validate_defect_names_the_bad_field(note, expected, category, problem) -> None:  # type: ignore[no-untyped-def]
    result, errors = reviews.validate_defect(
        categories=["tone", "other"],
        category=category,
        severity="low",
        note=note,
        expected=expected,
        helpdesk_note=False,
    )
    assert result is None
    assert list(errors) == [problem]


def test_validate_defect_accepts_and_trims() -> None:
    result, errors = reviews.validate_defect(
        categories=["tone"],
        category="tone",
        severity="critical",
        note="  rude \n",
        expected=" ",
        helpdesk_note=True,
    )
    assert errors == {}
    assert result == reviews.DefectInput("tone", "critical", "rude", None, True)


async def test_modal_defaults_from_findings_then_from_the_earlier_defect(db, config) -> None:  # type: ignore[no-untyped-def]
    plain, leaky = await seed_items(db, 2, findings={1: "placeholder_leak"})
    async with db.session() as session:
        assert (
            await reviews.modal_defaults(session=session, item_id=plain, reviewer="U0REV1", config=config)
        ).category == "other"
        fresh = await reviews.modal_defaults(session=session, item_id=leaky, reviewer="U0REV1", config=config)
    assert (fresh.category, fresh.helpdesk_note) == ("template_error", None)
    async with db.transaction() as session:
        await reviews.record_defect(
            session=session,
            item_id=leaky,
            reviewer="U0REV1",
            defect=defect_input("tone", "low"),
            config=config,
            now=NOW,
        )
    async with db.session() as session:
        earlier = await reviews.modal_defaults(
            session=session, item_id=leaky, reviewer="U0REV1", config=config
        )
    assert (earlier.category, earlier.severity, earlier.note, earlier.helpdesk_note) == (
        "tone",
        "low",
        "Quotes the old refund window",
        True,
    )
