"""What the sample's messages show: each item's view and the header's, read from the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.core.models import Finding, FindingFeedback, Reply, SampleBatch, SampleItem
from bot.core.services import Services
from bot.judge.hints import Hint, hint_shown, hints_for
from bot.views.checks import FindingFeedbackView
from bot.views.sample import HeaderView, ItemView

# (finding id, kind, evidence, its reviewer feedback if any)
FindingPair = tuple[int, str, dict[str, Any], FindingFeedbackView | None]


# Built once: item_view runs after every verdict, on the event loop that also acks the next clicks.
_FINDINGS_OF = (
    select(Finding, FindingFeedback)
    .outerjoin(FindingFeedback, FindingFeedback.finding_id == Finding.id)  # type: ignore[arg-type]
    .where(Finding.reply_id.in_(sa.bindparam("reply_ids", expanding=True)))  # type: ignore[attr-defined]
    .order_by(Finding.id)
)
_BATCH_SIZE = select(sa.func.count()).where(SampleItem.batch_id == sa.bindparam("batch_id"))


async def findings_by_reply(session: AsyncSession, reply_ids: Sequence[int]) -> dict[int, list[FindingPair]]:
    rows = await session.execute(_FINDINGS_OF, {"reply_ids": list(reply_ids)})
    found: dict[int, list[FindingPair]] = {}
    for row, judged in rows:
        feedback = None
        if judged is not None:
            feedback = FindingFeedbackView(judged.verdict, judged.reviewer, judged.reason)
        found.setdefault(row.reply_id, []).append((row.id, row.kind, dict(row.evidence or {}), feedback))
    return found


def reply_item_view(
    reply: Reply,
    findings: Sequence[FindingPair],
    *,
    item_id: int,
    position: int = 0,
    total: int = 0,
    double_review: bool = False,
    verdict_lines: Sequence[str] = (),
    judge: Hint | None = None,
) -> ItemView:
    return ItemView(
        item_id=item_id,
        ticket_id=reply.ticket_id,
        reply=reply.reply,
        position=position,
        total=total,
        ticket_url=reply.ticket_url,
        customer_message=reply.customer_message,
        channel=reply.channel,
        intent=reply.intent,
        template_id=reply.template_id,
        customer_plan=reply.customer_plan,
        csat=reply.csat,
        findings=tuple((kind, evidence) for _, kind, evidence, _ in findings),
        finding_ids=tuple(fid for fid, _, _, _ in findings) if item_id else (),
        feedback=tuple(feedback for _, _, _, feedback in findings) if item_id else (),
        double_review=double_review,
        verdict_lines=tuple(verdict_lines),
        judge_fails=judge.fails if judge else (),
        judge_note=judge.note if judge else None,
    )


async def item_view(
    session: AsyncSession, item_id: int, verdict_lines: Sequence[str] = (), *, hint: bool = True
) -> ItemView | None:
    """The view of one stored item, e.g. to re-render it with its verdicts (and the judge's hint
    when `hint`: bot.judge.hints.hint_shown)."""
    item = await session.get(SampleItem, item_id)
    if item is None:
        return None
    reply = await session.get(Reply, item.reply_id)
    assert reply is not None  # foreign key
    total = await session.scalar(_BATCH_SIZE, {"batch_id": item.batch_id})
    findings = (await findings_by_reply(session, [reply.id])).get(reply.id, [])  # type: ignore[list-item]
    hints = await hints_for(session, [reply.id]) if hint else {}  # type: ignore[list-item]
    return reply_item_view(
        reply,
        findings,
        item_id=item_id,
        position=item.position,
        total=int(total or 0),
        double_review=item.double_review,
        verdict_lines=verdict_lines,
        judge=hints.get(reply.id),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Slot:
    """Where a reply sits in a batch (item_id 0 for a draw not stored, as in a dry run)."""

    reply_id: int
    item_id: int
    position: int
    double_review: bool = False


async def slot_views(
    session: AsyncSession, slots: Sequence[Slot], *, show_hint: str = "always"
) -> list[ItemView]:
    """Views of the replies in `slots`, in order, as posted: none reviewed yet, so the judge's
    hints are there only when `show_hint` (`[judge] show_hint`) is "always"."""
    hint = hint_shown(show_hint, double_review=False, verdicts=())
    reply_ids = [slot.reply_id for slot in slots]
    rows = await session.execute(select(Reply).where(Reply.id.in_(reply_ids)))  # type: ignore[union-attr]
    replies = {reply.id: reply for reply in rows.scalars()}
    findings = await findings_by_reply(session, reply_ids)
    hints = await hints_for(session, reply_ids) if hint else {}
    return [
        reply_item_view(
            replies[slot.reply_id],
            findings.get(slot.reply_id, []),
            item_id=slot.item_id,
            position=slot.position,
            total=len(slots),
            double_review=slot.double_review,
            judge=hints.get(slot.reply_id),
        )
        for slot in slots
    ]


async def batch_views(
    session: AsyncSession, items: Sequence[SampleItem], *, show_hint: str = "always"
) -> list[ItemView]:
    """Views of a stored batch's items, in order, as posted."""
    slots = [Slot(i.reply_id, i.id, i.position, i.double_review) for i in items]  # type: ignore[arg-type]
    return await slot_views(session, slots, show_hint=show_hint)


def header_view(services: Services, batch: SampleBatch, shown: int, double_review: int) -> HeaderView:
    slack = services.config.slack
    return HeaderView(
        shown=shown,
        population=batch.population,
        flagged_drawn=batch.flagged_drawn,
        window_start=batch.window_start,
        window_end=batch.window_end,
        timezone=slack.tz,
        reviewer_group=slack.reviewer_group,
        reviewers=tuple(slack.reviewers),
        double_review=double_review,
        thread=services.config.sampling.thread,
        late=batch.late_population,
        verifying=max(0, shown - batch.flagged_drawn - batch.unflagged_drawn),  # bot.sample.verify
    )
