"""Defects and their root-cause groups: one group per fingerprint while it is open."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.config import AuditConfig
from bot.models import Defect, DefectGroup, Finding, Reply, Review

_WORDS = re.compile(r"\w+")


def fingerprint(*, category: str, reply: Reply, findings: list[Finding]) -> str:
    """Root cause key: category + template; the stale article; detector kind + template; else text."""
    stale = next((f for f in findings if f.kind == "stale_kb"), None)
    if category == "outdated_kb" and stale and stale.evidence:
        return f"kb:{stale.evidence.get('article_id')}"
    if reply.template_id:
        return f"tpl:{category}:{reply.template_id}"
    kinds = sorted(f.kind for f in findings)
    if kinds:
        return f"det:{kinds[0]}:{category}"
    words = " ".join(_WORDS.findall((reply.reply or "").casefold()))
    return f"txt:{category}:{hashlib.sha1(words.encode()).hexdigest()[:16]}"


def group_title(*, category: str, reply: Reply, findings: list[Finding]) -> str:
    label = category.replace("_", " ").capitalize()
    if reply.template_id:
        return f"{label} in template {reply.template_id}"[:255]
    if findings:
        return f"{label}: {findings[0].kind.replace('_', ' ')}"[:255]
    return f"{label} in an AI reply"[:255]


async def file_defect(
    *, session: AsyncSession, review: Review, config: AuditConfig, now: dt.datetime
) -> Defect:
    """Record the defect a review found and attach it to its group (caller commits)."""
    from bot.models import SampleItem

    item = await session.get(SampleItem, review.item_id)
    assert item is not None
    reply = await session.get(Reply, item.reply_id)
    assert reply is not None
    findings = list((await session.execute(select(Finding).where(Finding.reply_id == reply.id))).scalars())
    category = review.category or "other"
    severity = review.severity or "medium"
    existing = (
        await session.execute(select(Defect).where(Defect.review_id == review.id))
    ).scalar_one_or_none()
    if existing is not None:
        existing.category, existing.severity = category, severity
        return existing
    key = fingerprint(category=category, reply=reply, findings=findings)
    group = await _open_group(session, key)
    if group is None:
        route = config.route(category)
        group = DefectGroup(
            fingerprint=key,
            open_key=key,
            title=group_title(category=category, reply=reply, findings=findings),
            category=category,
            severity=severity,
            template_id=reply.template_id,
            tracker=route.tracker,
            owner=route.owner,
            channel=route.channel or config.slack.defects_channel,
            created_at=now,
        )
        session.add(group)
        await session.flush()
    group.occurrences += 1
    if _rank(severity) > _rank(group.severity):
        group.severity = severity
    defect = Defect(
        review_id=review.id,
        group_id=group.id,
        reply_id=reply.id,
        category=category,
        severity=severity,
        created_at=now,
    )
    session.add(defect)
    await session.flush()
    return defect


async def _open_group(session: AsyncSession, key: str) -> DefectGroup | None:
    stmt = select(DefectGroup).where(DefectGroup.open_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


def _rank(severity: str) -> int:
    order = ["low", "medium", "high", "critical"]
    return order.index(severity) if severity in order else 1


async def group_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(sa.select(DefectGroup.status, sa.func.count()).group_by(DefectGroup.status))
    return {status: count for status, count in rows.all()}
