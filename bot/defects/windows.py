"""Verification windows: opened when a group is fixed, closed when it is reopened by hand.

A window covers the replies created in the `[verify] days` after the fix and records what to look
for in them (bot.defects.verification): the group's fingerprint, the finding kinds on its replies
(what the checks' census matches) and its *segment*, which the sampler oversamples
(bot.sample.verify): the stale article of a `kb:` group, else the group's template, else the most
common intent of its replies, else the article they cite most. A group without any has no segment:
only the census and new defects can speak for or against its fix.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import VerifyConfig
from bot.core.models import Defect, DefectGroup, Finding, FixVerification, Reply
from bot.sample.verify import VERIFYING, cited

CANCELLED = "cancelled"  # the group was reopened by hand: no outcome
V = FixVerification.__table__


def segment_of(group: DefectGroup, replies: list[tuple[str | None, str | None, object]]) -> str | None:
    """The group's segment from its replies' (template_id, intent, kb_articles)."""
    if group.fingerprint.startswith("kb:") and group.fingerprint[3:] not in ("", "None"):
        return "article:" + group.fingerprint[3:]
    if group.template_id:
        return "template:" + group.template_id
    intents = Counter(intent for _, intent, _ in replies if intent)
    if intents:
        return "intent:" + intents.most_common(1)[0][0]
    articles = Counter(article for _, _, kb in replies for article in cited(kb))
    if articles:
        return "article:" + articles.most_common(1)[0][0]
    return None


async def open_window(
    session: AsyncSession, group: DefectGroup, now: dt.datetime, config: VerifyConfig | None = None
) -> FixVerification:
    """Start verifying the group's fix (its earlier open window, if any, is cancelled)."""
    config = config or VerifyConfig()
    await close_window(session, group.id, CANCELLED, now)  # type: ignore[arg-type]
    counted = sa.and_(Defect.group_id == group.id, Defect.status != "withdrawn")
    replies = (
        await session.execute(
            sa.select(Reply.template_id, Reply.intent, Reply.kb_articles)
            .join(Defect, Defect.reply_id == Reply.id)
            .where(counted)
            .order_by(Defect.id)
        )
    ).all()
    kinds = (
        await session.execute(
            sa.select(Finding.kind)
            .join(Defect, Defect.reply_id == Finding.reply_id)
            .where(counted)
            .distinct()
            .order_by(Finding.kind)
        )
    ).scalars()
    high = await session.scalar(sa.select(sa.func.max(Reply.id)))
    window = FixVerification(
        group_id=group.id,  # type: ignore[arg-type]
        active_group_id=group.id,
        status=VERIFYING,
        started_at=now,
        ends_at=now + dt.timedelta(days=config.days),
        fingerprint=group.fingerprint,
        kinds=list(kinds),
        segment=segment_of(group, [tuple(r) for r in replies]),  # type: ignore[misc]
        scanned_to=int(high or 0),  # later replies are read by the census; earlier ones predate the fix
    )
    session.add(window)
    await session.flush()
    return window


async def close_window(session: AsyncSession, group_id: int, status: str, now: dt.datetime) -> bool:
    """Decide the group's open window as `status`; False when it had none (or another run decided it)."""
    done = await session.execute(
        sa.update(V)
        .where(V.c.active_group_id == group_id, V.c.status == VERIFYING)
        .values(status=status, active_group_id=None, decided_at=now)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def window_for(
    session: AsyncSession, fingerprint: str, created_at: dt.datetime
) -> FixVerification | None:
    """The open window of a fixed group with this fingerprint that a reply created then falls in."""
    stmt = (
        sa.select(FixVerification)
        .where(
            FixVerification.status == VERIFYING,
            FixVerification.fingerprint == fingerprint,
            FixVerification.started_at <= created_at,
            FixVerification.ends_at > created_at,
        )
        .order_by(FixVerification.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest_window(session: AsyncSession, group_id: int) -> FixVerification | None:
    """The group's most recent verification (what its card and the export show)."""
    stmt = (
        sa.select(FixVerification)
        .where(FixVerification.group_id == group_id, FixVerification.status != CANCELLED)
        .order_by(FixVerification.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
