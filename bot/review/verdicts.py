"""Verdicts: one per (item, reviewer), edits keep their history, defects filed in the same transaction."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.core.config import SEVERITIES, AuditConfig
from bot.core.db import Database, insert_or_ignore
from bot.core.models import Finding, OutboxItem, Review, ReviewChange, SampleItem
from bot.review.outcomes import DEFECT, ITEM_FOR_UPDATE, UnknownItem, item_reviews, settle_outcome

VERDICTS = ("correct", "defect", "unsure")
# Delivered right after the verdict commits (handlers.publish.deliver_soon); the link under the
# sample item, tracker and helpdesk effects wait for the scheduled outbox flush.
PROMPT_EFFECTS = ("slack.group_card", "slack.thread_post")
MAX_TEXT = 3000
# What a detector finding most likely means, to pre-select the modal's category.
LIKELY_CATEGORY = {
    "placeholder_leak": "template_error",
    "duplicate_reply": "duplicate_reply",
    "name_mismatch": "personalization",
    "plan_mismatch": "personalization",
    "stale_kb": "outdated_kb",
}


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
    slack_effects: list[str] = field(default_factory=list)  # outbox keys to deliver right away

    @property
    def needed(self) -> int:
        return 2 if self.item.double_review else 1

    @property
    def second_verdict_arrived(self) -> bool:
        """True exactly once for a calibration item: when this call added its second verdict."""
        return self.item.double_review and self.created and len(self.reviews) == 2

    @property
    def disagree(self) -> bool:
        """The item's first two verdicts disagree (only calibration items have two)."""
        return len(self.reviews) >= 2 and disagree(self.reviews[0], self.reviews[1])

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
    # "disagreement" transitions are seen by exactly one transaction. SQLite ignores FOR UPDATE:
    # there the caller's write transaction (bot.core.db.writing) holds the database's write lock.
    item = (await session.execute(ITEM_FOR_UPDATE, {"item_id": item_id})).scalar_one_or_none()
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
    wait = (now - item.posted_at).total_seconds() if item.posted_at else None
    row = {"item_id": item_id, "reviewer": reviewer, "wait_seconds": wait, "created_at": now, **fields}
    row["updated_at"] = now
    insert = _review_insert(session.get_bind().dialect.name)
    new_id = (await session.execute(insert, row)).scalar_one_or_none()
    created = new_id is not None
    if created:
        # The row holds exactly `fields`: read it with the item's other verdicts, one SELECT less.
        everyone = await item_reviews(session, item_id)
        review = next(r for r in everyone if r.id == new_id)
        session.add(ReviewChange(review_id=review.id, created_at=now, **_change_fields(fields)))
        changed, previous = True, None
    else:
        review = await _locked_review(session, item_id, reviewer)
        previous = review.verdict
        changed = any(getattr(review, k) != v for k, v in fields.items())
        if changed:
            for key, value in fields.items():
                setattr(review, key, value)
            review.updated_at = now
            session.add(ReviewChange(review_id=review.id, created_at=now, **_change_fields(fields)))
            await session.flush()
        everyone = await item_reviews(session, item_id)
    if changed:
        await settle_outcome(session, item, everyone, now)
    outcome = Outcome(item, review, created, changed, previous, everyone)
    if changed and previous == DEFECT and verdict != DEFECT:
        from bot.defects.filing import withdraw_defect

        mark = await _last_outbox_id(session)
        await withdraw_defect(session=session, review_id=review.id, now=now)  # type: ignore[arg-type]
        outcome.slack_effects = await _slack_effects_since(session, mark)
    return outcome


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
    from bot.defects.filing import file_defect

    mark = await _last_outbox_id(session)
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
        # a defect withdrawn earlier comes back (file_defect reopens it and recounts its group)
        await file_defect(session=session, review=outcome.review, config=config, now=now)
        outcome.slack_effects = await _slack_effects_since(session, mark)
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


# The statements every verdict runs, built once: composing one costs about as much CPU as running it
# on SQLite, and the verdict work shares the event loop with the acks of the next clicks.
@functools.cache
def _review_insert(dialect: str) -> sa.Insert:
    """INSERT a verdict unless this reviewer has one on the item; RETURNING its id when inserted."""
    table: sa.Table = Review.__table__  # type: ignore[attr-defined]
    return insert_or_ignore(dialect, table, "item_id", "reviewer").returning(table.c.id)  # type: ignore[no-any-return]


async def _locked_review(session: AsyncSession, item_id: int, reviewer: str) -> Review:
    """This reviewer's existing verdict on the item, locked and re-read (another click may have edited it)."""
    stmt = (
        select(Review)
        .where(Review.item_id == item_id, Review.reviewer == reviewer)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


def _change_fields(fields: dict[str, object]) -> dict[str, object]:
    return {k: fields[k] for k in ("verdict", "category", "severity", "note")}


async def _last_outbox_id(session: AsyncSession) -> int:
    return int((await session.execute(sa.select(sa.func.max(OutboxItem.id)))).scalar_one() or 0)


async def _slack_effects_since(session: AsyncSession, mark: int) -> list[str]:
    """Keys of the group card edits and thread posts queued after `mark`, in queue order."""
    await session.flush()
    stmt = (
        sa.select(OutboxItem.idempotency_key)
        .where(OutboxItem.id > mark, OutboxItem.kind.in_(PROMPT_EFFECTS), OutboxItem.status == "pending")
        .order_by(OutboxItem.id)
    )
    return list((await session.execute(stmt)).scalars())
