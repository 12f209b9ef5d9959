"""Judge runs in the database: claimed before the call, finished with their judgments, never repeated.

A run is keyed by (reply, prompt version, model). Claiming inserts the row (or retakes one that
may be tried again) in the name of one judging session; only that session calls the model and
finishes the row, so two processes judging the same day make one call per reply. A retake is
allowed for a run left `pending` by a process that died (`STALE`), and for an error where no
answer came (timeout, 5xx, …) while it has had fewer than `MAX_ATTEMPTS` tries. An answer that
was unusable (refusal, malformed or schema-breaking content) is final for its key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.models import JudgeRun, Judgment, Reply
from bot.judge.criteria import Criterion
from bot.judge.prompt import Verdict

PENDING, OK, ERROR = "pending", "ok", "error"
NOT_CONFIGURED, OVER_BUDGET = "not_configured", "over_budget"
MAX_ATTEMPTS = 3
STALE = dt.timedelta(minutes=15)
CHUNK = 500
KEY_COLUMNS = ["reply_id", "prompt_version", "model"]
J, RUN = Judgment.__table__, JudgeRun.__table__


@dataclass(frozen=True)
class Key:
    prompt_version: str
    model: str

    def where(self) -> tuple[sa.ColumnElement[bool], ...]:
        return RUN.c.prompt_version == self.prompt_version, RUN.c.model == self.model


def _open(now: dt.datetime) -> sa.ColumnElement[bool]:
    """Runs that may be (re)claimed: a dead session's pending row, or an error worth another try."""
    stale = sa.and_(RUN.c.status == PENDING, RUN.c.claimed_at < now - STALE)
    retry = sa.and_(RUN.c.status == ERROR, RUN.c.retryable.is_(True), RUN.c.attempts < MAX_ATTEMPTS)
    return sa.or_(stale, retry)


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]


async def judgeable(session: AsyncSession, key: Key, reply_ids: Sequence[int], now: dt.datetime) -> list[int]:
    """Of `reply_ids` (order kept), those with no run for `key` or one that may be tried again."""
    closed: set[int] = set()
    for chunk in _chunks(reply_ids):
        rows = await session.execute(
            sa.select(RUN.c.reply_id).where(*key.where(), RUN.c.reply_id.in_(chunk), ~_open(now))
        )
        closed.update(rows.scalars())
    return [rid for rid in reply_ids if rid not in closed]


async def claim(
    db: Database, key: Key, reply_ids: Sequence[int], owner: str, now: dt.datetime
) -> dict[int, int]:
    """Claim runs for `reply_ids` in the name of `owner`: {reply id: run id} of those now ours."""
    claimed: dict[int, int] = {}
    for chunk in _chunks(reply_ids):
        async with db.transaction() as session:
            insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
            rows = [_new_row(rid, key, owner, now) for rid in chunk]
            await session.execute(
                insert(JudgeRun).values(rows).on_conflict_do_nothing(index_elements=KEY_COLUMNS)
            )
            await session.execute(
                sa.update(JudgeRun)
                .where(*key.where(), RUN.c.reply_id.in_(chunk), _open(now))
                .values(status=PENDING, claim=owner, claimed_at=now, attempts=RUN.c.attempts + 1)
            )
            mine = sa.select(RUN.c.reply_id, RUN.c.id).where(
                *key.where(), RUN.c.reply_id.in_(chunk), RUN.c.claim == owner, RUN.c.status == PENDING
            )
            claimed.update((rid, run_id) for rid, run_id in await session.execute(mine))
    return claimed


def _new_row(reply_id: int, key: Key, owner: str, now: dt.datetime) -> dict[str, object]:
    return {
        "reply_id": reply_id,
        "prompt_version": key.prompt_version,
        "model": key.model,
        "status": PENDING,
        "claim": owner,
        "claimed_at": now,
        "attempts": 1,
        "retryable": False,
        "input_tokens": 0,
        "output_tokens": 0,
        "created_at": now,
    }


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: int | None = None
    response_format: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How one claimed call ended: verdicts for `criteria`, or an error (`kind` set)."""

    run_id: int
    reply_id: int
    usage: Usage
    criteria: Sequence[Criterion] = ()
    verdicts: Mapping[str, Verdict] | None = None
    kind: str | None = None
    retryable: bool = False
    message: str | None = None


async def finish(db: Database, owner: str, outcomes: Sequence[Outcome], now: dt.datetime) -> int:
    """Store finished calls in one transaction; how many stored verdicts (a run whose claim was
    lost to another session is left to that session)."""
    stored = 0
    async with db.transaction() as session:
        for outcome in outcomes:
            if outcome.verdicts is None:
                values = {"status": ERROR, "error_kind": outcome.kind, "error": outcome.message}
                await session.execute(
                    _finish(outcome, owner, now).values(**values, retryable=outcome.retryable)
                )
                continue
            values = {"status": OK, "error_kind": None, "error": None, "retryable": False}
            if (await session.execute(_finish(outcome, owner, now).values(**values))).rowcount != 1:
                continue
            stored += 1
            await session.execute(sa.insert(Judgment), _judgment_rows(outcome))
    return stored


def _judgment_rows(outcome: Outcome) -> list[dict[str, object]]:
    verdicts = outcome.verdicts or {}
    return [
        {
            "run_id": outcome.run_id,
            "reply_id": outcome.reply_id,
            "criterion": c.id,
            "criterion_version": c.version,
            "category": c.category,
            "verdict": verdicts[c.id].verdict,
            "rationale": verdicts[c.id].rationale,
            "evidence": verdicts[c.id].evidence,
        }
        for c in outcome.criteria
    ]


def _finish(outcome: Outcome, owner: str, now: dt.datetime) -> sa.Update:
    usage = outcome.usage
    return (
        sa.update(JudgeRun)
        .where(RUN.c.id == outcome.run_id, RUN.c.claim == owner, RUN.c.status == PENDING)
        .values(
            claim=None,
            finished_at=now,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
            latency_ms=usage.latency_ms,
            response_format=usage.response_format,
        )
    )


async def release(
    db: Database, run_ids: Sequence[int], owner: str, *, kind: str, message: str, now: dt.datetime
) -> None:
    """Runs claimed but not called, or cut off: an error a later run may retry, not counted as a try."""
    for chunk in _chunks(run_ids):
        async with db.transaction() as session:
            await session.execute(
                sa.update(JudgeRun)
                .where(RUN.c.id.in_(chunk), RUN.c.claim == owner, RUN.c.status == PENDING)
                .values(
                    status=ERROR,
                    error_kind=kind,
                    error=message,
                    retryable=True,
                    claim=None,
                    attempts=RUN.c.attempts - 1,
                    finished_at=now,
                )
            )


async def used_since(session: AsyncSession, since: dt.datetime) -> int:
    """Runs claimed since `since` (the daily budget counts these; not those never called: no key,
    or no budget left)."""
    skipped = sa.and_(RUN.c.status == ERROR, RUN.c.error_kind.in_([NOT_CONFIGURED, OVER_BUDGET]))
    query = sa.select(sa.func.count()).select_from(RUN).where(RUN.c.claimed_at >= since, ~skipped)
    return int((await session.execute(query)).scalar_one())


async def pending_replies(
    session: AsyncSession, key: Key, start: dt.datetime, end: dt.datetime, now: dt.datetime, *, limit: int
) -> list[int]:
    """Replies created in [start, end) with no run for `key` that is done or in hand, newest first."""
    if limit <= 0:
        return []
    settled = sa.select(RUN.c.id).where(RUN.c.reply_id == Reply.id, *key.where(), ~_open(now))
    rows = await session.execute(
        sa.select(Reply.id)
        .where(Reply.created_at >= start, Reply.created_at < end, ~sa.exists(settled))
        .order_by(Reply.created_at.desc(), Reply.id.desc())  # type: ignore[attr-defined,union-attr]
        .limit(limit)
    )
    return list(rows.scalars())


async def replies_between(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, *, newest_first: bool = False
) -> list[int]:
    """Ids of replies created in [start, end)."""
    order = Reply.created_at.desc() if newest_first else Reply.created_at  # type: ignore[attr-defined]
    rows = await session.execute(
        sa.select(Reply.id).where(Reply.created_at >= start, Reply.created_at < end).order_by(order, Reply.id)
    )
    return list(rows.scalars())


@dataclass(frozen=True)
class RunStats:
    ok: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


async def run_stats(session: AsyncSession, since: dt.datetime | None, until: dt.datetime | None) -> RunStats:
    """Finished runs created in [since, until): how many, their tokens and cost."""
    query = sa.select(
        sa.func.count().filter(RUN.c.status == OK),
        sa.func.count().filter(RUN.c.status == ERROR),
        sa.func.coalesce(sa.func.sum(RUN.c.input_tokens), 0),
        sa.func.coalesce(sa.func.sum(RUN.c.output_tokens), 0),
        sa.func.sum(RUN.c.cost_usd),
    )
    if since is not None:
        query = query.where(RUN.c.created_at >= since)
    if until is not None:
        query = query.where(RUN.c.created_at < until)
    ok, errors, tokens_in, tokens_out, cost = (await session.execute(query)).one()
    return RunStats(int(ok), int(errors), int(tokens_in), int(tokens_out), cost)
