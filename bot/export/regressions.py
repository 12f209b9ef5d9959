"""Regression cases: every confirmed defect as a test case for the AI's next version.

One case per defective reply (its first defect that is not withdrawn): the customer's message as
the input, the bad reply, and the reviewer's category, note and expected answer as the expected
behaviour. Every text is redacted (bot.core.redact: emails, phones, card numbers) and the
customer's own name replaced by `[customer name]`, so a test suite can be shared.

Two formats:
- `promptfoo`: a promptfoo config (YAML) whose `tests` are the cases: `vars` hold the texts, and
  `assert` an `llm-rubric` (graded against the reviewer's expectation) plus `not-contains` for the
  bad reply and for any placeholder it leaked. promptfoo renders every var and every assertion
  value once as a Nunjucks template, so a leaked `{{first_name}}` written as is would become an
  empty string (and `{% … %}` in a customer's message would run as template code): every text is
  written with its template openers escaped (`{{ "{{" }}first_name}}`), which renders back to
  the text itself. tests/bot/export/test_regressions_promptfoo.py checks this with promptfoo.
- `jsonl`: one chat-format case per line for eval tools: `messages` (the customer's message), the
  `ideal` answer when the reviewer gave one, the `rejected` reply, and metadata.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
import sqlalchemy as sa
import yaml

from bot.core.db import Database
from bot.core.models import Defect, Finding, Reply, Review
from bot.core.redact import redact
from bot.views.review import category_label

R, RV, D, F = (m.__table__ for m in (Reply, Review, Defect, Finding))
FORMATS = ("promptfoo", "jsonl")
PROMPT = "{{customer_message}}"
CUSTOMER = "[customer name]"


@dataclass(frozen=True)
class Case:
    reply_id: str
    ticket_id: str
    group_id: int
    category: str
    severity: str
    customer_message: str
    bad_reply: str
    expected: str
    note: str
    template_id: str | None
    intent: str | None
    placeholders: tuple[str, ...]
    created_at: dt.datetime


def scrub(text: str | None, name: str | None) -> str:
    """Redacted, the customer's name (and each part of it) replaced, and never read as a file by
    promptfoo (a var starting with `file://` is loaded from disk)."""
    text = redact(text)
    parts = sorted({p for p in (name or "").split() if len(p) > 1}, key=len, reverse=True)
    for part in ([name] if name and " " in name.strip() else []) + parts:
        text = re.sub(rf"(?<!\w){re.escape(part)}(?!\w)", CUSTOMER, text, flags=re.IGNORECASE)
    return " " + text if text.startswith("file://") else text


_OPENER = re.compile(r"\{([{%#])")


def inert(text: str) -> str:
    """`text` as a Nunjucks template that renders to `text`: each `{{`, `{%`, `{#` as a string literal."""
    return _OPENER.sub(lambda m: '{{ "{' + m.group(1) + '" }}', text)


def query(since: dt.datetime | None = None) -> sa.Select:
    first = (
        sa.select(sa.func.min(D.c.id).label("id"))
        .where(D.c.status != "withdrawn")
        .group_by(D.c.reply_id)
        .subquery("first_defects")
    )
    stmt = (
        sa.select(
            R.c.id.label("reply_pk"), R.c.external_id, R.c.ticket_id, R.c.customer_message, R.c.reply,
            R.c.customer_name, R.c.template_id, R.c.intent, D.c.group_id, D.c.category, D.c.severity,
            D.c.created_at, RV.c.note, RV.c.expected,
        )
        .select_from(first.join(D, D.c.id == first.c.id))
        .join(R, R.c.id == D.c.reply_id)
        .join(RV, RV.c.id == D.c.review_id)
        .order_by(D.c.id)
    )  # fmt: skip
    return stmt.where(D.c.created_at >= since) if since is not None else stmt


async def cases(db: Database, since: dt.datetime | None = None) -> AsyncIterator[Case]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query(since))).mappings().all()
        leaked: dict[int, list[str]] = {}
        ids = [row["reply_pk"] for row in rows]
        for start in range(0, len(ids), 500):
            found = sa.select(F.c.reply_id, F.c.evidence).where(
                F.c.kind == "placeholder_leak", F.c.reply_id.in_(ids[start : start + 500])
            )
            for reply_id, evidence in (await conn.execute(found)).all():
                tags = (evidence or {}).get("placeholders") or [(evidence or {}).get("placeholder")]
                leaked.setdefault(reply_id, []).extend(str(t) for t in tags if t)
    for row in rows:
        name = row["customer_name"]
        yield Case(
            reply_id=row["external_id"],
            ticket_id=row["ticket_id"],
            group_id=row["group_id"],
            category=row["category"],
            severity=row["severity"],
            customer_message=scrub(row["customer_message"], name),
            bad_reply=scrub(row["reply"], name),
            expected=scrub(row["expected"], name).strip(),
            note=scrub(row["note"], name).strip(),
            template_id=row["template_id"],
            intent=row["intent"],
            placeholders=tuple(dict.fromkeys(scrub(t, name) for t in leaked.get(row["reply_pk"], []))),
            created_at=row["created_at"],
        )


def rubric(case: Case, *, template: bool = True) -> str:
    """What the grader is asked, with the reviewer's note and answer (made inert when `template`)."""
    text = inert if template else str
    lines = [
        "The output is a customer-support reply to the customer's message.",
        f"An earlier AI reply to this message was found defective ({category_label(case.category)}, "
        f"severity {case.severity}). It must not repeat that problem.",
    ]
    if case.note:
        lines.append(f"What the reviewer found wrong: {text(case.note)}")
    if case.expected:
        lines.append(
            f"The output must agree on every fact and commitment with the answer a reviewer wrote: "
            f"{text(case.expected)}"
        )
    return "\n".join(lines)


def metadata(case: Case) -> dict[str, Any]:
    return {
        "category": case.category,
        "severity": case.severity,
        "reply_id": case.reply_id,
        "ticket_id": case.ticket_id,
        "group_id": case.group_id,
        "template_id": case.template_id or "",
        "intent": case.intent or "",
    }


def promptfoo_test(case: Case) -> dict[str, Any]:
    vars_: dict[str, str] = {
        "customer_message": inert(case.customer_message),
        "bad_reply": inert(case.bad_reply),
    }
    if case.expected:
        vars_["expected_answer"] = inert(case.expected)
    if case.note:
        vars_["reviewer_note"] = inert(case.note)
    asserts: list[dict[str, Any]] = [
        {"type": "llm-rubric", "value": rubric(case), "metric": case.category},
        {"type": "not-contains", "value": inert(case.bad_reply), "metric": "not_the_bad_reply"},
    ]
    asserts += [
        {"type": "not-contains", "value": inert(tag), "metric": "placeholder"} for tag in case.placeholders
    ]
    return {
        "description": f"{category_label(case.category)} ({case.severity}) · reply {case.reply_id}",
        "vars": vars_,
        "assert": asserts,
        "metadata": metadata(case),
    }


def chat_case(case: Case) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": case.customer_message}],
        "ideal": case.expected or None,
        "rejected": case.bad_reply,
        "criteria": rubric(case, template=False),
        "metadata": metadata(case),
    }


async def write(db: Database, out: TextIO, fmt: str, since: dt.datetime | None = None) -> int:
    """Write the regression cases in `fmt` (promptfoo | jsonl); return how many."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown regression format {fmt!r}")
    count = 0
    if fmt == "jsonl":
        async for case in cases(db, since):
            out.write(orjson.dumps(chat_case(case)).decode() + "\n")
            count += 1
        return count
    tests = [promptfoo_test(case) async for case in cases(db, since)]
    config = {
        "description": "auditbot regression cases: AI replies reviewers found defective",
        "prompts": [PROMPT],
        "tests": tests,
    }
    out.write("# Generated by `auditbot export regressions`. Run it against the AI under test with its\n")
    out.write("# providers in another file (promptfoo merges the configs given to -c):\n")
    out.write("#   npx promptfoo eval -c providers.yaml -c this-file.yaml\n")
    out.write(yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100))
    return len(tests)
