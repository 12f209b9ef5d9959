"""Root-cause groups and their lifecycle: take, fixed, won't fix, reopen; the card and thread posts.

Defects join their groups in bot.defects.filing. Every change here queues its external effects
(card edit, thread post, tracker issue or comment) through `bot.defects.queue` in the caller's
transaction, so they commit together. Lifecycle actions apply to open groups only (`require_open`
says why not, for the clicker's ephemeral answer).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.core.config import AuditConfig
from bot.core.db import is_rerun
from bot.core.models import Defect, DefectGroup, Review
from bot.core.redact import safe_mrkdwn, truncate
from bot.defects import queue as effects
from bot.defects.windows import CANCELLED, close_window, open_window

SEVERITIES = ["low", "medium", "high", "critical"]
CLOSED = ("fixed", "wont_fix", "merged")


class DefectError(ValueError):
    """A change that cannot be made (unknown group, merge into itself, group already closed)."""


async def take_group(*, session: AsyncSession, group_id: int, user: str, now: dt.datetime) -> DefectGroup:
    """The clicker owns the fix; the card shows them. Taking a group one owns already changes
    nothing (a second click, or the same change run again after a lost connection)."""
    group = await locked_group(session, group_id)
    await require_open(session, group, "take it")
    if group.owner == user:
        return group
    group.owner = user
    await announce(session, group, f"🙋 <@{user}> took this.", now, tracker_note=f"Taken in Slack by {user}.")
    return group


async def fix_group(
    *,
    session: AsyncSession,
    group_id: int,
    now: dt.datetime,
    user: str | None = None,
    via_tracker: bool = False,
    at: dt.datetime | None = None,
    config: AuditConfig | None = None,
) -> DefectGroup:
    """Mark fixed (from the card, `/audit fixed`, or because the tracker issue is done), credit who
    caught it, and open the fix's verification window (`config.verify`; bot.defects.windows).

    `at`: when the tracker says it happened (default now); `fixed_at` is written once per fix."""
    group = await locked_group(session, group_id)
    if group.status == "fixed" and (via_tracker or is_rerun()):
        return group  # the tracker says so again, or this click's first run landed unanswered
    if not via_tracker:
        await require_open(session, group, "mark it fixed")
    group.status, group.fixed_at, group.open_key, group.reason = "fixed", now, None, None
    group.status_changed_at = at or now
    await open_window(session, group, now, config.verify if config else None)
    thanks = await reviewer_mentions(session, group.id)
    text = f"✅ Fixed{_by(user, via_tracker)}" + (f" — thanks {thanks} who caught it" if thanks else "")
    await _announce_state(session, group, text, now, via_tracker, f"Marked fixed in Slack by {user}.", "done")
    return group


async def wont_fix_group(
    *, session: AsyncSession, group_id: int, user: str, reason: str, now: dt.datetime
) -> DefectGroup:
    """Close without a fix; the reason is on the card and the reviewers are told in the thread."""
    group = await locked_group(session, group_id)
    if group.status == "wont_fix" and is_rerun():
        return group  # this submission's first run landed unanswered
    await require_open(session, group, "close it as won't fix")
    group.status, group.reason, group.open_key, group.fixed_at = "wont_fix", reason.strip()[:2000], None, None
    group.status_changed_at = now
    cc = await reviewer_mentions(session, group.id)
    text = f"🚫 Won't fix (<@{user}>): {truncate(safe_mrkdwn(group.reason or ''), 1500)}"
    text += f"\ncc {cc}" if cc else ""
    await announce(session, group, text, now, tracker_note=f"Won't fix: {group.reason}", state="done")
    return group


async def reopen_group(
    *,
    session: AsyncSession,
    group_id: int,
    now: dt.datetime,
    user: str | None = None,
    via_tracker: bool = False,
    at: dt.datetime | None = None,
) -> DefectGroup:
    """Reopen a closed group; it takes its fingerprint back unless another open group holds it."""
    group = await locked_group(session, group_id)
    if group.status == "open":
        return group
    await close_window(session, group.id, CANCELLED, now)  # type: ignore[arg-type]
    take_back(group, await open_group(session, group.fingerprint), at or now)
    text = f"🔁 Reopened{_by(user, via_tracker)}."
    await _announce_state(session, group, text, now, via_tracker, "Reopened in Slack.", "open")
    return group


def take_back(group: DefectGroup, holder: DefectGroup | None, at: dt.datetime) -> None:
    """Open the group again: it takes its fingerprint back unless `holder`, another open group, has it."""
    group.status, group.fixed_at, group.reason, group.merged_into_id = "open", None, None, None
    group.status_changed_at = at
    group.open_key = group.fingerprint if holder is None else None


def _by(user: str | None, via_tracker: bool) -> str:
    return f" by <@{user}>" if user else (" on the tracker" if via_tracker else "")


async def _announce_state(
    session: AsyncSession,
    group: DefectGroup,
    text: str,
    now: dt.datetime,
    via_tracker: bool,
    tracker_note: str,
    state: str,
) -> None:
    """A status change; one that came from the tracker is not sent back to it."""
    await announce(
        session,
        group,
        text,
        now,
        tracker_note=None if via_tracker else tracker_note,
        state=None if via_tracker else state,
    )


async def open_group(session: AsyncSession, key: str) -> DefectGroup | None:
    stmt = select(DefectGroup).where(DefectGroup.open_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_group(session: AsyncSession, group_id: int | None) -> DefectGroup | None:
    return await session.get(DefectGroup, group_id) if group_id is not None else None


async def group_of_defect(session: AsyncSession, defect_id: int) -> int | None:
    defect = await session.get(Defect, defect_id)
    return defect.group_id if defect else None


async def open_groups(
    session: AsyncSession, *, exclude: int | None = None, limit: int = 100
) -> list[DefectGroup]:
    """Open groups, most occurrences first (what the Merge and Move modals offer)."""
    stmt = select(DefectGroup).where(DefectGroup.status == "open")
    if exclude is not None:
        stmt = stmt.where(DefectGroup.id != exclude)
    stmt = stmt.order_by(DefectGroup.occurrences.desc(), DefectGroup.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def group_by_reference(session: AsyncSession, reference: str) -> DefectGroup | None:
    """A group named by its number (`7`, `#7`) or its tracker issue's key (`SUP-12`)."""
    text = reference.strip().removeprefix("#")
    if text.isdigit() and len(text) < 10:
        return await session.get(DefectGroup, int(text))
    stmt = select(DefectGroup).where(DefectGroup.tracker_key == text).order_by(DefectGroup.id.desc())
    return (await session.execute(stmt.limit(1))).scalars().first()


async def group_for_issue(session: AsyncSession, tracker: str, key: str) -> DefectGroup | None:
    stmt = select(DefectGroup).where(DefectGroup.tracker == tracker, DefectGroup.tracker_key == key)
    return (await session.execute(stmt.order_by(DefectGroup.id))).scalars().first()


async def reviewers(session: AsyncSession, group_id: int) -> list[str]:
    """Who caught the group's defects, first catch first."""
    stmt = (
        sa.select(Review.reviewer, sa.func.min(Defect.id))
        .join(Defect, Defect.review_id == Review.id)
        .where(Defect.group_id == group_id, Defect.status != "withdrawn")
        .group_by(Review.reviewer)
        .order_by(sa.func.min(Defect.id))
    )
    return [row[0] for row in (await session.execute(stmt)).all()]


async def reviewer_mentions(session: AsyncSession, group_id: int) -> str:
    return ", ".join(f"<@{r}>" for r in await reviewers(session, group_id))


async def announce(
    session: AsyncSession,
    group: DefectGroup,
    text: str,
    now: dt.datetime,
    *,
    tracker_note: str | None = None,
    state: str | None = None,
) -> None:
    """Edit the card, post the change in its thread, and tell the tracker where it listens."""
    await session.flush()
    await effects.queue_card(session, group, now)
    await effects.queue_thread_post(session, group, text, now)
    if group.tracker != "none" and tracker_note:
        await effects.queue_tracker_comment(session, group, now, text=tracker_note)
    if group.tracker != "none" and state:
        await effects.queue_set_state(session, group, state, now)


async def require_open(session: AsyncSession, group: DefectGroup, action: str) -> None:
    """Lifecycle actions apply to open groups only: say why not, in words the clicker can act on."""
    if group.status == "open":
        return
    if group.status == "merged":
        target = await get_group(session, group.merged_into_id)
        where = f"“{target.title}”" if target is not None else "another group"
        raise DefectError(f"this group was merged into {where}; to {action}, use that group's card")
    state = {"fixed": "is already fixed", "wont_fix": "is closed as won't fix"}.get(group.status, "is closed")
    raise DefectError(f"this group {state}, so there is nothing to {action.split(' ')[0]}")


async def rerank(session: AsyncSession, group: DefectGroup) -> None:
    """The group's severity: the highest of its counted defects' (kept as it is when none is left)."""
    rank = sa.case({s: i for i, s in enumerate(SEVERITIES)}, value=Defect.severity, else_=1)
    stmt = sa.select(sa.func.max(rank)).where(Defect.group_id == group.id, Defect.status != "withdrawn")
    top = (await session.execute(stmt)).scalar_one_or_none()
    if top is not None:
        group.severity = SEVERITIES[int(top)]


async def locked_group(session: AsyncSession, group_id: int) -> DefectGroup:
    stmt = (
        select(DefectGroup)
        .where(DefectGroup.id == group_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    group = (await session.execute(stmt)).scalar_one_or_none()
    if group is None:
        raise DefectError(f"defect group {group_id} does not exist")
    return group


async def recount(session: AsyncSession, group: DefectGroup) -> None:
    await session.flush()
    count = await session.execute(
        sa.select(sa.func.count()).where(Defect.group_id == group.id, Defect.status != "withdrawn")
    )
    group.occurrences = int(count.scalar_one())
    await session.flush()


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1
