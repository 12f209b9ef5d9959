"""Exports for analysts: one row per item, stable column names, streamed from the database.

`reply_id` is always the record's own `id` (as imported), never the database key. `--since D`
keeps rows created on or after midnight of D in the team's time zone; for findings that is the
reply's time. `corrections` (reviews with an expected answer) defaults to JSONL: it is meant as
data for improving the AI, and its texts are multi-line. `articles` is computed per article
(bot.export.articles); regression cases have their own formats (bot.export.regressions).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, TextIO

import orjson
import sqlalchemy as sa
from defusedcsv import csv as defused_csv

from bot.checks.context import marked
from bot.core.db import Database
from bot.core.models import (
    Defect,
    DefectGroup,
    Finding,
    FindingFeedback,
    FixVerification,
    JudgeRun,
    Judgment,
    Reply,
    Review,
    SampleItem,
)
from bot.export.articles import COLUMNS as ARTICLE_COLUMNS
from bot.export.articles import article_rows

VERIFICATION_COLUMNS = (
    "verification",  # verifying | verified | recurred | unverified
    "verification_segment",
    "verification_ends_at",
    "verification_traffic",
    "verification_matches",
    "verification_reviewed",
    "verification_decided_at",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "replies": ("id", "source", "ticket_id", "created_at", "template_id", "intent", "channel"),
    # context: the sentence the check matched in, the match between « »; feedback: a reviewer's
    # judgement (confirmed | false_alarm | empty), and the reason given for a false alarm
    "findings": ("reply_id", "kind", "evidence", "context", "feedback", "feedback_reason"),
    "reviews": ("reply_id", "reviewer", "verdict", "category", "severity", "note", "created_at"),
    "defects": ("id", "group_id", "reply_id", "category", "severity", "status", "tracker_url"),
    "groups": (
        "id",
        "title",
        "category",
        "severity",
        "status",
        "occurrences",
        "tracker",
        "tracker_url",
        "owner",
        "created_at",
        "fixed_at",
        # the latest verification of its fix (bot.defects.verification); empty when never fixed
        *VERIFICATION_COLUMNS,
    ),
    "corrections": ("customer_message", "reply", "expected", "category", "template_id", "group_id"),
    "judgments": (
        "reply_id",
        "criterion",
        "verdict",
        "rationale",
        "model",
        "prompt_version",
        "input_tokens",
        "output_tokens",
    ),
}
COLUMNS["articles"] = ARTICLE_COLUMNS  # computed per article (bot.digest.articles), not one SELECT
DEFAULT_FORMAT = {"corrections": "jsonl"}
STREAM_ROWS = 1000

R, F, RV, SI, D, G, FB = (
    m.__table__ for m in (Reply, Finding, Review, SampleItem, Defect, DefectGroup, FindingFeedback)
)


def query(kind: str, since: dt.datetime | None = None) -> sa.Select:
    """The SELECT for one export kind, its columns labelled as in COLUMNS."""
    if kind == "replies":
        stmt = sa.select(
            R.c.external_id.label("id"),
            R.c.source,
            R.c.ticket_id,
            R.c.created_at,
            R.c.template_id,
            R.c.intent,
            R.c.channel,
        ).order_by(R.c.id)
        created = R.c.created_at
    elif kind == "findings":
        stmt = (
            sa.select(
                R.c.external_id.label("reply_id"),
                F.c.kind,
                F.c.evidence,
                FB.c.verdict.label("feedback"),
                FB.c.reason.label("feedback_reason"),
            )
            .join(R, R.c.id == F.c.reply_id)
            .outerjoin(FB, FB.c.finding_id == F.c.id)
            .order_by(F.c.id)
        )
        created = R.c.created_at
    elif kind == "reviews":
        stmt = (
            sa.select(
                R.c.external_id.label("reply_id"),
                RV.c.reviewer,
                RV.c.verdict,
                RV.c.category,
                RV.c.severity,
                RV.c.note,
                RV.c.created_at,
            )
            .join(SI, SI.c.id == RV.c.item_id)
            .join(R, R.c.id == SI.c.reply_id)
            .order_by(RV.c.id)
        )
        created = RV.c.created_at
    elif kind == "defects":
        stmt = (
            sa.select(
                D.c.id,
                D.c.group_id,
                R.c.external_id.label("reply_id"),
                D.c.category,
                D.c.severity,
                D.c.status,
                G.c.tracker_url,
            )
            .join(R, R.c.id == D.c.reply_id)
            .join(G, G.c.id == D.c.group_id)
            .order_by(D.c.id)
        )
        created = D.c.created_at
    elif kind == "groups":
        stmt, created = _groups()
    elif kind == "corrections":
        stmt = (
            sa.select(
                R.c.customer_message,
                R.c.reply,
                RV.c.expected,
                RV.c.category,
                R.c.template_id,
                D.c.group_id,
            )
            .join(SI, SI.c.id == RV.c.item_id)
            .join(R, R.c.id == SI.c.reply_id)
            .outerjoin(D, D.c.review_id == RV.c.id)
            .where(RV.c.expected.is_not(None), sa.func.trim(RV.c.expected) != "")
            .order_by(RV.c.id)
        )
        created = RV.c.created_at
    elif kind == "judgments":
        stmt, created = _judgments()
    else:
        raise ValueError(f"unknown export kind {kind!r}")
    return stmt.where(created >= since) if since is not None else stmt


async def rows(
    db: Database, kind: str, since: dt.datetime | None = None, now: dt.datetime | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Rows of one export kind as dicts, streamed (memory does not grow with the table)."""
    if kind == "articles":
        async for row in article_rows(db, since, now or dt.datetime.now(dt.UTC)):
            yield row
        return
    stmt = query(kind, since).execution_options(yield_per=STREAM_ROWS)
    async with db.engine.connect() as conn:
        result = await conn.stream(stmt)
        async for row in result.mappings():
            out = dict(row)
            if kind == "findings":
                evidence = out["evidence"] or {}
                out["context"] = marked(evidence.get("sentence")) if isinstance(evidence, dict) else ""
            yield out


def cell(value: Any) -> Any:
    """A value as it appears in the export: UTC times with Z, JSON objects as JSON text in CSV."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value


async def write(
    db: Database,
    kind: str,
    out: TextIO,
    fmt: str,
    since: dt.datetime | None = None,
    *,
    raw: bool = False,
    now: dt.datetime | None = None,
) -> int:
    """Write every row of `kind` to `out`; return how many.

    CSV cells that a spreadsheet would read as a formula (starting with = + - @ | %, other than a
    plain number) are written as text by defusedcsv: a `'` in front and `|` as `\\|`. `raw`
    writes every cell as it is stored.
    """
    columns = COLUMNS[kind]
    count = 0
    if fmt == "csv":
        writer = (csv if raw else defused_csv).writer(out, lineterminator="\n")
        writer.writerow(columns)
        async for row in rows(db, kind, since, now):
            writer.writerow([_csv_cell(row[c]) for c in columns])
            count += 1
    else:
        async for row in rows(db, kind, since, now):
            line = orjson.dumps({c: cell(row[c]) for c in columns})
            out.write(line.decode() + "\n")
            count += 1
    return count


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return "" if value is None else cell(value)


def _groups() -> tuple[sa.Select, sa.ColumnElement]:
    """Each group with the latest (not cancelled) verification of its fix."""
    V = FixVerification.__table__
    latest = (
        sa.select(sa.func.max(V.c.id).label("id"))
        .where(V.c.status != "cancelled")
        .group_by(V.c.group_id)
        .subquery("latest")
    )
    own = (name for name in COLUMNS["groups"] if name not in VERIFICATION_COLUMNS)
    shown = [
        V.c[name.removeprefix("verification_") if name != "verification" else "status"]
        for name in VERIFICATION_COLUMNS
    ]
    stmt = (
        sa.select(
            *(G.c[name] for name in own),
            *(c.label(n) for c, n in zip(shown, VERIFICATION_COLUMNS, strict=True)),
        )
        .select_from(G)
        .outerjoin(V, sa.and_(V.c.group_id == G.c.id, V.c.id.in_(sa.select(latest.c.id))))
        .order_by(G.c.id)
    )
    return stmt, G.c.created_at


def _judgments() -> tuple[sa.Select, sa.ColumnElement]:
    """One row per criterion of each judged reply; a failed run is one row with verdict `error`
    and its reason as the rationale. Tokens are per call, so repeated on each criterion's row."""
    J, RUN = Judgment.__table__, JudgeRun.__table__
    facts = (RUN.c.model, RUN.c.prompt_version, RUN.c.input_tokens, RUN.c.output_tokens, RUN.c.created_at)
    judged = sa.select(
        R.c.external_id.label("reply_id"),
        J.c.criterion,
        J.c.verdict,
        J.c.rationale,
        *facts,
        RUN.c.id.label("run"),
        J.c.id.label("row"),
    ).select_from(J.join(RUN, RUN.c.id == J.c.run_id).join(R, R.c.id == J.c.reply_id))
    reason = sa.func.coalesce(RUN.c.error_kind, "error") + ": " + sa.func.coalesce(RUN.c.error, "")
    failed = (
        sa.select(
            R.c.external_id,
            sa.literal("").label("criterion"),
            sa.literal("error").label("verdict"),
            reason,
            *facts,
            RUN.c.id,
            sa.literal(0),
        )
        .select_from(RUN.join(R, R.c.id == RUN.c.reply_id))
        .where(RUN.c.status == "error")
    )
    both = sa.union_all(judged, failed).subquery("judgments")
    columns = [both.c[name] for name in COLUMNS["judgments"]]
    return sa.select(*columns).order_by(both.c.run, both.c.row), both.c.created_at
