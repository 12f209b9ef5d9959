"""Reviewers' feedback on automatic findings: confirmed or a false alarm (with an optional reason).

One judgement per finding (a later click, by anyone allowed, replaces it: it is the team's label
for that finding). The precision of each check kind is counted from these (bot.digest.checks).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Finding, FindingFeedback, SampleItem
from bot.judge.hints import hint_shown
from bot.review.verdicts import disagree, item_reviews
from bot.sample.items import item_view
from bot.views.review import verdict_lines
from bot.views.sample import ItemView

VERDICTS = ("confirmed", "false_alarm")
REASON_MAX = 500


class UnknownFinding(LookupError):
    """No such finding (it may have been recomputed away)."""


@dataclass(frozen=True)
class Judged:
    finding_id: int
    kind: str
    item: SampleItem | None  # the sample item showing the finding, when it was sampled


async def record_feedback(
    *, session: AsyncSession, finding_id: int, reviewer: str, verdict: str, now: dt.datetime
) -> Judged:
    """Store (or replace) the judgement of one finding; a new verdict clears an older reason."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown feedback {verdict!r}")
    finding = await session.get(Finding, finding_id)
    if finding is None:
        raise UnknownFinding(finding_id)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {"verdict": verdict, "reviewer": reviewer, "updated_at": now}
    stmt = insert(FindingFeedback).values(
        finding_id=finding_id, kind=finding.kind, reason=None, created_at=now, **values
    )
    changed = sa.or_(
        FindingFeedback.verdict != verdict,  # type: ignore[arg-type]
        FindingFeedback.reviewer != reviewer,  # type: ignore[arg-type]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["finding_id"],
        set_={**values, "reason": sa.case((changed, None), else_=FindingFeedback.reason)},
    )
    await session.execute(stmt)
    return Judged(finding_id, finding.kind, await _item_of(session, finding.reply_id))


async def judge(
    *,
    session: AsyncSession,
    finding_id: int,
    reviewer: str,
    verdict: str,
    now: dt.datetime,
    reason: str | None = None,
) -> Judged:
    """Store a judgement; `reason` (for a false alarm, from the modal) replaces the stored one."""
    judged = await record_feedback(
        session=session, finding_id=finding_id, reviewer=reviewer, verdict=verdict, now=now
    )
    if reason is not None:
        text = " ".join(reason.split())[:REASON_MAX] or None
        await session.execute(
            sa.update(FindingFeedback)
            .where(FindingFeedback.finding_id == finding_id)  # type: ignore[arg-type]
            .values(reason=text, updated_at=now)
        )
    return judged


async def current_reason(session: AsyncSession, finding_id: int) -> str | None:
    stmt = sa.select(FindingFeedback.reason).where(FindingFeedback.finding_id == finding_id)  # type: ignore[arg-type]
    return (await session.execute(stmt)).scalar_one_or_none()


async def _item_of(session: AsyncSession, reply_id: int) -> SampleItem | None:
    stmt = sa.select(SampleItem).where(SampleItem.reply_id == reply_id)  # type: ignore[arg-type]
    return (await session.execute(stmt)).scalar_one_or_none()


async def judged_item_view(session: AsyncSession, item: SampleItem, show_hint: str) -> ItemView | None:
    """The item as its message should read now: findings with their feedback, verdicts as they are
    (and the judge's hint as `[judge] show_hint` says)."""
    assert item.id is not None
    reviews = await item_reviews(session, item.id)
    split = len(reviews) >= 2 and disagree(reviews[0], reviews[1])
    lines = verdict_lines(reviews, double_review=item.double_review, disagree=split) if reviews else []
    verdicts = [review.verdict for review in reviews]
    hint = hint_shown(show_hint, double_review=item.double_review, verdicts=verdicts)
    return await item_view(session, item.id, lines, hint=hint)
