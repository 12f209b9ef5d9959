"""Fix verification: after a group is fixed, did the failure stop?

A fix opens a window (bot.defects.windows) over the replies created in the `[verify] days` after
it. `check_fixes` (every 15 minutes, by the scheduler) looks at each open window:

- the **census**: every reply ingested since the last look (all of them, not a sample) — how many
  belong to the group's segment (`traffic`), and how many carry the group's *finding fingerprint*
  (`matches`): a finding of a kind seen on the group's replies, and the group's fingerprint when
  filed under its category (bot.defects.filing.fingerprint);
- **new defects** in the group on replies created in the window (a reviewer filing one of the same
  fingerprint reopens the group at once: bot.defects.filing);
- **reviews**: the reviewed sample items of the segment created in the window (the sampler
  oversamples the segment while the window is open: bot.sample.verify).

Outcomes: *recurred* as soon as a matching reply or a new defect is seen (bot.defects.recurrence
reopens the group and its issue, once); *verified* once the window is over with at least `[verify]
min_reviews` reviewed items of the segment and no recurrence; *unverified* when, REVIEW_GRACE after
the window, there are still fewer (too little traffic, or no segment to sample).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import AuditConfig
from bot.core.models import Defect, DefectGroup, Finding, FixVerification, Reply, SampleItem
from bot.defects.effects import deliver_pending
from bot.defects.filing import fingerprint
from bot.defects.groups import locked_group
from bot.defects.queue import queue_card, queue_effect
from bot.defects.recurrence import recur
from bot.defects.windows import close_window
from bot.sample.frames import lock_replies
from bot.sample.verify import VERIFYING, in_segment
from bot.views.verification import segment_text

if TYPE_CHECKING:
    from bot.core.services import Services

log = logging.getLogger("auditbot.verification")

VERIFIED, UNVERIFIED = "verified", "unverified"
# The window's last replies are drawn the next sampling day and reviewed after that: an outcome
# short of reviews waits this long past the window's end for them.
REVIEW_GRACE = dt.timedelta(days=2)
PAGE = 2000  # replies the census reads per query


@dataclass
class VerifyReport:
    checked: int = 0
    recurred: int = 0
    verified: int = 0
    unverified: int = 0


async def check_fixes(services: Services) -> VerifyReport:
    """Look at every open verification window once; deliver what the outcomes queued."""
    report = VerifyReport()
    async with services.db.session() as session:
        ids = list(
            (
                await session.execute(
                    sa.select(FixVerification.id)
                    .where(FixVerification.status == VERIFYING)
                    .order_by(FixVerification.id)
                )
            ).scalars()
        )
    for window_id in ids:
        async with services.db.transaction() as session:
            outcome = await check_window(session, window_id, services.config, services.clock.now())
        report.checked += 1
        report.recurred += outcome == "recurred"
        report.verified += outcome == VERIFIED
        report.unverified += outcome == UNVERIFIED
    if report.recurred or report.verified or report.unverified:
        log.info("fixes: %s", report)
        await deliver_pending(services)
    return report


async def check_window(
    session: AsyncSession, window_id: int, config: AuditConfig, now: dt.datetime
) -> str | None:
    """The census, new defects and reviews of one window; its outcome if decided now, else None."""
    window = await session.get(FixVerification, window_id, populate_existing=True)
    if window is None or window.status != VERIFYING:
        return None
    group = await session.get(DefectGroup, window.group_id)
    assert group is not None
    # An import in flight holds reply ids it has not committed yet; the census reads past the last id
    # it saw, so it waits for such imports (as a sample draw does) rather than skip their replies.
    await lock_replies(session)
    cases = await census(session, window, group.category)
    cases += await new_defects(session, window)
    window.reviewed = await reviewed_items(session, window)
    if cases:
        return "recurred" if await recur(session, window, cases, config, now) is not None else None
    if now < window.ends_at:
        return None
    enough = window.segment is not None and window.reviewed >= config.verify.min_reviews
    if not enough and now < window.ends_at + REVIEW_GRACE:
        return None
    return await decide(session, window, VERIFIED if enough else UNVERIFIED, config, now)


async def census(session: AsyncSession, window: FixVerification, category: str) -> list[int]:
    """Read the replies ingested since the last look: count the segment's and those with the group's
    finding fingerprint (created in the window); the ids of the latter."""
    kinds = set(window.kinds or [])
    found: list[int] = []
    while True:
        rows = (
            await session.execute(
                sa.select(Reply.id, Reply.template_id, Reply.intent, Reply.kb_articles, Reply.created_at)
                .where(Reply.id > window.scanned_to)
                .order_by(Reply.id)
                .limit(PAGE)
            )
        ).all()
        if not rows:
            break
        inside = [row for row in rows if window.started_at <= row.created_at < window.ends_at]
        window.traffic += sum(
            in_segment(window.segment, template_id=r.template_id, intent=r.intent, kb_articles=r.kb_articles)
            for r in inside
        )
        if kinds and inside:
            found += await _matching(session, window, category, [r.id for r in inside], kinds)
        window.scanned_to = rows[-1].id
        if len(rows) < PAGE:
            break
    window.matches += len(found)
    return found


async def _matching(
    session: AsyncSession, window: FixVerification, category: str, reply_ids: list[int], kinds: set[str]
) -> list[int]:
    """Of these replies, those whose findings give the group's fingerprint."""
    findings: dict[int, list[Finding]] = {}
    for chunk in range(0, len(reply_ids), 500):
        part = reply_ids[chunk : chunk + 500]
        for finding in (
            await session.execute(sa.select(Finding).where(Finding.reply_id.in_(part)))
        ).scalars():
            findings.setdefault(finding.reply_id, []).append(finding)
    candidates = [rid for rid, found in findings.items() if kinds & {f.kind for f in found}]
    if not candidates:
        return []
    replies = (await session.execute(sa.select(Reply).where(Reply.id.in_(candidates)))).scalars()
    return sorted(
        reply.id  # type: ignore[misc]
        for reply in replies
        if fingerprint(category=category, reply=reply, findings=findings[reply.id]) == window.fingerprint  # type: ignore[index]
    )


async def new_defects(session: AsyncSession, window: FixVerification) -> list[int]:
    """Replies created in the window with a (not withdrawn) defect in the group filed since the fix."""
    stmt = (
        sa.select(Defect.reply_id)
        .join(Reply, Reply.id == Defect.reply_id)
        .where(
            Defect.group_id == window.group_id,
            Defect.status != "withdrawn",
            Defect.created_at > window.started_at,  # the group's defects when it was fixed are not new
            Reply.created_at >= window.started_at,
            Reply.created_at < window.ends_at,
        )
    )
    return list((await session.execute(stmt)).scalars())


async def reviewed_items(session: AsyncSession, window: FixVerification) -> int:
    """Sample items with an outcome whose reply is of the segment and created in the window."""
    if window.segment is None:
        return 0
    stmt = (
        sa.select(Reply.template_id, Reply.intent, Reply.kb_articles)
        .join(SampleItem, SampleItem.reply_id == Reply.id)
        .where(
            SampleItem.outcome.is_not(None),
            Reply.created_at >= window.started_at,
            Reply.created_at < window.ends_at,
        )
    )
    return sum(
        in_segment(window.segment, template_id=t, intent=i, kb_articles=kb)
        for t, i, kb in (await session.execute(stmt)).all()
    )


async def decide(
    session: AsyncSession, window: FixVerification, outcome: str, config: AuditConfig, now: dt.datetime
) -> str | None:
    """Close the window as verified/unverified; the card shows it and the thread says so, once."""
    group = await locked_group(session, window.group_id)
    if not await close_window(session, group.id, outcome, now):  # type: ignore[arg-type]
        return None
    await session.refresh(window)
    await queue_card(session, group, now)
    of = segment_text(window.segment)
    if outcome == VERIFIED:
        text = (
            f"✔️ *Fix verified*: no reply like this among the {window.traffic:,} of {of} in the "
            f"{config.verify.days} days after the fix, and {window.reviewed} reviewed without a recurrence."
        )
    else:
        text = (
            f"❔ *Fix unverified*: too little traffic to tell — {window.reviewed} of "
            f"{config.verify.min_reviews} reviews of {of} ({window.traffic:,} replies in the window); "
            "no recurrence seen."
        )
    payload = {"group_id": group.id, "text": text, "defect_id": None}
    key = f"slack.thread_post:g{group.id}:{outcome}:{window.id}"
    await queue_effect(session, "slack.thread_post", key, payload, now)
    return outcome
