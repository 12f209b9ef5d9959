"""Regrouping by root cause: merge a group into another, move one defect, or split it off."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import AuditConfig
from bot.core.models import Defect, DefectGroup
from bot.core.redact import safe_mrkdwn
from bot.defects import queue as effects
from bot.defects.groups import DefectError, announce, locked_group, recount, require_open, severity_rank


async def merge_group(
    *, session: AsyncSession, group_id: int, into_id: int, user: str, now: dt.datetime
) -> DefectGroup:
    """Move every defect of the group into another open group and close it as merged."""
    if group_id == into_id:
        raise DefectError("a group cannot be merged into itself")
    source, target = await locked_group(session, group_id), await locked_group(session, into_id)
    await require_open(session, source, "merge it")
    if target.status != "open":
        raise DefectError(f"group {into_id} is not open")
    await session.execute(sa.update(Defect).where(Defect.group_id == source.id).values(group_id=target.id))
    source.status, source.open_key, source.merged_into_id = "merged", None, target.id
    source.status_changed_at = now
    target.severity = max(source.severity, target.severity, key=severity_rank)
    await recount(session, target)
    await announce(
        session,
        source,
        f"↪️ <@{user}> merged this into *{safe_mrkdwn(target.title)}*.",
        now,
        tracker_note=f"Merged into: {target.tracker_url or target.title}",
        state="done",
    )
    text = (
        f"↩️ <@{user}> merged *{safe_mrkdwn(source.title)}* into this ({target.occurrences} occurrences now)."
    )
    await announce(
        session, target, text, now, tracker_note=f"Merged in: {source.tracker_url or source.title}"
    )
    return target


async def move_defect(
    *, session: AsyncSession, defect_id: int, to_group_id: int, user: str, now: dt.datetime
) -> DefectGroup:
    """Move one defect to another open group (a reviewer regrouping by root cause)."""
    defect = await session.get(Defect, defect_id)
    if defect is None:
        raise DefectError(f"defect {defect_id} does not exist")
    if defect.group_id == to_group_id:
        return await locked_group(session, to_group_id)
    source, target = await locked_group(session, defect.group_id), await locked_group(session, to_group_id)
    await require_open(session, source, "move its occurrences")
    if target.status != "open":
        raise DefectError(f"group {to_group_id} is not open")
    defect.group_id = target.id  # type: ignore[assignment]
    await session.flush()
    await recount(session, source)
    await recount(session, target)
    await announce(session, source, f"➡️ <@{user}> moved an occurrence to *{safe_mrkdwn(target.title)}*.", now)
    await announce(
        session, target, f"⬅️ <@{user}> moved an occurrence here from *{safe_mrkdwn(source.title)}*.", now
    )
    if target.tracker != "none":
        await effects.queue_tracker_comment(session, target, now, defect_id=defect.id)
    return target


async def split_defect(
    *, session: AsyncSession, defect_id: int, user: str, config: AuditConfig, now: dt.datetime
) -> DefectGroup:
    """Take one defect out of its group into a new group of its own (a different root cause)."""
    defect = await session.get(Defect, defect_id)
    if defect is None:
        raise DefectError(f"defect {defect_id} does not exist")
    source = await locked_group(session, defect.group_id)
    await require_open(session, source, "split its occurrences")
    route = config.route(defect.category)
    key = f"{source.fingerprint}|split:{defect.id}"
    group = DefectGroup(
        fingerprint=key,
        open_key=key,
        title=f"{source.title} (split)"[:255],
        category=defect.category,
        severity=defect.severity,
        template_id=source.template_id,
        tracker=route.tracker,
        owner=route.owner,
        channel=route.channel or config.slack.defects_channel,
        created_at=now,
    )
    session.add(group)
    await session.flush()
    defect.group_id = group.id  # type: ignore[assignment]
    await session.flush()
    await recount(session, source)
    await recount(session, group)
    if group.tracker != "none":
        await effects.queue_create_issue(session, group, project=route.project, labels=route.labels, now=now)
    await announce(
        session, source, f"✂️ <@{user}> split an occurrence into *{safe_mrkdwn(group.title)}*.", now
    )
    await announce(session, group, f"✂️ <@{user}> split this from *{safe_mrkdwn(source.title)}*.", now)
    return group
