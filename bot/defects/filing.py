"""Filing defects with their root-cause group: a new defect, an edited one, a withdrawn one.

A defect joins the open group of its fingerprint (`fingerprint`: the stale article, else category
+ template, else detector kind + category, else category + the reply's words), made and routed by
`[[routing]]` if there is none. When the reviewer edits it, the group follows: a new category moves
it to the group of its new fingerprint (re-routed: a newly routed category gets its tracker issue),
a new severity re-ranks its group; both cards are refreshed. Effects are queued in the caller's
transaction (bot.defects.queue).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.core.config import AuditConfig
from bot.core.models import Defect, DefectGroup, Finding, Reply, Review, SampleItem
from bot.core.redact import safe_mrkdwn, truncate
from bot.defects import queue as effects
from bot.defects.groups import SEVERITIES, announce, locked_group, open_group, recount, rerank, severity_rank
from bot.defects.recurrence import recur
from bot.defects.windows import window_for
from bot.delivery.outbox import insert_ignore

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
    """Record the defect a review found, attach it to its group and queue its effects (caller commits).

    For a review that already filed one (the reviewer edited their defect), see `_edit_defect`.
    """
    item = await session.get(SampleItem, review.item_id)
    assert item is not None
    reply = await session.get(Reply, item.reply_id)
    assert reply is not None
    findings = list((await session.execute(select(Finding).where(Finding.reply_id == reply.id))).scalars())
    category = review.category or "other"
    severity = review.severity if review.severity in SEVERITIES else "medium"
    existing = (
        await session.execute(select(Defect).where(Defect.review_id == review.id))
    ).scalar_one_or_none()
    if existing is not None:
        return await _edit_defect(session, existing, review, reply, findings, config, now)
    group, created = await _join_open_group(session, category, severity, reply, findings, config, now)
    defect = Defect(
        review_id=review.id,  # type: ignore[arg-type]
        group_id=group.id,  # type: ignore[arg-type]
        reply_id=reply.id,  # type: ignore[arg-type]
        category=category,
        severity=severity,
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
    await _file_on_tracker(session, group, created, defect, config, now)
    if item.message_ts:
        await effects.queue_item_link(session, group, item, defect, now)
    if config.route(category).helpdesk_note or review.helpdesk_note:
        await effects.queue_helpdesk_note(session, defect, now)
    return defect


async def _join_open_group(
    session: AsyncSession,
    category: str,
    severity: str,
    reply: Reply,
    findings: list[Finding],
    config: AuditConfig,
    now: dt.datetime,
) -> tuple[DefectGroup, bool]:
    """The open group of the defect's fingerprint, locked (made, and routed, if there is none); and
    whether this call made it. A fixed group of that fingerprint whose fix is being verified, and
    whose window the reply was created in, recurred: it is reopened and the defect joins it."""
    key = fingerprint(category=category, reply=reply, findings=findings)
    if await open_group(session, key) is None:
        window = await window_for(session, key, reply.created_at)
        if window is not None:
            await recur(session, window, [reply.id], config, now)  # type: ignore[list-item]
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
        await session.execute(
            select(DefectGroup)
            .where(DefectGroup.open_key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if severity_rank(severity) > severity_rank(group.severity):
        group.severity = severity
    return group, created


async def _file_on_tracker(
    session: AsyncSession,
    group: DefectGroup,
    created: bool,
    defect: Defect,
    config: AuditConfig,
    now: dt.datetime,
) -> None:
    """A new routed group gets its issue; a later occurrence a comment on it."""
    if created and group.tracker != "none":
        route = config.route(group.category)
        await effects.queue_create_issue(session, group, project=route.project, labels=route.labels, now=now)
    elif group.occurrences > 1:
        await effects.queue_tracker_comment(session, group, now, defect_id=defect.id)


async def _edit_defect(
    session: AsyncSession,
    defect: Defect,
    review: Review,
    reply: Reply,
    findings: list[Finding],
    config: AuditConfig,
    now: dt.datetime,
) -> Defect:
    """The reviewer edited their defect (or took back a withdrawal): the group follows.

    A new category is a different root cause: the defect moves to the open group of its new
    fingerprint (made and routed if needed, so a now-routed category gets its tracker issue), and a
    group left without occurrences is closed as merged into it. A new severity re-ranks the group.
    Both cards are refreshed and the change is told in both threads.
    """
    was = f"{_label(defect.category)} · {defect.severity}"
    category = review.category or "other"
    severity = review.severity if review.severity in SEVERITIES else "medium"
    recategorised = category != defect.category
    resevered = severity != defect.severity
    reopened = defect.status == "withdrawn"  # the reviewer changed their mind back
    defect.category, defect.severity, defect.status = category, severity, "open"
    source = await locked_group(session, defect.group_id)
    by = f"<@{review.reviewer}>"
    if not recategorised:
        if reopened or resevered:  # a new note alone changes nothing the card shows
            await recount(session, source)
            await rerank(session, source)
            await effects.queue_card(session, source, now)
        if resevered:
            text = f"✏️ {by} changed an occurrence from {was} to *{_label(category)} · {severity}*."
            await effects.queue_thread_post(session, source, text, now)
        return defect
    target, created = await _join_open_group(session, category, severity, reply, findings, config, now)
    defect.group_id = target.id  # type: ignore[assignment]
    await session.flush()
    await recount(session, source)
    await recount(session, target)
    await rerank(session, source)
    await effects.queue_card(session, target, now)
    moved = f" (recategorised by {by} from {was})"
    text = occurrence_text(target, defect, review, reply) + moved
    await effects.queue_thread_post(session, target, text, now, defect.id, again=True)
    await _file_on_tracker(session, target, created, defect, config, now)
    text = f"🔀 {by} recategorised an occurrence ({was} → *{_label(category)} · {severity}*): "
    text += f"moved to *{safe_mrkdwn(target.title)}*."
    if source.occurrences == 0 and source.status == "open":  # nothing left: it lives on in the target
        source.status, source.open_key, source.merged_into_id = "merged", None, target.id
        text += " Nothing is left here, so this group is closed as merged into it."
        note = f"Its only occurrence was recategorised: merged into {target.tracker_url or target.title}"
        await announce(session, source, text, now, tracker_note=note, state="done")
    else:
        note = f"An occurrence was recategorised to {category}: moved to {target.tracker_url or target.title}"
        await announce(session, source, text, now, tracker_note=note)
    return defect


def _label(category: str) -> str:
    return safe_mrkdwn(category.replace("_", " "))


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
