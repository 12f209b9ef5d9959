"""The daily sample: its frame, a stratified random draw, and the batch stored before posting.

The frame is every reply created before the day's local midnight that no earlier frame holds
(bot.sample.frames). Its replies are split into two strata, "flagged" (a finding, or CSAT <= 2)
and "unflagged", and, while fixes are being verified, one verification stratum per fix for the
replies of its segment (bot.sample.verify). Each stratum gets a fixed number of draws (n_h)
decided by the stratum sizes alone, and within a stratum every reply is equally likely, so a
reply's inclusion probability is exactly n_h / N_h. Those probabilities are stored on each item,
and the frame's cells (stratum × week) with their sizes, so the digest can weight reviewed items
back to all replies without bias.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.core.config import WEEKDAYS, AuditConfig
from bot.core.db import Database
from bot.core.models import SampleBatch, SampleItem
from bot.core.settings import ConfigError
from bot.judge.tilt import tilt
from bot.sample.frames import (
    FLAGGED,
    UNFLAGGED,
    Frame,
    adopt_legacy,
    assign,
    gather_frame,
    lock_replies,
    store_cells,
    unframed,
)
from bot.sample.verify import open_windows, split_frame

log = logging.getLogger("auditbot.sampling")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

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
    """From the start of the previous scheduled day to the start of `day` (the draw's cutoff).

    The run on a scheduled day P covers up to P's midnight, so the run on D picks up from there:
    Tuesday covers Monday, and Monday (after a Friday run) covers Friday, Saturday and Sunday. A
    first frame shows this as its window (it also takes any older reply no frame holds).
    """
    tz = config.slack.tz
    start_day = previous_scheduled_day(day, config.sampling.days)
    return local_midnight(start_day, tz), local_midnight(day, tz)


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
    verify_population: int = 0  # the verification strata's replies, together
    verify_drawn: int = 0

    @property
    def population(self) -> int:
        return self.flagged_population + self.unflagged_population + self.verify_population


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
    verify: Mapping[str, Sequence[int]] | None = None,
    verify_size: int = 0,
) -> Draw:
    """Simple random sampling without replacement within each stratum; same inputs, same draw.

    `verify`: the verification strata (name -> reply ids), `verify_size` draws each (all if fewer)."""
    rng = random.Random(seed)
    n_f, n_u = stratum_sizes(len(flagged), len(unflagged), size, risk_share)
    chosen = [(rid, FLAGGED, n_f / len(flagged)) for rid in rng.sample(sorted(flagged), n_f)]
    chosen += [(rid, UNFLAGGED, n_u / len(unflagged)) for rid in rng.sample(sorted(unflagged), n_u)]
    verify = {name: ids for name, ids in sorted((verify or {}).items()) if ids}
    for name, ids in verify.items():
        n_v = min(verify_size, len(ids))
        chosen += [(rid, name, n_v / len(ids)) for rid in rng.sample(sorted(ids), n_v)]
    rng.shuffle(chosen)  # reviewers should not see the strata as two blocks
    doubles = set(rng.sample(range(len(chosen)), math.floor(double_share * len(chosen) + 0.5)))
    picks = [Pick(rid, stratum, prob, i in doubles) for i, (rid, stratum, prob) in enumerate(chosen)]
    verified = sum(min(verify_size, len(ids)) for ids in verify.values())
    return Draw(picks, len(flagged), len(unflagged), n_f, n_u, sum(map(len, verify.values())), verified)


# -- storage ---------------------------------------------------------------------------------


def audit_channel(config: AuditConfig) -> str:
    channel = config.slack.audit_channel
    if not channel:
        raise ConfigError("[slack] audit_channel is not set (or set AUDIT_CHANNEL)")
    return channel


def local_today(config: AuditConfig, now: dt.datetime) -> dt.date:
    return now.astimezone(config.slack.tz).date()


async def get_batch(session: AsyncSession, channel: str, day: dt.date) -> SampleBatch | None:
    return (
        await session.execute(
            select(SampleBatch).where(SampleBatch.channel == channel, SampleBatch.day == day)
        )
    ).scalar_one_or_none()


async def plan_draw(
    session: AsyncSession, config: AuditConfig, day: dt.date, seed: int
) -> tuple[Frame, Draw]:
    """The frame and the draw for `day` as they would be now, computed but not stored (the dry run
    shows this; ensure_batch computes it again under the replies' lock)."""
    default_start, cutoff = default_window(day, config)
    frame = await gather_frame(session, cutoff, default_start, config.slack.tz)
    # judge, mode = all: replies the judge failed on a trusted criterion join the flagged stratum
    since = EPOCH if frame.late else frame.window_start  # late members were created before the window
    flagged, unflagged = await tilt(session, config, (since, frame.cutoff), frame.flagged, frame.unflagged)
    # fixes being verified: the replies of their segments get strata of their own
    windows = await open_windows(session) if config.verify.sample_size else []
    members = unframed(frame.cutoff, frame.after)
    flagged, unflagged, verify = await split_frame(session, windows, members, flagged, unflagged)
    frame = replace(frame, flagged=flagged, unflagged=unflagged, verify=verify)
    draw = draw_sample(
        frame.flagged,
        frame.unflagged,
        size=config.sampling.size,
        risk_share=config.sampling.risk_share,
        double_share=config.review.double_review_share,
        seed=seed,
        verify=frame.verify,
        verify_size=config.verify.sample_size,
    )
    return frame, draw


def batch_of(
    channel: str, day: dt.date, frame: Frame, draw: Draw, *, seed: int, created_at: dt.datetime
) -> SampleBatch:
    """The batch row for a draw (not added to any session)."""
    return SampleBatch(
        channel=channel,
        day=day,
        window_start=frame.window_start,
        window_end=frame.cutoff,
        seed=seed,
        population=draw.population,
        flagged_population=draw.flagged_population,
        unflagged_population=draw.unflagged_population,
        flagged_drawn=draw.flagged_drawn,
        unflagged_drawn=draw.unflagged_drawn,
        late_population=frame.late,
        high_reply_id=frame.high_reply_id,
        created_at=created_at,
    )


async def ensure_batch(
    db: Database, config: AuditConfig, day: dt.date, now: dt.datetime, *, seed: int | None = None
) -> SampleBatch:
    """The batch for (audit channel, day): its frame drawn and committed with its items if not there yet.

    The draw holds the replies' lock (bot.sample.frames.lock_replies), so two draws, or a draw and
    an import, never interleave; the unique (channel, day) key backs that up: a loser reads the
    winner's batch.
    """
    channel = audit_channel(config)
    seed = default_seed(channel, day) if seed is None else seed
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            async with db.transaction() as session:
                existing = await get_batch(session, channel, day)
                if existing is not None:
                    return existing
                await lock_replies(session)
                adopted = await adopt_legacy(session, config.slack.tz)
                if adopted:
                    log.info("gave %d batches drawn before sample frames their frames", adopted)
                frame, draw = await plan_draw(session, config, day, seed)
                batch = batch_of(channel, day, frame, draw, seed=seed, created_at=now)
                session.add(batch)
                await session.flush()
                assert batch.id is not None
                cells = await store_cells(
                    session, frame, batch.id, ((p.reply_id, p.stratum) for p in draw.picks)
                )
                items = [
                    {
                        "batch_id": batch.id,
                        "reply_id": pick.reply_id,
                        "position": position,
                        "stratum": pick.stratum,
                        "inclusion_prob": pick.inclusion_prob,
                        "double_review": pick.double_review,
                        "cell_id": cells[frame.weeks[pick.reply_id], pick.stratum],
                    }
                    for position, pick in enumerate(draw.picks, 1)
                ]
                if items:  # one executemany: the items' ids are not needed here
                    await session.execute(sa.insert(SampleItem), items)
                await assign(session, frame, batch.id)
        except IntegrityError:
            # another process stored this day's batch first: read theirs
            log.info("sample for %s %s raced another process (attempt %d)", channel, day, attempt + 1)
            continue
        log.info(
            "sample %s for %s: %d of %d replies (%d flagged, %d arrived late)",
            day,
            channel,
            len(draw.picks),
            draw.population,
            draw.flagged_drawn,
            frame.late,
        )
        return batch
    async with db.session() as session:
        existing = await get_batch(session, channel, day)
    if existing is None:
        raise RuntimeError(f"could not store the sample for {channel} {day}")
    return existing


async def frames_reach(db: Database) -> dt.datetime | None:
    """The latest cutoff of any frame drawn: every reply created before it that had arrived by then
    is in a frame."""
    async with db.session() as session:
        return await session.scalar(select(sa.func.max(SampleBatch.window_end)))


async def batch_items(session: AsyncSession, batch_id: int) -> list[SampleItem]:
    rows = await session.execute(
        select(SampleItem).where(SampleItem.batch_id == batch_id).order_by(SampleItem.position)
    )
    return list(rows.scalars())
