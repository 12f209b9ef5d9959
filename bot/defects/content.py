"""What a tracker issue, an issue comment and a helpdesk note say about a defect group.

Customer and AI text is redacted (emails, phones, card numbers) here; each vendor module then
makes it inert in its own format (ADF text nodes, escaped Markdown, HTML).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Defect, DefectGroup, Reply, Review, SampleItem
from bot.core.redact import redact, truncate
from integrations.base import IssueDraft, Section

EXAMPLE_MAX = 4000


def marker_for(group: DefectGroup) -> str:
    """The label/text that names this group on the tracker, stable across retries and restarts."""
    seed = f"{group.fingerprint}|{group.created_at.isoformat()}"
    return f"auditbot-defect-{group.id}-{hashlib.sha1(seed.encode()).hexdigest()[:8]}"


def slack_link(channel: str | None, ts: str | None) -> str | None:
    """A link to a Slack message (Slack redirects it to the workspace)."""
    if not channel or not ts:
        return None
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _clean(text: str | None, limit: int = EXAMPLE_MAX) -> str:
    return truncate(redact(text or ""), limit)


async def _occurrence(
    session: AsyncSession, defect: Defect
) -> tuple[Reply, Review | None, SampleItem | None]:
    reply = await session.get(Reply, defect.reply_id)
    review = await session.get(Review, defect.review_id)
    item = await session.get(SampleItem, review.item_id) if review else None
    assert reply is not None
    return reply, review, item


def _example_sections(reply: Reply, review: Review | None) -> list[Section]:
    sections = []
    if reply.customer_message:
        sections.append(Section("Customer message (example)", _clean(reply.customer_message), quote=True))
    sections.append(Section("AI reply (example)", _clean(reply.reply), quote=True))
    if review and review.note:
        sections.append(Section("What is wrong (reviewer's note)", _clean(review.note)))
    if review and review.expected:
        sections.append(Section("Expected answer", _clean(review.expected), quote=True))
    return sections


def _links(group: DefectGroup, reply: Reply, item: SampleItem | None) -> list[tuple[str, str]]:
    links = []
    thread = slack_link(group.channel, group.thread_ts)
    if thread:
        links.append(("Defect thread in Slack", thread))
    sample = slack_link(item.channel, item.message_ts) if item else None
    if sample:
        links.append(("Reviewed AI reply in Slack", sample))
    if reply.ticket_url:
        links.append((f"Ticket {reply.ticket_id}", reply.ticket_url))
    return links


async def first_defect(session: AsyncSession, group_id: int) -> Defect | None:
    stmt = (
        sa.select(Defect)
        .where(Defect.group_id == group_id, Defect.status != "withdrawn")
        .order_by(Defect.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def build_draft(
    session: AsyncSession, group: DefectGroup, *, project: str | None, labels: Sequence[str]
) -> IssueDraft:
    """Title, category, severity, occurrences, a redacted example, the reviewer's note and answer, links."""
    summary = [
        f"Category: {group.category}",
        f"Severity: {group.severity}",
        f"Occurrences so far: {group.occurrences}",
    ]
    if group.template_id:
        summary.append(f"Template: {group.template_id}")
    summary.append("Found by auditbot: reviewers flagged these AI replies in the daily sample.")
    sections = [Section("Summary", "\n".join(summary))]
    links: list[tuple[str, str]] = []
    defect = await first_defect(session, group.id)  # type: ignore[arg-type]
    if defect is not None:
        reply, review, item = await _occurrence(session, defect)
        sections += _example_sections(reply, review)
        links = _links(group, reply, item)
    return IssueDraft(
        title=f"[auditbot] {group.title}",
        sections=sections,
        marker=marker_for(group),
        project=project,
        labels=tuple(labels),
        links=tuple(links),
    )


async def occurrence_sections(session: AsyncSession, group: DefectGroup, defect_id: int) -> list[Section]:
    """An issue comment for a later occurrence of the same root cause."""
    defect = await session.get(Defect, defect_id)
    assert defect is not None
    reply, review, item = await _occurrence(session, defect)
    head = (
        f"Another occurrence ({group.occurrences} in total so far). Severity: {defect.severity}. "
        f"Reply {reply.external_id} on ticket {reply.ticket_id}."
    )
    sections = [Section("New occurrence", head), *_example_sections(reply, review)]
    links = _links(group, reply, item)
    if links:
        sections.append(Section("Links", "\n".join(f"{label}: {url}" for label, url in links)))
    return sections


async def note_body(session: AsyncSession, defect: Defect, group: DefectGroup) -> str:
    """The internal helpdesk note: what the reviewer found, the corrected reply, where the fix is tracked.

    The corrected reply (the reviewer's answer in the defect modal) stands in its own paragraph, so
    an agent following up on the ticket can copy it.
    """
    _, review, _ = await _occurrence(session, defect)
    lines = [
        f"auditbot: a reviewer marked the AI reply on this ticket as a defect "
        f"({defect.category.replace('_', ' ')}, severity {defect.severity}).",
    ]
    if review and review.note:
        lines.append(f"What is wrong: {_clean(review.note, 2000)}")
    if group.tracker_url:
        lines.append(f"Tracked in: {group.tracker_url}")
    if review and review.expected and review.expected.strip():
        lines += ["", "Corrected reply (what the reviewer says the AI should have answered):"]
        lines.append(_clean(review.expected.strip(), 4000))
    return "\n".join(lines)
