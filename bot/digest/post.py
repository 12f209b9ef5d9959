"""The weekly digest: computed, rendered and posted once per (channel, week), with its chart.

The (channel, week) row in `digest_posts` is claimed before anything is posted, so a second run
(another replica, a rerun of the CLI, the scheduler catching up after a restart) posts nothing.
A run that failed before the message went out releases its claim; one that failed after it
resumes with the chart once the claim is stale.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from slack_sdk.models.blocks import Block
from sqlalchemy.dialects import postgresql, sqlite

from bot.core import weeks
from bot.core.config import WEEKDAYS, AuditConfig
from bot.core.db import Database
from bot.core.models import DigestPost, SampleBatch
from bot.core.settings import ConfigError
from bot.digest.breakdown import Breakdown, compute_breakdown
from bot.digest.chart import render_chart
from bot.digest.checks import check_precision
from bot.digest.message import build_digest, digest_text
from bot.digest.rollup import Rollup, compute_rollup
from bot.digest.verified import fixes_of_week
from bot.judge.agreement import shown as judge_agreement
from bot.sample.draw import ensure_batch, frames_reach, local_midnight, local_today

if TYPE_CHECKING:
    from bot.core.services import Services

log = logging.getLogger("auditbot.digest")

STALE_CLAIM = dt.timedelta(minutes=15)  # a claim this old with no finished post is taken over
POSTED, POSTING = "posted", "posting"


@dataclass(frozen=True)
class Digest:
    week: str
    rollup: Rollup
    blocks: list[Block]
    text: str
    breakdown: Breakdown | None = None

    def blocks_json(self) -> list[dict]:
        return [block.to_dict() for block in self.blocks]

    def chart(self) -> bytes:
        """The PNG: the trend with its band, the census per kind, defects by category."""
        return render_chart(self.rollup, self.breakdown.census if self.breakdown else None)


def digest_channel(config: AuditConfig) -> str:
    channel = config.slack.digest_channel
    if not channel:
        raise ConfigError("[slack] digest_channel is not set (or set DIGEST_CHANNEL)")
    return channel


async def compose(db: Database, config: AuditConfig, week: str, now: dt.datetime) -> Digest:
    """The week's rollup and its message, posted nowhere."""
    tz = config.slack.tz
    async with db.session() as session:
        rollup = await compute_rollup(session, week=week, tz=tz, now=now)
        judge = await judge_agreement(session, config, until=rollup.end)
        checks = await check_precision(
            session, since=rollup.start, until=rollup.end, detectors=config.detectors
        )
        breakdown = await compute_breakdown(
            session, week=week, tz=tz, start=rollup.start, end=rollup.end, now=now
        )
        fixes = await fixes_of_week(
            session, start=rollup.start, end=rollup.end, min_reviews=config.verify.min_reviews
        )
    blocks = build_digest(rollup, tz, judge, checks, breakdown=breakdown, fixes=fixes)
    return Digest(week, rollup, blocks, digest_text(rollup), breakdown)


async def post_weekly_digest(services: Services, week: str | None = None) -> DigestPost | None:
    """Post the digest for `week` (default: the last complete week); None when it was posted already."""
    config, now = services.config, services.clock.now()
    channel = digest_channel(config)
    week = week or weeks.last_complete(now, config.slack.tz)
    if services.client is None:
        raise RuntimeError("posting the digest needs a Slack client")
    post = await claim(services.db, channel, week, now)
    if post is None:
        log.info("digest %s for %s: already posted or being posted", week, channel)
        return None
    try:
        await draw_covering_frame(services, week)
    except Exception:
        await release(services.db, post.id)
        raise
    digest = await compose(services.db, config, week, now)
    if post.message_ts is None:
        try:
            response = await services.client.chat_postMessage(
                channel=channel, text=digest.text, blocks=digest.blocks_json(), unfurl_links=False
            )
        except Exception:
            await release(services.db, post.id)  # nothing went out: let the next run try again
            raise
        post = await _update(services.db, post.id, message_ts=response["ts"])
    await services.client.files_upload_v2(
        channel=channel,
        content=digest.chart(),
        filename=f"auditbot-digest-{week}.png",
        title=f"Defect rate, checks per kind and defects by category, {week}",
        initial_comment=(
            f"📈 Defect-rate trend with its 95% band, the checks' census per kind (8 weeks), "
            f"and defects by category for {week}"
        ),
    )
    post = await _update(services.db, post.id, status=POSTED, posted_at=services.clock.now())
    log.info("digest %s posted to %s", week, channel)
    return post


async def draw_covering_frame(services: Services, week: str) -> SampleBatch | None:
    """Draw today's sample frame first when it is the one that covers the end of `week`.

    With the default schedule (digest Monday 09:00, sample Monday 09:30) Monday's frame holds
    Friday to Sunday: drawn now, those replies count as sampled (not yet reviewed) instead of
    not yet sampled. The sample job then posts the same batch. Nothing happens on a day without a
    scheduled sample, or when earlier frames already reach the week's end.
    """
    config, now = services.config, services.clock.now()
    if not config.slack.audit_channel or not config.sampling.days:
        return None
    tz = config.slack.tz
    today = local_today(config, now)
    if WEEKDAYS[today.weekday()] not in config.sampling.days:
        return None
    _, end = weeks.bounds(week, tz)
    reach = await frames_reach(services.db)
    if local_midnight(today, tz) < end or (reach is not None and reach >= end):
        return None
    log.info("digest %s: drawing the sample of %s first, which covers the week's end", week, today)
    return await ensure_batch(services.db, config, today, now)


async def claim(db: Database, channel: str, week: str, now: dt.datetime) -> DigestPost | None:
    """The (channel, week) row, now ours to post; None when it is posted or someone else is posting it."""
    async with db.transaction() as session:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = insert(DigestPost).values(channel=channel, week=week, status=POSTING, created_at=now)
        inserted = (
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["channel", "week"]))
        ).rowcount
        where = (DigestPost.channel == channel, DigestPost.week == week)
        post = (await session.execute(sa.select(DigestPost).where(*where))).scalar_one()
        if inserted == 1:
            return post
        if post.status == POSTED:
            return None
        if now - post.created_at < STALE_CLAIM:
            return None
        # a run that died mid-way: take over, unless another run takes over at the same moment
        taken = await session.execute(
            sa.update(DigestPost)
            .where(
                DigestPost.id == post.id,
                DigestPost.created_at == post.created_at,
                DigestPost.status == POSTING,
            )
            .values(created_at=now)
        )
        if taken.rowcount != 1:
            return None
        post.created_at = now
        return post


async def release(db: Database, post_id: int | None) -> None:
    async with db.transaction() as session:
        await session.execute(
            sa.delete(DigestPost).where(DigestPost.id == post_id, DigestPost.status == POSTING)
        )


async def _update(db: Database, post_id: int | None, **values: object) -> DigestPost:
    async with db.transaction() as session:
        post = await session.get(DigestPost, post_id)
        assert post is not None
        for key, value in values.items():
            setattr(post, key, value)
        return post
