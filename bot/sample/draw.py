"""The daily sample: its window, a stratified random draw, and the batch stored before posting.

Replies are split into two strata, "flagged" (a finding, or CSAT <= 2) and "unflagged". Each
stratum gets a fixed number of draws (n_h) decided by the stratum sizes alone, and within a
stratum every reply is equally likely, so a reply's inclusion probability is exactly n_h / N_h.
Those probabilities are stored on each item so the digest can weight reviewed items back to
all replies (Horvitz-Thompson) without bias.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.core.config import WEEKDAYS, AuditConfig
from bot.core.db import Database
from bot.core.models import Reply, SampleBatch, SampleItem
from bot.core.settings import ConfigError
from bot.judge.tilt import tilt

log = logging.getLogger("auditbot.sampling")

FLAGGED, UNFLAGGED = "flagged", "unflagged"
MAX_SEED = 2**31 - 1  # SampleBatch.seed is a 32-bit INTEGER column
_CREATE_ATTEMPTS = 3


# -- window ----------------------------------------------------------------------------------


def local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The start of `day` in `tz`, as aware UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def previous_scheduled_day(day: dt.date, days: Sequence[str]) -> dt.date:
    """The latest scheduled weekday before `day` (the day before, if nothing is scheduled)."""
    scheduled = {WEEKDAYS.index(d) for d in days}
    for back in range(1, 8):
        candidate = day - dt.timedelta(days=back)
        if candidate.weekday() in scheduled:
            return candidate
    return day - dt.timedelta(days=1)


def default_window(day: dt.date, config: AuditConfig) -> tuple[dt.datetime, dt.datetime]:
    """Without an earlier batch: from the start of the previous scheduled day to the start of `day`.

    The run on a scheduled day P covers up to P's midnight, so the run on D picks up from there:
    Tuesday covers Monday, and Monday (after a Friday run) covers Friday, Saturday and Sunday.
    """
    tz = config.slack.tz
    start_day = previous_scheduled_day(day, config.sampling.days)
    return local_midnight(start_day, tz), local_midnight(day, tz)


async def window_for(
    session: AsyncSession, channel: str, day: dt.date, config: AuditConfig
) -> tuple[dt.datetime, dt.datetime]:
    """The window the scheduled run on `day` covers: since the previous batch's window ended."""
    start, end = default_window(day, config)
    previous = (
        await session.execute(
            select(SampleBatch.window_end)
            .where(SampleBatch.channel == channel, SampleBatch.day < day)
            .order_by(SampleBatch.day.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
    ).scalar_one_or_none()
    if previous is not None and previous < end:
        start = previous
    return start, end


def default_seed(channel: str, day: dt.date) -> int:
    """A seed derived from the channel and the day, so a rerun draws the same sample."""
    digest = hashlib.sha256(f"{channel}:{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & MAX_SEED


# -- the draw (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    reply_id: int
    stratum: str
    inclusion_prob: float
    double_review: bool


@dataclass(frozen=True)
class Draw:
    picks: list[Pick]  # in posting order
    flagged_population: int
    unflagged_population: int
    flagged_drawn: int
    unflagged_drawn: int

    @property
    def population(self) -> int:
        return self.flagged_population + self.unflagged_population


def stratum_sizes(n_flagged: int, n_unflagged: int, size: int, risk_share: float) -> tuple[int, int]:
    """Draws per stratum: at most risk_share × size flagged, the rest unflagged (never more than exist)."""
    # the epsilon keeps 0.29 * 100 = 28.999… from losing a draw to float rounding
    flagged = min(n_flagged, math.floor(risk_share * size + 1e-9))
    return flagged, min(n_unflagged, size - flagged)


def draw_sample(
    flagged: Sequence[int],
    unflagged: Sequence[int],
    *,
    size: int,
    risk_share: float,
    double_share: float,
    seed: int,
) -> Draw:
    """Simple random sampling without replacement within each stratum; same inputs, same draw."""
    rng = random.Random(seed)
    n_f, n_u = stratum_sizes(len(flagged), len(unflagged), size, risk_share)
    chosen = [(rid, FLAGGED, n_f / len(flagged)) for rid in rng.sample(sorted(flagged), n_f)]
    chosen += [(rid, UNFLAGGED, n_u / len(unflagged)) for rid in rng.sample(sorted(unflagged), n_u)]
    rng.shuffle(chosen)  # reviewers should not see the strata as two blocks
    doubles = set(rng.sample(range(len(chosen)), math.floor(double_share * len(chosen) + 0.5)))
    picks = [Pick(rid, stratum, prob, i in doubles) for i, (rid, stratum, prob) in enumerate(chosen)]
    return Draw(picks, len(flagged), len(unflagged), n_f, n_u)


# -- storage ---------------------------------------------------------------------------------


def audit_channel(config: AuditConfig) -> str:
    channel = config.slack.audit_channel
    if not channel:
        raise ConfigError("[slack] audit_channel is not set (or set AUDIT_CHANNEL)")
    return channel


def local_today(config: AuditConfig, now: dt.datetime) -> dt.date:
    return now.astimezone(config.slack.tz).date()


async def population(
    session: AsyncSession, start: dt.datetime, end: dt.datetime
) -> tuple[list[int], list[int]]:
    """Ids of replies created in [start, end) never sampled before: (flagged, unflagged)."""
    sampled = sa.exists().where(SampleItem.reply_id == Reply.id)
    rows = await session.execute(
        select(Reply.id, Reply.flagged)
        .where(Reply.created_at >= start, Reply.created_at < end, ~sampled)
        .order_by(Reply.id)
    )
    flagged: list[int] = []
    unflagged: list[int] = []
    for reply_id, is_flagged in rows:
        (flagged if is_flagged else unflagged).append(reply_id)
    return flagged, unflagged


async def get_batch(session: AsyncSession, channel: str, day: dt.date) -> SampleBatch | None:
    return (
        await session.execute(
            select(SampleBatch).where(SampleBatch.channel == channel, SampleBatch.day == day)
        )
    ).scalar_one_or_none()


async def plan_draw(
    session: AsyncSession, config: AuditConfig, channel: str, day: dt.date, seed: int
) -> tuple[tuple[dt.datetime, dt.datetime], Draw]:
    """The window and the draw for `day`, computed but not stored (the dry run shows this)."""
    start, end = await window_for(session, channel, day, config)
    flagged, unflagged = await population(session, start, end)
    flagged, unflagged = await tilt(session, config, (start, end), flagged, unflagged)  # judge, mode = all
    draw = draw_sample(
        flagged,
        unflagged,
        size=config.sampling.size,
        risk_share=config.sampling.risk_share,
        double_share=config.review.double_review_share,
        seed=seed,
    )
    return (start, end), draw


def batch_of(
    channel: str,
    day: dt.date,
    window: tuple[dt.datetime, dt.datetime],
    draw: Draw,
    *,
    seed: int,
    created_at: dt.datetime,
) -> SampleBatch:
    """The batch row for a draw (not added to any session)."""
    return SampleBatch(
        channel=channel,
        day=day,
        window_start=window[0],
        window_end=window[1],
        seed=seed,
        population=draw.population,
        flagged_population=draw.flagged_population,
        unflagged_population=draw.unflagged_population,
        flagged_drawn=draw.flagged_drawn,
        unflagged_drawn=draw.unflagged_drawn,
        created_at=created_at,
    )


async def ensure_batch(
    db: Database, config: AuditConfig, day: dt.date, now: dt.datetime, *, seed: int | None = None
) -> SampleBatch:
    """The batch for (audit channel, day): drawn and committed with its items if not there yet.

    Two processes drawing at once both try to insert; the unique (channel, day) key lets one
    win and the other reads the winner's batch.
    """
    channel = audit_channel(config)
    seed = default_seed(channel, day) if seed is None else seed
    for attempt in range(_CREATE_ATTEMPTS):
        async with db.session() as session:
            existing = await get_batch(session, channel, day)
            if existing is not None:
                return existing
            (start, end), draw = await plan_draw(session, config, channel, day, seed)
            batch = batch_of(channel, day, (start, end), draw, seed=seed, created_at=now)
            session.add(batch)
            try:
                await session.flush()
                session.add_all(
                    SampleItem(
                        batch_id=batch.id,
                        reply_id=pick.reply_id,
                        position=position,
                        stratum=pick.stratum,
                        inclusion_prob=pick.inclusion_prob,
                        double_review=pick.double_review,
                    )
                    for position, pick in enumerate(draw.picks, 1)
                )
                await session.commit()
            except IntegrityError:
                # another process stored this day's batch, or sampled one of our replies for
                # another day first: read theirs, or draw again without that reply
                await session.rollback()
                log.info("sample for %s %s raced another process (attempt %d)", channel, day, attempt + 1)
                continue
            log.info(
                "sample %s for %s: %d of %d replies (%d flagged)",
                day,
                channel,
                len(draw.picks),
                draw.population,
                draw.flagged_drawn,
            )
            return batch
    async with db.session() as session:
        existing = await get_batch(session, channel, day)
    if existing is None:
        raise RuntimeError(f"could not store the sample for {channel} {day}")
    return existing


async def batch_items(session: AsyncSession, batch_id: int) -> list[SampleItem]:
    rows = await session.execute(
        select(SampleItem).where(SampleItem.batch_id == batch_id).order_by(SampleItem.position)
    )
    return list(rows.scalars())
