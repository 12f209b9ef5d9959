"""How trustworthy each automatic check is: its volume, and its precision as reviewers judged it.

Precision = confirmed / judged findings of a kind (every judgement so far), with the 95% Wilson
interval of bot.digest.estimate; volume = findings on replies created in the period asked for.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import DetectorsConfig
from bot.core.detectors import DETECTOR_KINDS, mute_parts
from bot.core.models import Finding, FindingFeedback, Reply
from bot.digest.estimate import wilson
from bot.views.checks import CheckPrecision


async def check_precision(
    session: AsyncSession,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    detectors: DetectorsConfig | None = None,
) -> list[CheckPrecision]:
    """One figure per kind (the five checks, then any other kind seen), volume within [since, until)."""
    volume = sa.select(Finding.kind, sa.func.count()).join(Reply, Reply.id == Finding.reply_id)  # type: ignore[arg-type]
    if since is not None:
        volume = volume.where(Reply.created_at >= since)  # type: ignore[arg-type]
    if until is not None:
        volume = volume.where(Reply.created_at < until)  # type: ignore[arg-type]
    counts = dict((await session.execute(volume.group_by(Finding.kind))).all())
    confirmed = sa.func.sum(sa.case((FindingFeedback.verdict == "confirmed", 1), else_=0))  # type: ignore[arg-type]
    judged = sa.select(FindingFeedback.kind, sa.func.count(), confirmed).group_by(FindingFeedback.kind)
    judgements = {kind: (int(n), int(ok or 0)) for kind, n, ok in (await session.execute(judged)).all()}
    muted = _muted(detectors)
    kinds = [*DETECTOR_KINDS, *sorted((counts.keys() | judgements.keys()) - set(DETECTOR_KINDS))]
    figures = []
    for kind in kinds:
        n, ok = judgements.get(kind, (0, 0))
        low, high = wilson(ok / n, n) if n else (None, None)
        figures.append(CheckPrecision(kind, int(counts.get(kind, 0)), n, ok, low, high, kind in muted))
    return figures


def _muted(detectors: DetectorsConfig | None) -> set[str]:
    """Kinds switched off or muted as a whole for every channel not configured apart."""
    if detectors is None:
        return set()
    off = {kind for kind, on in detectors.enabled.items() if not on}
    whole = {kind for kind, pattern in map(mute_parts, detectors.mute) if not pattern}
    return off | whole
