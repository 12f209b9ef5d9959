"""Judging replies: claimed runs, bounded concurrency and time, the daily budget.

Nothing here is on a path Slack waits for: the scheduled job (`mode = all`) and the daily sample
(`mode = sample`, before posting) call it, each with a deadline; what is not done by then is
released and tried again later, and the sample goes out without those hints and says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import Reply, SampleItem
from bot.core.services import Services
from bot.judge import store
from bot.judge.client import FATAL, Completion, JudgeClient, JudgeUnavailable, ask, build_sdk_client, classify
from bot.judge.criteria import Criterion, criteria_for, prompt_version
from bot.judge.prompt import JudgeInput, build_request

log = logging.getLogger("auditbot.judge")

JOB_DEADLINE = 540.0  # seconds: the scheduled job (every 10 minutes) never overlaps itself
JOB_LOOKBACK = dt.timedelta(days=3)
DEADLINE, FATAL_SKIP = "deadline", "skipped"
WRITE_BATCH = 100


@dataclass(frozen=True)
class Judge:
    """The criteria in force and the key their runs are stored under."""

    criteria: tuple[Criterion, ...]
    key: store.Key

    @classmethod
    def of(cls, config: AuditConfig) -> Judge:
        criteria = tuple(criteria_for(config))
        return cls(criteria, store.Key(prompt_version(criteria), config.judge.model))


@dataclass
class Summary:
    """What one judging pass did."""

    asked: int = 0
    already: int = 0  # judged before under the same key: no call
    over_budget: int = 0  # left for another day: the daily budget is spent
    over_limit: int = 0  # left out by the caller's limit
    judged: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cut_off: int = 0  # not finished before the deadline (tried again later)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unavailable: str | None = None  # why the judge could not be called at all

    def line(self) -> str:
        parts = [f"judged {self.judged} of {self.asked}", f"already judged {self.already}"]
        if self.over_budget:
            parts.append(f"over the daily budget {self.over_budget}")
        if self.over_limit:
            parts.append(f"beyond --limit {self.over_limit}")
        if self.errors:
            parts.append("errors " + ", ".join(f"{k} {n}" for k, n in sorted(self.errors.items())))
        if self.cut_off:
            parts.append(f"cut off by the deadline {self.cut_off}")
        parts.append(f"tokens {self.input_tokens:,} in / {self.output_tokens:,} out")
        if self.cost_usd:
            parts.append(f"cost ${self.cost_usd:.4f}")
        if self.unavailable:
            parts.append(f"judge unavailable: {self.unavailable}")
        return ", ".join(parts)


def cost_of(config: AuditConfig, input_tokens: int, output_tokens: int) -> float | None:
    judge = config.judge
    if judge.input_price_per_1m is None and judge.output_price_per_1m is None:
        return None
    return (
        input_tokens * (judge.input_price_per_1m or 0) + output_tokens * (judge.output_price_per_1m or 0)
    ) / 1e6


def local_midnight(config: AuditConfig, now: dt.datetime) -> dt.datetime:
    tz = config.slack.tz
    return dt.datetime.combine(now.astimezone(tz).date(), dt.time(), tzinfo=tz).astimezone(dt.UTC)


async def judge_replies(
    services: Services,
    reply_ids: Sequence[int],
    *,
    deadline: float | None = None,
    limit: int | None = None,
    explain: bool = False,
) -> Summary:
    """Judge each reply not judged yet under the current key, within the daily budget and `deadline` s.

    `explain` (the daily sample): replies left out, for want of budget or of an API key, get a run
    saying why, which their review card shows; it is tried again later.
    """
    config, db, now = services.config, services.db, services.clock.now()
    judge = Judge.of(config)
    summary = Summary(asked=len(reply_ids))
    if not judge.criteria or not reply_ids:
        return summary
    async with db.session() as session:
        candidates = await store.judgeable(session, judge.key, reply_ids, now)
        used = await store.used_since(session, local_midnight(config, now))
    summary.already = len(reply_ids) - len(candidates)
    room = max(0, config.judge.max_replies_per_day - used)
    summary.over_budget = max(0, len(candidates) - room)
    take = room if limit is None else min(room, limit)
    summary.over_limit = max(0, min(len(candidates), room) - take)
    chosen = candidates[:take]
    owner = uuid.uuid4().hex
    if summary.over_budget and explain:
        message = f"the daily budget of {config.judge.max_replies_per_day} replies is spent"
        await _explain(db, judge, candidates[room:], owner, store.OVER_BUDGET, message, now)
    if not chosen:
        return summary
    try:
        client = JudgeClient(build_sdk_client(config.judge), config.judge)
    except JudgeUnavailable as exc:
        summary.unavailable = str(exc)
        log.warning("judge not run: %s", exc)
        if explain:
            await _explain(db, judge, chosen, owner, exc.kind, str(exc), now)
        return summary
    runs = await store.claim(db, judge.key, chosen, owner, now)
    try:
        await _judge_all(services, judge, client, runs, owner, summary, deadline)
    finally:
        await client.close()
    log.info("judge: %s", summary.line())
    return summary


async def _explain(
    db: Database,
    judge: Judge,
    reply_ids: Sequence[int],
    owner: str,
    kind: str,
    message: str,
    now: dt.datetime,
) -> None:
    """Runs that say why these replies were not judged (for their review cards); retried later."""
    runs = await store.claim(db, judge.key, reply_ids, owner, now)
    await store.release(db, list(runs.values()), owner, kind=kind, message=message, now=now)


async def _judge_all(
    services: Services,
    judge: Judge,
    client: JudgeClient,
    runs: dict[int, int],
    owner: str,
    summary: Summary,
    deadline: float | None,
) -> None:
    """Calls run `concurrency` at a time; one writer stores what they return, a batch per transaction
    (so many calls in flight never queue up as many writers on the database)."""
    async with services.db.session() as session:
        rows = await session.execute(sa.select(Reply).where(Reply.id.in_(list(runs))))  # type: ignore[attr-defined]
        replies = {reply.id: reply for reply in rows.scalars()}
    gate = asyncio.Semaphore(services.config.judge.concurrency)
    done: asyncio.Queue[store.Outcome | None] = asyncio.Queue()
    fatal: list[str] = []
    skipped: list[int] = []

    async def one(reply: Reply, run_id: int) -> None:
        async with gate:
            if fatal:  # the key was refused or the model is missing: every call would fail alike
                skipped.append(run_id)
                return
            done.put_nowait(await _judge_one(services.config, judge, client, reply, run_id, summary, fatal))

    writer = asyncio.create_task(_write(services, owner, done, summary))
    tasks = [asyncio.create_task(one(replies[rid], run_id)) for rid, run_id in runs.items() if rid in replies]
    pending: set[asyncio.Task[None]] = set()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    done.put_nowait(None)
    await writer
    now = services.clock.now()
    if skipped:
        await store.release(services.db, skipped, owner, kind=FATAL_SKIP, message=fatal[0], now=now)
    if pending:
        summary.cut_off = len(pending)
        message = f"not finished within {deadline:g} s"
        await store.release(services.db, list(runs.values()), owner, kind=DEADLINE, message=message, now=now)


async def _write(services: Services, owner: str, done: asyncio.Queue, summary: Summary) -> None:  # type: ignore[type-arg]
    """Store outcomes as they come, all that are waiting in one transaction, until None."""
    finished = False
    while not finished:
        batch = [await done.get()]
        while not done.empty() and len(batch) < WRITE_BATCH:
            batch.append(done.get_nowait())
        finished = batch[-1] is None or None in batch
        outcomes = [o for o in batch if o is not None]
        if not outcomes:
            continue
        try:
            summary.judged += await store.finish(services.db, owner, outcomes, services.clock.now())
        except Exception:  # the runs stay pending: a later pass retakes them once they are stale
            log.exception("judge: could not store %d outcomes", len(outcomes))


async def _judge_one(
    config: AuditConfig,
    judge: Judge,
    client: JudgeClient,
    reply: Reply,
    run_id: int,
    summary: Summary,
    fatal: list[str],
) -> store.Outcome:
    request = build_request(judge.criteria, JudgeInput.of_reply(reply))
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        verdicts, answer = await ask(client, request)
    except Exception as exc:  # every failure of one reply is recorded on its run, never raised
        kind, retryable, message = classify(exc)
        answered = getattr(exc, "completion", None)
        usage = _timed(_usage(config, answered) if answered else store.Usage(), started, loop.time())
        summary.errors[kind] += 1
        _count(summary, usage)
        if kind in FATAL and not fatal:
            fatal.append(message)
            log.error("judge: %s (%s); stopping this pass", message, kind)
        return store.Outcome(run_id, reply.id, usage, kind=kind, retryable=retryable, message=message)  # type: ignore[arg-type]
    usage = _timed(_usage(config, answer), started, loop.time())
    _count(summary, usage)
    return store.Outcome(run_id, reply.id, usage, request.criteria, verdicts)  # type: ignore[arg-type]


def _usage(config: AuditConfig, answer: Completion) -> store.Usage:
    cost = cost_of(config, answer.input_tokens, answer.output_tokens)
    return store.Usage(answer.input_tokens, answer.output_tokens, cost, None, answer.response_format)


def _timed(usage: store.Usage, started: float, ended: float) -> store.Usage:
    return store.Usage(
        usage.input_tokens,
        usage.output_tokens,
        usage.cost_usd,
        round((ended - started) * 1000),
        usage.response_format,
    )


def _count(summary: Summary, usage: store.Usage) -> None:
    summary.input_tokens += usage.input_tokens
    summary.output_tokens += usage.output_tokens
    summary.cost_usd += usage.cost_usd or 0.0


# -- the two ways the product runs it --------------------------------------------------------


async def judge_before_posting(services: Services, batch_id: int) -> Summary | None:
    """`mode = sample` (or `all`): judge the batch's unposted items before they go out, within
    `sample_deadline_s`; a failure only costs the hints, never the post."""
    if services.config.judge.mode == "off":
        return None
    try:
        async with services.db.session() as session:
            rows = await session.execute(
                sa.select(SampleItem.reply_id)
                .where(SampleItem.batch_id == batch_id, SampleItem.message_ts.is_(None))  # type: ignore[union-attr]
                .order_by(SampleItem.position)
            )
            reply_ids = list(rows.scalars())
        deadline = services.config.judge.sample_deadline_s
        return await judge_replies(services, reply_ids, deadline=deadline, explain=True)
    except Exception:
        log.exception("judge: the sample's replies could not be judged; posting without hints")
        return None


async def judge_pending(services: Services) -> Summary | None:
    """The scheduled job of `mode = all`: recent replies not judged yet, newest first, within the budget."""
    config = services.config
    if config.judge.mode != "all":
        return None
    now = services.clock.now()
    judge = Judge.of(config)
    async with services.db.session() as session:
        used = await store.used_since(session, local_midnight(config, now))
        room = max(0, config.judge.max_replies_per_day - used)
        reply_ids = await store.pending_replies(session, judge.key, now - JOB_LOOKBACK, now, now, limit=room)
    if not reply_ids:
        return None
    return await judge_replies(services, reply_ids, deadline=JOB_DEADLINE)
