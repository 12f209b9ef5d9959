"""Defects and their root-cause groups: one group per fingerprint while it is open.

Every change here queues its external effects (card edit, thread post, tracker issue or comment,
helpdesk note) through `bot.defects.queue` in the caller's transaction, so they commit together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.core.config import AuditConfig
from bot.core.models import Defect, DefectGroup, Finding, Reply, Review, SampleItem
from bot.core.redact import safe_mrkdwn, truncate
from bot.defects import queue as effects
from bot.delivery.outbox import insert_ignore

_WORDS = re.compile(r"\w+")
SEVERITIES = ["low", "medium", "high", "critical"]
CLOSED = ("fixed", "wont_fix", "merged")


class DefectError(ValueError):
    """A change that cannot be made (unknown group, merge into itself, group already closed)."""


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
    """Record the defect a review found, attach it to its group and queue its effects (caller commits)."""
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
        if existing.status == "withdrawn":  # the reviewer changed their mind back
            existing.status = "open"
            group = await locked_group(session, existing.group_id)
            await recount(session, group)
            await effects.queue_card(session, group, now)
        return existing
    key = fingerprint(category=category, reply=reply, findings=findings)
    route = config.route(category)
    created = await insert_ignore(
        session,
        DefectGroup,
        {
            "fingerprint": key,
            "open_key": key,
            "title": group_title(category=category, reply=reply, findings=findings),
            "category": category,
            "severity": severity,
            "status": "open",
            "occurrences": 0,
            "template_id": reply.template_id,
            "tracker": route.tracker,
            "owner": route.owner,
            "channel": route.channel or config.slack.defects_channel,
            "created_at": now,
        },
        "open_key",
    )
    # Whoever lost the race to create the open group joins the winner's (re-read, locked).
    group = (
        await session.execute(select(DefectGroup).where(DefectGroup.open_key == key).with_for_update())
    ).scalar_one()
    if SEVERITIES.index(severity) > severity_rank(group.severity):
        group.severity = severity
    defect = Defect(
        review_id=review.id,  # type: ignore[arg-type]
        group_id=group.id,  # type: ignore[arg-type]
        reply_id=reply.id,  # type: ignore[arg-type]
        category=category,
        severity=severity if severity in SEVERITIES else "medium",
        created_at=now,
    )
    session.add(defect)
    await session.flush()
    await recount(session, group)
    # The card first, so the issue (created next) can link to the defect thread.
    await effects.queue_card(session, group, now)
    await effects.queue_thread_post(
        session, group, occurrence_text(group, defect, review, reply), now, defect.id
    )
    if created and group.tracker != "none":
        await effects.queue_create_issue(session, group, project=route.project, labels=route.labels, now=now)
    elif group.occurrences > 1:
        await effects.queue_tracker_comment(session, group, now, defect_id=defect.id)
    if item.message_ts:
        await effects.queue_item_link(session, group, item, defect, now)
    if route.helpdesk_note or review.helpdesk_note:
        await effects.queue_helpdesk_note(session, defect, now)
    return defect


def occurrence_text(group: DefectGroup, defect: Defect, review: Review, reply: Reply) -> str:
    """The thread post for one occurrence: who caught it, the note, where it happened (mrkdwn)."""
    head = f"*Occurrence {group.occurrences}* · {defect.severity} · caught by <@{review.reviewer}>"
    lines = [head, f"Reply `{safe_mrkdwn(reply.external_id)}` on ticket {safe_mrkdwn(reply.ticket_id)}"]
    if review.note:
        lines.append("> " + truncate(safe_mrkdwn(" ".join(review.note.split())), 1200))
    return "\n".join(lines)


async def withdraw_defect(*, session: AsyncSession, review_id: int, now: dt.datetime) -> None:
    """A reviewer took a defect verdict back: it stops counting and the card says so."""
    defect = (await session.execute(select(Defect).where(Defect.review_id == review_id))).scalar_one_or_none()
    if defect is None or defect.status == "withdrawn":
        return
    defect.status = "withdrawn"
    group = await locked_group(session, defect.group_id)
    await recount(session, group)
    await effects.queue_card(session, group, now)


async def take_group(*, session: AsyncSession, group_id: int, user: str, now: dt.datetime) -> DefectGroup:
    """The clicker owns the fix; the card shows them."""
    group = await locked_group(session, group_id)
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
) -> DefectGroup:
    """Mark fixed (from the card, or because the tracker issue is done) and credit who caught it.

    `at`: when the tracker says it happened (default now); `fixed_at` is written once per fix."""
    group = await locked_group(session, group_id)
    if group.status == "fixed":
        return group
    group.status, group.fixed_at, group.open_key, group.reason = "fixed", now, None, None
    group.status_changed_at = at or now
    thanks = await reviewer_mentions(session, group.id)
    text = f"✅ Fixed{_by(user, via_tracker)}" + (f" — thanks {thanks} who caught it" if thanks else "")
    await _announce_state(session, group, text, now, via_tracker, f"Marked fixed in Slack by {user}.", "done")
    return group


async def wont_fix_group(
    *, session: AsyncSession, group_id: int, user: str, reason: str, now: dt.datetime
) -> DefectGroup:
    """Close without a fix; the reason is on the card and the reviewers are told in the thread."""
    group = await locked_group(session, group_id)
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
    holder = await open_group(session, group.fingerprint)
    group.status, group.fixed_at, group.reason, group.merged_into_id = "open", None, None, None
    group.status_changed_at = at or now
    group.open_key = group.fingerprint if holder is None else None
    text = f"🔁 Reopened{_by(user, via_tracker)}."
    await _announce_state(session, group, text, now, via_tracker, "Reopened in Slack.", "open")
    return group


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


async def group_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(sa.select(DefectGroup.status, sa.func.count()).group_by(DefectGroup.status))
    return {status: count for status, count in rows.all()}
