"""Precision and recall of each detector kind against labelled replies (default: the dev set).

usage: python bench/detector_quality.py [--replies PATH] [--labels PATH] [--min 0.95]
Exits 1 if any kind scores below the threshold, 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bot.checks.detector import Detector
from bot.checks.findings import KINDS
from bot.core.config import DetectorsConfig
from bot.core.records import Customer, KbArticle, ReplyRecord

DEV_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/dev"


def _text(d: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = d.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"missing {key}")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def record_from_dict(d: Any) -> ReplyRecord:
    """A ReplyRecord from one parsed JSONL object; ValueError names the bad field."""
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    created = dt.datetime.fromisoformat(_text(d, "created_at", required=True))
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    cust = d.get("customer") or {}
    kb = tuple(
        KbArticle(
            id=str(a["id"]),
            url=a.get("url"),
            updated_at=dt.date.fromisoformat(a["updated_at"][:10]) if a.get("updated_at") else None,
            reviewed_at=dt.date.fromisoformat(a["reviewed_at"][:10]) if a.get("reviewed_at") else None,
        )
        for a in d.get("kb_articles") or ()
    )
    return ReplyRecord(
        id=_text(d, "id", required=True),
        ticket_id=_text(d, "ticket_id", required=True),
        created_at=created.astimezone(dt.UTC),
        reply=_text(d, "reply", required=True),
        source=d.get("source") or "import",
        customer_message=d.get("customer_message"),
        customer=Customer(
            id=cust.get("id"), name=cust.get("name"), email=cust.get("email"), plan=cust.get("plan")
        ),
        template_id=d.get("template_id"),
        kb_articles=kb,
        channel=d.get("channel"),
    )


def load_records(path: Path) -> tuple[list[ReplyRecord], int]:
    """Parsed records and the number of malformed lines skipped."""
    records, bad = [], 0
    for line in path.read_bytes().splitlines():
        try:
            records.append(record_from_dict(orjson.loads(line)))
        except (orjson.JSONDecodeError, ValueError, TypeError, KeyError):
            bad += 1
    return records, bad


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def evaluate(replies: Path, labels: Path, config: DetectorsConfig | None = None) -> dict[str, Score]:
    """Score per detector kind: findings on the replies against the labelled defects."""
    records, _ = load_records(replies)
    findings = Detector(config or DetectorsConfig()).check_batch(records)
    truth: dict[str, set[str]] = {k: set() for k in KINDS}
    for line in labels.read_bytes().splitlines():
        if line.strip():
            label = orjson.loads(line)
            for kind in label["defects"]:
                truth.setdefault(kind, set()).add(label["id"])
    found: dict[str, set[str]] = {k: set() for k in KINDS}
    for f in findings:
        if f.kind in found:
            found[f.kind].add(f.reply_id)
    return {
        k: Score(len(found[k] & truth[k]), len(found[k] - truth[k]), len(truth[k] - found[k])) for k in KINDS
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replies", type=Path, default=DEV_DATA / "replies.jsonl")
    ap.add_argument("--labels", type=Path, default=DEV_DATA / "labels.jsonl")
    ap.add_argument("--min", type=float, default=0.95, help="lowest acceptable precision/recall")
    a = ap.parse_args(argv)
    try:
        scores = evaluate(a.replies, a.labels)
    except OSError as exc:
        print(f"cannot read input: {exc}", file=sys.stderr)
        return 2
    print(f"{'kind':<18}{'precision':>10}{'recall':>8}{'TP':>6}{'FP':>6}{'FN':>6}")
    failed = []
    for kind, s in scores.items():
        print(f"{kind:<18}{s.precision:>10.3f}{s.recall:>8.3f}{s.tp:>6}{s.fp:>6}{s.fn:>6}")
        if s.precision < a.min or s.recall < a.min:
            failed.append(kind)
    if failed:
        print(f"below {a.min}: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
