"""`auditbot judge eval FILE`: the judge's agreement with hand labels, before switching model or prompt.

The file is JSONL: reply records (DESIGN.md) each with `labels: {criterion id: "pass" | "fail"}`.
Nothing is stored; every record is sent to the configured model (the same requests, redacted and
fenced, as in production) and its verdicts are compared with the labels, criterion by criterion.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.config import AuditConfig
from bot.core.records import ReplyRecord
from bot.judge.agreement import Confusion, measure
from bot.judge.client import JudgeClient, ask, build_sdk_client, classify
from bot.judge.criteria import criteria_for
from bot.judge.prompt import JudgeInput, build_request
from bot.views.judge import CriterionAgreement
from integrations.jsonl import parse_record

LABELS = ("pass", "fail")
LABELS_SHAPE = 'labels must be an object like {"tone": "pass", "no_invention": "fail"}'


@dataclass
class Labelled:
    line: int
    record: ReplyRecord
    labels: dict[str, str]


@dataclass
class Evaluation:
    rows: list[CriterionAgreement] = field(default_factory=list)
    records: int = 0
    rejected: list[str] = field(default_factory=list)  # "FILE:LINE: reason"
    unknown: set[str] = field(default_factory=set)  # labelled criteria the judge does not ask
    errors: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0


def read_labelled(path: Path) -> tuple[list[Labelled], list[str]]:
    """The labelled records, and `FILE:LINE: reason` for each line that is not one."""
    good: list[Labelled] = []
    bad: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                record = parse_record(raw)
            except ValueError as exc:  # bad JSON, or a RecordError naming the field
                bad.append(f"{path}:{number}: {exc}")
                continue
            labels = record.metadata.get("labels")
            if not isinstance(labels, dict) or not labels or any(v not in LABELS for v in labels.values()):
                bad.append(f"{path}:{number}: {LABELS_SHAPE}")
                continue
            good.append(Labelled(number, record, {str(k): v for k, v in labels.items()}))
    return good, bad


async def evaluate(config: AuditConfig, path: Path, *, limit: int | None = None) -> Evaluation:
    """Judge every labelled record (at most `limit`) and measure agreement per criterion."""
    labelled, rejected = read_labelled(path)
    labelled = labelled[:limit] if limit is not None else labelled
    criteria = criteria_for(config)
    result = Evaluation(records=len(labelled), rejected=rejected)
    asked = {c.id for c in criteria}
    result.unknown = {name for item in labelled for name in item.labels if name not in asked}
    counts = {c.id: Confusion() for c in criteria}
    client = JudgeClient(build_sdk_client(config.judge), config.judge)
    gate = asyncio.Semaphore(config.judge.concurrency)

    async def one(item: Labelled) -> None:
        request = build_request(criteria, JudgeInput.of_record(item.record))
        async with gate:
            try:
                verdicts, answer = await ask(client, request)
            except Exception as exc:  # counted and reported, the evaluation goes on
                result.errors[classify(exc)[0]] += 1
                return
        result.input_tokens += answer.input_tokens
        result.output_tokens += answer.output_tokens
        for criterion in request.criteria:
            label = item.labels.get(criterion.id)
            if label is not None:
                counts[criterion.id] = counts[criterion.id].add(verdicts[criterion.id].verdict, label)

    try:
        await asyncio.gather(*(one(item) for item in labelled))
    finally:
        await client.close()
    result.rows = [measure(c, counts[c.id], config, by_category=False) for c in criteria]
    return result
