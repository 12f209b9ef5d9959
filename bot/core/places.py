"""Where a button's target lives (its message) and who owns it: what a click is checked against."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import AuditConfig
from bot.core.models import DefectGroup, Finding, SampleItem


@dataclass(frozen=True)
class Place:
    """A sample item, defect group or occurrence: the message its buttons are on, and its owners."""

    id: int
    channel: str | None  # None: any channel (only the message ts is known)
    ts: str | None  # None: not posted, or its ts not stored yet
    owners: tuple[str, ...] = ()  # user (U…) and user group (S…) ids


async def item_place(session: AsyncSession, item_id: int) -> Place | None:
    item = await session.get(SampleItem, item_id)
    return None if item is None or item.id is None else Place(item.id, item.channel, item.message_ts)


async def finding_place(session: AsyncSession, finding_id: int) -> Place | None:
    """An automatic finding: its buttons are on the message of the sample item showing its reply."""
    finding = await session.get(Finding, finding_id)
    if finding is None or finding.id is None:
        return None
    stmt = sa.select(SampleItem).where(SampleItem.reply_id == finding.reply_id).order_by(SampleItem.id.desc())
    item = (await session.execute(stmt.limit(1))).scalar_one_or_none()
    return Place(finding.id, item.channel if item else None, item.message_ts if item else None)


async def group_place(session: AsyncSession, group_id: int, config: AuditConfig) -> Place | None:
    group = await session.get(DefectGroup, group_id)
    if group is None or group.id is None:
        return None
    return Place(group.id, group.channel, group.thread_ts, group_owners(group, config))


def group_owners(group: DefectGroup, config: AuditConfig) -> tuple[str, ...]:
    """Who owns the group's fix: whoever took it (or it was routed to), and the route's owner."""
    routed = config.route(group.category).owner
    return tuple(dict.fromkeys(owner for owner in (group.owner, routed) if owner))
