"""`auditbot judge [--date D] [--limit N] [--dry-run]`, `auditbot judge eval FILE`, `… judge report`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cli.env import CliEnv, UsageError
from bot.core import weeks
from bot.judge.agreement import agreement
from bot.judge.client import JudgeUnavailable
from bot.judge.evaluate import evaluate
from bot.judge.prompt import JudgeInput, build_request, response_format
from bot.judge.runner import Judge, judge_replies
from bot.judge.store import judgeable, replies_between, run_stats
from bot.views.judge import CriterionAgreement

REJECTS_SHOWN = 50


async def command_judge(args: argparse.Namespace, env: CliEnv) -> int:
    action = getattr(args, "judge_action", None)
    if action == "eval":
        return await _eval(args, env)
    if action == "report":
        return await _report(args, env)
    return await _judge_day(args, env)


async def _judge_day(args: argparse.Namespace, env: CliEnv) -> int:
    config, now = env.config, env.clock.now()
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    tz = config.slack.tz
    day = args.date or now.astimezone(tz).date() - dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(dt.UTC)
    judge = Judge.of(config)
    if not judge.criteria:
        raise UsageError("[judge] asks no criteria: set `builtin` or add [[judge.criteria]]")
    services = await env.services(slack=False)
    async with services.db.session() as session:
        every = await replies_between(session, start, end)
        todo = await judgeable(session, judge.key, every, now)
    print(f"{day}: {len(every):,} replies, {len(every) - len(todo):,} judged already by {config.judge.model}")
    if args.dry_run:
        wanted = todo[: args.limit] if args.limit else todo
        budget = config.judge.max_replies_per_day
        print(f"dry run: would judge {len(wanted):,} (daily budget {budget:,}); nothing sent")
        if wanted:
            await _print_request(services, judge, wanted[0])
        return 0
    summary = await judge_replies(services, todo, limit=args.limit)
    print(f"{day}: {summary.line()}")
    return 1 if summary.unavailable or (summary.errors and not summary.judged) else 0


async def _print_request(services, judge: Judge, reply_id: int) -> None:  # type: ignore[no-untyped-def]
    """The first request exactly as it would be sent (redacted and fenced), as JSON."""
    from bot.core.models import Reply

    async with services.db.session() as session:
        reply = await session.get(Reply, reply_id)
    request = build_request(judge.criteria, JudgeInput.of_reply(reply))  # type: ignore[arg-type]
    body = {
        "model": services.config.judge.model,
        "messages": request.messages,
        "response_format": response_format(request, services.config.judge.structured_outputs),
    }
    print(f"first request (reply {reply.external_id}):")  # type: ignore[union-attr]
    print(json.dumps(body, ensure_ascii=False, indent=2))


async def _report(args: argparse.Namespace, env: CliEnv) -> int:
    config = env.config
    since = until = None
    if args.week:
        since, until = weeks.bounds(args.week, config.slack.tz)
    db = await env.database()
    async with db.session() as session:
        rows = await agreement(session, config, since=since, until=until)
        stats = await run_stats(session, since, until)
    scope = f"replies reviewed in {args.week}" if args.week else "every reviewed reply"
    print(f"AI judge {config.judge.model} vs reviewers, {scope} (mode = {config.judge.mode})")
    print(table(rows))
    cost = f", cost ${stats.cost_usd:.4f}" if stats.cost_usd is not None else ""
    print(
        f"runs {stats.ok:,} ok, {stats.errors:,} errors; tokens {stats.input_tokens:,} in / "
        f"{stats.output_tokens:,} out{cost}"
    )
    return 0


async def _eval(args: argparse.Namespace, env: CliEnv) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        result = await evaluate(env.config, path, limit=args.limit)
    except JudgeUnavailable as exc:
        raise UsageError(f"the judge cannot be called: {exc}") from exc
    for line in result.rejected[:REJECTS_SHOWN]:
        print(line, file=sys.stderr)
    if len(result.rejected) > REJECTS_SHOWN:
        print(f"…and {len(result.rejected) - REJECTS_SHOWN} more rejected lines", file=sys.stderr)
    if result.unknown:
        print(f"note: labels for criteria the judge does not ask: {sorted(result.unknown)}", file=sys.stderr)
    if not result.records:
        raise UsageError(f"{path}: no labelled record")
    print(f"AI judge {env.config.judge.model} vs the labels of {path} ({result.records} records)")
    print(table(result.rows))
    errors = ", ".join(f"{k} {n}" for k, n in sorted(result.errors.items())) or "none"
    print(f"errors: {errors}; tokens {result.input_tokens:,} in / {result.output_tokens:,} out")
    return 1 if sum(result.errors.values()) == result.records else 0


def _pct(value: float | None, ci: tuple[float, float] | None = None) -> str:
    if value is None:
        return "–"
    text = f"{value * 100:.0f}%"
    return f"{text} ({ci[0] * 100:.0f}–{ci[1] * 100:.0f}%)" if ci else text


def table(rows: Sequence[CriterionAgreement]) -> str:
    """A plain-text table: one line per criterion."""
    head = (
        "criterion",
        "category",
        "status",
        "n",
        "kappa",
        "precision (95% CI)",
        "recall (95% CI)",
        "unsure",
    )
    lines = [head]
    for r in rows:
        kappa = "–" if r.kappa is None else f"{r.kappa:.2f}"
        cells = (r.criterion, r.category or "–", r.status, str(r.n), kappa, _pct(r.precision, r.precision_ci))
        lines.append((*cells, _pct(r.recall, r.recall_ci), str(r.unsure)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
