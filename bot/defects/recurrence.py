"""A fix that did not hold: its group reopened, its tracker issue reopened and told the new cases,
its owner called in the group's thread — once.

`recur` runs in the transaction that found the recurrence (the census in bot.defects.verification,
or a reviewer filing a defect of the same fingerprint in bot.defects.filing). It locks the group and
decides the window with one conditional UPDATE (`verifying` → `recurred`), and queues the effects
only when that UPDATE took, under keys of the window's own: two runs at once, or a run repeated,
reopen the issue once and post once.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import AuditConfig
from bot.core.models import DefectGroup, Finding, FixVerification, Reply
from bot.core.places import group_owners
from bot.core.redact import redact, safe_mrkdwn, truncate
from bot.defects.groups import locked_group, open_group, reviewers, take_back
from bot.defects.queue import queue_card, queue_effect
from bot.defects.windows import V, close_window
from bot.views.defect import mention
from bot.views.verification import slack_date
from integrations.base import Section

RECURRED = "recurred"
MAX_CASES = 5  # new cases named in the thread post and the tracker comment
CASE_TEXT = 1500  # characters of each case's AI reply in the tracker comment


async def recur(
    session: AsyncSession,
    window: FixVerification,
    cases: list[int],
    config: AuditConfig,
    now: dt.datetime,
) -> DefectGroup | None:
    """Decide `window` as recurred (the reply ids in `cases` show the defect again) and reopen its
    group, its issue and its thread; None when the window was decided already."""
    group = await locked_group(session, window.group_id)
    if not await close_window(session, group.id, RECURRED, now):  # type: ignore[arg-type]
        return None
    named = sorted(set(cases))[:MAX_CASES]
    await session.execute(
        sa.update(V)
        .where(V.c.id == window.id)
        .values(cases=named, matches=window.matches, traffic=window.traffic, reviewed=window.reviewed)
    )
    await session.refresh(window)
    if group.status == "fixed":
        take_back(group, await open_group(session, group.fingerprint), now)
    await session.flush()
    await queue_card(session, group, now)
    key = f"g{group.id}:recurred:{window.id}"
    text = await _thread_text(session, group, window, named, len(set(cases)), config)
    payload = {"group_id": group.id, "text": text, "defect_id": None}
    await queue_effect(session, "slack.thread_post", f"slack.thread_post:{key}", payload, now)
    if group.tracker != "none":
        state = {"group_id": group.id, "state": "open"}
        await queue_effect(session, "tracker.set_state", f"tracker.set_state:{key}", state, now)
        comment = {"group_id": group.id, "defect_id": None, "text": None, "verification_id": window.id}
        await queue_effect(session, "tracker.comment", f"tracker.comment:{key}", comment, now)
    return group


async def _cases(session: AsyncSession, reply_ids: list[int]) -> list[tuple[Reply, list[str]]]:
    """The replies and the finding kinds on each, in id order."""
    if not reply_ids:
        return []
    replies = (await session.execute(sa.select(Reply).where(Reply.id.in_(reply_ids)))).scalars()
    kinds: dict[int, list[str]] = {}
    rows = await session.execute(
        sa.select(Finding.reply_id, Finding.kind)
        .where(Finding.reply_id.in_(reply_ids))
        .order_by(Finding.kind)
    )
    for reply_id, kind in rows:
        kinds.setdefault(reply_id, []).append(kind)
    return [(reply, kinds.get(reply.id, [])) for reply in sorted(replies, key=lambda r: r.id or 0)]  # type: ignore[arg-type]


async def _thread_text(
    session: AsyncSession,
    group: DefectGroup,
    window: FixVerification,
    named: list[int],
    count: int,
    config: AuditConfig,
) -> str:
    """The thread post: the owner called, the new cases named (ids only: no customer text)."""
    who = [mention(o) for o in group_owners(group, config)] or [
        mention(r)
        for r in await reviewers(session, group.id)  # type: ignore[arg-type]
    ]
    cases = "case" if count == 1 else "cases"
    lines = [
        f"🔁 *The fix did not hold*: {count} new {cases} since it was fixed {slack_date(window.started_at)}."
        f" {', '.join(who) or 'Nobody owns it'} — the group is open again"
        + (" and its issue reopened." if group.tracker != "none" else ".")
    ]
    for reply, kinds in await _cases(session, named):
        seen = ", ".join(k.replace("_", " ") for k in kinds) or "found by a reviewer"
        where = f"`{safe_mrkdwn(reply.external_id)}` on ticket {safe_mrkdwn(reply.ticket_id)}"
        lines.append(f"• Reply {where} ({safe_mrkdwn(seen)})")
    if count > len(named):
        lines.append(f"…and {count - len(named)} more")
    return "\n".join(lines)


async def recurrence_sections(session: AsyncSession, window_id: int) -> list[Section]:
    """The tracker comment: the fix did not hold, and each new case (customer text redacted)."""
    window = await session.get(FixVerification, window_id)
    if window is None:
        return [Section("Update from auditbot", "The fix did not hold: the defect was seen again.")]
    when = window.started_at.strftime("%Y-%m-%d %H:%M UTC")
    named = list(window.cases or [])
    sections = [
        Section(
            "The fix did not hold",
            f"Replies created after the fix ({when}) show this defect again, so auditbot reopened this "
            f"issue. New cases: {len(named)}"
            + (" (the first shown)." if window.matches > len(named) else "."),
        )
    ]
    for reply, kinds in await _cases(session, named):
        found = ", ".join(kinds) or "a reviewer confirmed the defect"
        head = f"Reply {reply.external_id} on ticket {reply.ticket_id} ({found})"
        sections.append(
            Section(truncate(redact(head), 300), truncate(redact(reply.reply), CASE_TEXT), quote=True)
        )
    return sections
