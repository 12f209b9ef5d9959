"""What a review card says about the judge: its newest finished run on the reply, in a few lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import JudgeRun, Judgment
from bot.judge.criteria import label_of

J, RUN = Judgment.__table__, JudgeRun.__table__

REASONS = {
    "timeout": "it timed out",
    "deadline": "it was not finished before the sample was posted",
    "rate_limited": "the model provider rate-limited it",
    "server_error": "the model server failed",
    "connection": "the model server could not be reached",
    "refusal": "the model refused",
    "malformed": "its answer was unreadable",
    "schema": "its answer did not fit the criteria",
    "truncated": "its answer was cut off",
    "not_configured": "it is not configured (no API key)",
    "over_budget": "the daily budget (max_replies_per_day) was spent",
    "auth": "the API key was refused",
    "not_found": "the model was not found",
    "skipped": "an earlier error stopped the run",
    "bad_request": "the request was refused",
}


def hint_shown(policy: str, *, double_review: bool, verdicts: Sequence[str]) -> bool:
    """Whether a review card shows the judge's hint (`[judge] show_hint`): `always`; `after_review`
    once the item is reviewed (a correct or defect verdict; two on a double-review item), so the
    reviewers' verdicts the judge is measured against are their own; `never`."""
    if policy == "always":
        return True
    if policy == "never":
        return False
    decided = sum(verdict in ("correct", "defect") for verdict in verdicts)
    return decided >= (2 if double_review else 1)


@dataclass(frozen=True)
class Hint:
    fails: tuple[tuple[str, str], ...] = ()  # (criterion label, rationale)
    note: str | None = None


def hint_of(status: str, error_kind: str | None, verdicts: Sequence[tuple[str, str, str | None]]) -> Hint:
    """The hint for one run: (criterion, verdict, rationale) rows in the order they were asked."""
    if status != "ok":
        reason = REASONS.get(error_kind or "", "it failed")
        return Hint(note=f"no verdict on this reply: {reason}. Review it without one.")
    fails = tuple((label_of(c), rationale or "") for c, verdict, rationale in verdicts if verdict == "fail")
    unsure = [label_of(c) for c, verdict, _ in verdicts if verdict == "unsure"]
    if fails:
        return Hint(fails, f"unsure on {', '.join(unsure)}" if unsure else None)
    note = f"no criterion failed ({len(verdicts)} checked)"
    return Hint(note=note + (f"; unsure on {', '.join(unsure)}" if unsure else ""))


async def hints_for(session: AsyncSession, reply_ids: Sequence[int]) -> dict[int, Hint]:
    """The hint of each reply that has a finished run (the newest, whatever its model)."""
    if not reply_ids:
        return {}
    newest = (
        sa.select(sa.func.max(RUN.c.id))
        .where(RUN.c.reply_id.in_(list(reply_ids)), RUN.c.status != "pending")
        .group_by(RUN.c.reply_id)
    )
    runs = (
        await session.execute(
            sa.select(RUN.c.id, RUN.c.reply_id, RUN.c.status, RUN.c.error_kind).where(RUN.c.id.in_(newest))
        )
    ).all()
    if not runs:
        return {}
    rows = await session.execute(
        sa.select(J.c.run_id, J.c.criterion, J.c.verdict, J.c.rationale)
        .where(J.c.run_id.in_([run.id for run in runs]))
        .order_by(J.c.id)
    )
    by_run: dict[int, list[tuple[str, str, str | None]]] = {}
    for run_id, criterion, verdict, rationale in rows:
        by_run.setdefault(run_id, []).append((criterion, verdict, rationale))
    return {run.reply_id: hint_of(run.status, run.error_kind, by_run.get(run.id, [])) for run in runs}
