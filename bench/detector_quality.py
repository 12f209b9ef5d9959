"""How good the checks are, on three kinds of data (README "Automatic checks"):

1. precision and recall per kind on labelled replies (default: the generated dev set);
2. recall on hand-written wrong replies (`../shared/data/realistic`: found N of 18, with its
   auditbot.toml), listing any miss;
3. findings per 1,000 real replies per kind on public support conversations
   (`../shared/data/realworld`), every finding listed so a reader can judge it;
4. the hand-written probes in bench/probes (ours: replies written to trip the checks, correct and
   wrong, each with its `expect`): every false alarm and every miss listed. The rules were fixed
   against them, so they guard against a regression rather than measure what is unseen.

usage: python bench/detector_quality.py [--replies PATH] [--labels PATH] [--min 0.95]
                                        [--realistic DIR] [--realworld DIR] [--min-found 17]
                                        [--probes DIR]
Exits 1 if a kind scores below --min on the labelled set, fewer than --min-found realistic
failures are found, or the probes raise more false alarms or misses than PROBE_ALARMS and
PROBE_MISSES (what they raised when they were written down); 2 on unreadable input.
--realistic/--realworld/--probes "" skips that part.
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

from bot.checks.context import marked
from bot.checks.detector import Detector
from bot.checks.findings import KINDS, Finding
from bot.core.config import DetectorsConfig, load_config
from bot.core.records import Customer, KbArticle, ReplyRecord

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared/data"
DEV_DATA = SHARED_DATA / "dev"
PROBES = Path(__file__).resolve().parent / "probes"
# What the probes raised when they were written down (README "Measuring the checks" lists them).
PROBE_ALARMS, PROBE_MISSES = 6, 27


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


def realistic(directory: Path) -> tuple[int, int, list[str]]:
    """(found, planted, misses) on the hand-written wrong replies, with the set's own config."""
    path = directory / "replies.jsonl"
    expect = {o["id"]: o.get("expect") for o in map(orjson.loads, path.read_bytes().splitlines()) if o}
    config = load_config(path=directory / "auditbot.toml").detectors
    records, _ = load_records(path)
    got: dict[str, set[str]] = {}
    for f in Detector(config).check_batch(records):
        got.setdefault(f.reply_id, set()).add(f.kind)
    planted = {rid: kind for rid, kind in expect.items() if kind}
    misses = [f"{rid} ({kind})" for rid, kind in planted.items() if kind not in got.get(rid, set())]
    return len(planted) - len(misses), len(planted), misses


def probes(directory: Path) -> tuple[int, list[str], int, list[str]]:
    """(correct replies, their false alarms, wrong replies, their misses) on the probes, each
    listed as "id kind: text"."""
    path = directory / "replies.jsonl"
    rows = [o for o in map(orjson.loads, path.read_bytes().splitlines()) if o]
    expect, text = {o["id"]: o.get("expect") for o in rows}, {o["id"]: o["reply"] for o in rows}
    config = load_config(path=directory / "auditbot.toml").detectors
    records, _ = load_records(path)
    got: dict[str, set[str]] = {}
    for f in Detector(config).check_batch(records):
        got.setdefault(f.reply_id, set()).add(f.kind)

    def line(rid: str, kind: str) -> str:
        return f"{rid} {kind}: {' '.join(text[rid].split())[:100]}"

    alarms = [line(rid, k) for rid, kinds in got.items() for k in sorted(kinds - {expect[rid]})]
    misses = [line(rid, kind) for rid, kind in expect.items() if kind and kind not in got.get(rid, set())]
    wrong = sum(1 for kind in expect.values() if kind)
    return len(expect) - wrong, alarms, wrong, misses


def realworld(directory: Path) -> tuple[int, list[Finding], dict[str, str]]:
    """(replies read, findings, reply text by id) on the real conversations, default config."""
    records = []
    for path in sorted(directory.glob("*.jsonl")):
        records += load_records(path)[0]
    findings = Detector(DetectorsConfig()).check_batch(records)
    return len(records), findings, {r.id: r.reply for r in records}


def _dev_table(scores: dict[str, Score], minimum: float) -> list[str]:
    print(f"{'kind':<18}{'precision':>10}{'recall':>8}{'TP':>6}{'FP':>6}{'FN':>6}")
    failed = []
    for kind, s in scores.items():
        print(f"{kind:<18}{s.precision:>10.3f}{s.recall:>8.3f}{s.tp:>6}{s.fp:>6}{s.fn:>6}")
        if s.precision < minimum or s.recall < minimum:
            failed.append(kind)
    return failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replies", type=Path, default=DEV_DATA / "replies.jsonl")
    ap.add_argument("--labels", type=Path, default=DEV_DATA / "labels.jsonl")
    ap.add_argument("--min", type=float, default=0.95, help="lowest acceptable precision/recall")
    ap.add_argument("--realistic", default=str(SHARED_DATA / "realistic"), help='"" to skip')
    ap.add_argument("--realworld", default=str(SHARED_DATA / "realworld"), help='"" to skip')
    ap.add_argument("--min-found", type=int, default=17, help="realistic failures that must be found")
    ap.add_argument("--probes", default=str(PROBES), help='"" to skip')
    a = ap.parse_args(argv)
    try:
        scores = evaluate(a.replies, a.labels)
        found = realistic(Path(a.realistic)) if a.realistic else None
        real = realworld(Path(a.realworld)) if a.realworld else None
        probed = probes(Path(a.probes)) if a.probes else None
    except OSError as exc:
        print(f"cannot read input: {exc}", file=sys.stderr)
        return 2
    failed = _dev_table(scores, a.min)
    if failed:
        failed = [f"{', '.join(failed)} (below {a.min})"]
    if found is not None:
        hit, planted, misses = found
        print(f"\nrealistic: found {hit} of {planted}" + (f"; missed {', '.join(misses)}" if misses else ""))
        if hit < min(a.min_found, planted):
            failed.append(f"realistic ({hit} of {planted} found)")
    if real is not None:
        total, findings, texts = real
        print(f"\nrealworld: {len(findings)} findings on {total:,} real replies")
        per_kind = {k: 0 for k in KINDS}
        for f in findings:
            per_kind[f.kind] = per_kind.get(f.kind, 0) + 1
        for kind, count in per_kind.items():
            print(f"  {kind:<18}{count:>4}  {1000 * count / max(total, 1):6.2f} per 1,000 replies")
        for f in findings:
            shown = marked(f.evidence.get("sentence")) or " ".join(texts[f.reply_id].split())[:120]
            extra = {k: v for k, v in f.evidence.items() if k != "sentence"}
            print(f"  - {f.reply_id} {f.kind} {orjson.dumps(extra).decode()}: {shown}")
    if probed is not None:
        correct, alarms, wrong, misses = probed
        print(f"\nprobes: {len(alarms)} false alarms on {correct} correct replies", end="")
        print(f", {len(misses)} missed of {wrong} wrong ones")
        for entry in [*(f"  false alarm {a}" for a in alarms), *(f"  missed {m}" for m in misses)]:
            print(entry)
        if len(alarms) > PROBE_ALARMS or len(misses) > PROBE_MISSES:
            failed.append(f"probes ({len(alarms)} false alarms, {len(misses)} misses)")
    if failed:
        print(f"below target: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
