"""Verdicts: one per (item, reviewer), edits keep their history, defects filed in the same transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.config import SEVERITIES, AuditConfig
from bot.db import Database
from bot.models import Defect, Finding, Review, ReviewChange, SampleItem

VERDICTS = ("correct", "defect", "unsure")
MAX_TEXT = 3000
# What a detector finding most likely means, to pre-select the modal's category.
LIKELY_CATEGORY = {
    "placeholder_leak": "template_error",
    "duplicate_reply": "duplicate_reply",
    "name_mismatch": "personalization",
    "plan_mismatch": "personalization",
    "stale_kb": "outdated_kb",
}


class UnknownItem(LookupError):
    """The sample item a button or modal names does not exist (any more)."""


@dataclass(frozen=True)
class DefectInput:
    """What the defect modal asks for, already validated."""

    category: str
    severity: str
    note: str
    expected: str | None
    helpdesk_note: bool


@dataclass
class Outcome:
    """What recording a verdict did, and the item's verdicts after it (oldest first)."""

    item: SampleItem
    review: Review
    created: bool
    changed: bool
    previous: str | None
    reviews: list[Review] = field(default_factory=list)

    @property
    def needed(self) -> int:
        return 2 if self.item.double_review else 1

    @property
    def second_verdict_arrived(self) -> bool:
        """True exactly once for a calibration item: when this call added its second verdict."""
        return self.item.double_review and self.created and len(self.reviews) == 2

    @property
    def asks_second_opinion(self) -> bool:
        return self.review.verdict == "unsure" and self.changed


async def record_verdict(
    *,
    session: AsyncSession,
    item_id: int,
    reviewer: str,
    verdict: str,
    now: dt.datetime,
    category: str | None = None,
    severity: str | None = None,
    note: str | None = None,
    expected: str | None = None,
    helpdesk_note: bool = False,
) -> Outcome:
    """Insert or edit this reviewer's verdict on the item; safe under concurrent clicks (caller commits)."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    # Locking the item serialises verdicts on it (PostgreSQL), so the "second verdict" and
    # "disagreement" transitions are seen by exactly one transaction. SQLite serialises writers anyway.
    lock = select(SampleItem).where(SampleItem.id == item_id).with_for_update()
    item = (await session.execute(lock)).scalar_one_or_none()
    if item is None:
        raise UnknownItem(f"sample item {item_id} does not exist")
    fields = {
        "verdict": verdict,
        "category": category if verdict == "defect" else None,
        "severity": severity if verdict == "defect" else None,
        "note": note,
        "expected": expected if verdict == "defect" else None,
        "helpdesk_note": helpdesk_note if verdict == "defect" else False,
    }
    insert = _insert(session).values(
        item_id=item_id, reviewer=reviewer, created_at=now, updated_at=now, **fields
    )
    insert = insert.on_conflict_do_nothing(index_elements=["item_id", "reviewer"]).returning(Review.id)
    created = (await session.execute(insert)).scalar_one_or_none() is not None
    stmt = (
        select(Review)
        .where(Review.item_id == item_id, Review.reviewer == reviewer)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    review = (await session.execute(stmt)).scalar_one()
    previous = None if created else review.verdict
    changed = created or any(getattr(review, k) != v for k, v in fields.items())
    if changed:
        for key, value in fields.items():
            setattr(review, key, value)
        review.updated_at = now
        session.add(ReviewChange(review_id=review.id, created_at=now, **_change_fields(fields)))
        if previous == "defect" and verdict != "defect":
            await _withdraw_defect(session, review.id)
        await session.flush()
    return Outcome(item, review, created, changed, previous, await item_reviews(session, item_id))


async def record_defect(
    *,
    session: AsyncSession,
    item_id: int,
    reviewer: str,
    defect: DefectInput,
    config: AuditConfig,
    now: dt.datetime,
) -> Outcome:
    """Record a "defect" verdict and file the defect with its group, in the caller's transaction."""
    from bot.defects import file_defect

    outcome = await record_verdict(
        session=session,
        item_id=item_id,
        reviewer=reviewer,
        verdict="defect",
        now=now,
        category=defect.category,
        severity=defect.severity,
        note=defect.note,
        expected=defect.expected,
        helpdesk_note=defect.helpdesk_note,
    )
    if outcome.changed:
        filed = await file_defect(session=session, review=outcome.review, config=config, now=now)
        if filed.status == "withdrawn":  # the reviewer had changed their mind and changed it back
            filed.status = "open"
    return outcome


def validate_defect(
    *,
    categories: list[str],
    category: str | None,
    severity: str | None,
    note: str | None,
    expected: str | None,
    helpdesk_note: bool,
) -> tuple[DefectInput | None, dict[str, str]]:
    """The validated input, or the problems keyed by field name (category, severity, note, expected)."""
    errors: dict[str, str] = {}
    if category not in categories:
        errors["category"] = "Pick a category."
    if severity not in SEVERITIES:
        errors["severity"] = "Pick a severity."
    note = (note or "").strip()
    expected = (expected or "").strip() or None
    if not note:
        errors["note"] = "Say what is wrong with this reply."
    elif len(note) > MAX_TEXT:
        errors["note"] = f"Keep it under {MAX_TEXT} characters (now {len(note)})."
    if expected is not None and len(expected) > MAX_TEXT:
        errors["expected"] = f"Keep it under {MAX_TEXT} characters (now {len(expected)})."
    if errors:
        return None, errors
    assert category is not None and severity is not None
    return DefectInput(category, severity, note, expected, helpdesk_note), {}


async def item_reviews(session: AsyncSession, item_id: int) -> list[Review]:
    """Every reviewer's current verdict on the item, oldest first."""
    stmt = select(Review).where(Review.item_id == item_id).order_by(Review.created_at, Review.id)
    return list((await session.execute(stmt)).scalars())


async def find_item(db: Database, item_id: int) -> SampleItem | None:
    """The sample item, read in a short session of its own (None when it does not exist)."""
    async with db.session() as session:
        return await session.get(SampleItem, item_id)


@dataclass(frozen=True)
class ModalDefaults:
    """What the defect modal starts with: the reviewer's earlier defect, else the likely category."""

    category: str
    severity: str | None = None
    note: str | None = None
    expected: str | None = None
    helpdesk_note: bool | None = None


async def modal_defaults(
    *, session: AsyncSession, item_id: int, reviewer: str, config: AuditConfig
) -> ModalDefaults:
    """Pre-fill for the defect modal: an edit shows the earlier answer, a new one a likely category."""
    stmt = select(Review).where(Review.item_id == item_id, Review.reviewer == reviewer)
    earlier = (await session.execute(stmt)).scalar_one_or_none()
    categories = config.review.categories
    if earlier is not None and earlier.verdict == "defect" and earlier.category in categories:
        return ModalDefaults(
            earlier.category, earlier.severity, earlier.note, earlier.expected, earlier.helpdesk_note
        )
    kinds = sa.select(Finding.kind).join(SampleItem, SampleItem.reply_id == Finding.reply_id)
    found = set((await session.execute(kinds.where(SampleItem.id == item_id))).scalars())
    for kind, category in LIKELY_CATEGORY.items():
        if kind in found and category in categories:
            return ModalDefaults(category)
    return ModalDefaults("other" if "other" in categories else categories[0])


def disagree(first: Review, second: Review) -> bool:
    """Two verdicts disagree when they differ, or both find a defect of a different category."""
    if first.verdict != second.verdict:
        return True
    return first.verdict == "defect" and first.category != second.category


async def calibration_pairs(
    session: AsyncSession, *, start: dt.datetime, end: dt.datetime
) -> list[tuple[Review, Review]]:
    """The first two verdicts of every calibration item whose second verdict came in [start, end)."""
    stmt = (
        select(Review)
        .join(SampleItem, SampleItem.id == Review.item_id)
        .where(SampleItem.double_review.is_(True))
        .order_by(Review.item_id, Review.created_at, Review.id)
    )
    by_item: dict[int, list[Review]] = {}
    for review in (await session.execute(stmt)).scalars():
        by_item.setdefault(review.item_id, []).append(review)
    return [
        (pair[0], pair[1])
        for pair in by_item.values()
        if len(pair) >= 2 and start <= pair[1].created_at < end
    ]


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Review)


def _change_fields(fields: dict[str, object]) -> dict[str, object]:
    return {k: fields[k] for k in ("verdict", "category", "severity", "note")}


async def _withdraw_defect(session: AsyncSession, review_id: int | None) -> None:
    # The reviewer changed their mind: the defect stays for the record but no longer counts.
    await session.execute(sa.update(Defect).where(Defect.review_id == review_id).values(status="withdrawn"))
