"""The judge-flagged replies the daily sample draws first (`mode = all` only).

The sampler puts a reply in its "flagged" stratum when a check found something, its CSAT is low,
or, here, when the judge failed it on a *trusted* criterion (bot.judge.agreement). That is decided
from what is stored when the day is drawn, before the random draw, so every reply's stratum, and
with it its inclusion probability n_h / N_h, is fixed and known: the digest's stratified estimate
stays unbiased whatever the judge gets right or wrong; a good judge only makes it more precise.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import AuditConfig
from bot.core.models import JudgeRun, Judgment, Reply
from bot.judge.agreement import agreement, trusted
from bot.judge.criteria import criteria_for

J, RUN, R = (m.__table__ for m in (Judgment, JudgeRun, Reply))


async def judge_flagged(
    session: AsyncSession, config: AuditConfig, start: dt.datetime, end: dt.datetime
) -> set[int]:
    """Replies created in [start, end) that the judge failed on a trusted criterion."""
    if config.judge.mode != "all":
        return set()
    names = trusted(await agreement(session, config))
    if not names:
        return set()
    versions = [c.version for c in criteria_for(config) if c.id in names]
    rows = await session.execute(
        sa.select(J.c.reply_id)
        .distinct()
        .select_from(J.join(RUN, RUN.c.id == J.c.run_id).join(R, R.c.id == J.c.reply_id))
        .where(
            R.c.created_at >= start,
            R.c.created_at < end,
            RUN.c.model == config.judge.model,
            RUN.c.status == "ok",
            J.c.verdict == "fail",
            J.c.criterion_version.in_(versions),
        )
    )
    return set(rows.scalars())


async def tilt(
    session: AsyncSession,
    config: AuditConfig,
    window: tuple[dt.datetime, dt.datetime],
    flagged: list[int],
    unflagged: list[int],
) -> tuple[list[int], list[int]]:
    """The sampler's strata with the judge-flagged replies moved from unflagged to flagged."""
    moved = await judge_flagged(session, config, *window)
    if not moved:
        return flagged, unflagged
    return sorted({*flagged, *(r for r in unflagged if r in moved)}), [r for r in unflagged if r not in moved]
