"""Detector precision and recall on labelled data: the dev set and a fresh draw of the generator."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEV_DATA, SHARED

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "bench" / "detector_quality.py"
GENERATOR = SHARED / "tools" / "gen_replies.py"
THRESHOLD = 0.95

_spec = importlib.util.spec_from_file_location("detector_quality", SCRIPT)
assert _spec is not None and _spec.loader is not None
quality = importlib.util.module_from_spec(_spec)
sys.modules["detector_quality"] = quality  # dataclasses look their module up there
_spec.loader.exec_module(quality)


def assert_good_enough(scores: dict) -> None:
    assert set(scores) == {
        "placeholder_leak",
        "duplicate_reply",
        "name_mismatch",
        "plan_mismatch",
        "stale_kb",
    }
    for kind, s in scores.items():
        assert s.tp > 0, kind  # the data really holds this kind
        assert s.precision >= THRESHOLD, (kind, s)
        assert s.recall >= THRESHOLD, (kind, s)


@pytest.mark.skipif(not DEV_DATA.exists(), reason="shared dev data not present")
def test_dev_set() -> None:
    records, bad = quality.load_records(DEV_DATA / "replies.jsonl")
    assert bad == 7 and len(records) == 3000
    assert_good_enough(quality.evaluate(DEV_DATA / "replies.jsonl", DEV_DATA / "labels.jsonl"))


@pytest.mark.skipif(not GENERATOR.exists(), reason="shared generator not present")
@pytest.mark.parametrize("seed", [11, 2026])
def test_another_draw(tmp_path: Path, seed: int) -> None:
    args = ["-n", "4000", "--seed", str(seed), "--bad-lines", "5", "--start", "2027-03-01"]
    subprocess.run(
        [sys.executable, str(GENERATOR), *args, "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert_good_enough(quality.evaluate(tmp_path / "replies.jsonl", tmp_path / "labels.jsonl"))


@pytest.mark.skipif(not DEV_DATA.exists(), reason="shared dev data not present")
def test_script_prints_a_table_and_fails_below_the_threshold() -> None:
    ok = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd="/")
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0].split() == ["kind", "precision", "recall", "TP", "FP", "FN"]
    assert len(lines[1:6]) == 5 and "realistic: found 18 of 18" in lines
    assert any(line.startswith("realworld: ") for line in lines)
    strict = subprocess.run([sys.executable, str(SCRIPT), "--min", "1.01"], capture_output=True, text=True)
    assert strict.returncode == 1
    assert "below 1.01" in strict.stderr


REALISTIC = SHARED / "data" / "realistic"
REALWORLD = SHARED / "data" / "realworld"


@pytest.mark.skipif(not REALISTIC.exists(), reason="shared realistic data not present")
def test_realistic_wrong_replies_are_found() -> None:
    found, planted, misses = quality.realistic(REALISTIC)
    assert planted == 18 and found >= 17, misses


@pytest.mark.skipif(not REALWORLD.exists(), reason="shared realworld data not present")
def test_real_replies_raise_only_the_known_repeats() -> None:
    total, findings, _ = quality.realworld(REALWORLD)
    assert total == 6372
    flagged = {(f.reply_id, f.kind) for f in findings}
    # the README's known false alarms: a shell ${PATH}, a chat filler, a flood warning repeated
    assert ("ubuntu-3-131160-2", "placeholder_leak") not in flagged
    assert ("abcd-3695-12", "duplicate_reply") not in flagged
    assert ("ubuntu-3-134923-2", "duplicate_reply") not in flagged
    # what is left are IRC lines repeated within a minute (true repeats)
    assert {kind for _, kind in flagged} <= {"duplicate_reply"}
    assert {rid.rsplit("-", 1)[0] for rid, _ in flagged} <= {
        "ubuntu-3-110676",
        "ubuntu-3-133917",
        "ubuntu-3-72062",
        "twcs-airtel_care-5924",
    }


def test_script_reports_unreadable_input(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), "--replies", str(tmp_path / "nope.jsonl")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert "nope.jsonl" in missing.stderr


def test_record_from_dict_rejects_what_the_contract_rejects() -> None:
    good = {"id": "R-1", "ticket_id": "T-1", "created_at": "2026-11-20T10:00:00Z", "reply": "Hi"}
    assert quality.record_from_dict(good).created_at.tzinfo is not None
    for bad in (
        [1, 2],
        {**good, "reply": ""},
        {**good, "created_at": "yesterday"},
        {**good, "id": 12},
        {k: v for k, v in good.items() if k != "ticket_id"},
    ):
        with pytest.raises((ValueError, TypeError)):
            quality.record_from_dict(bad)


def test_the_hand_written_probes_raise_no_more_false_alarms_or_misses_than_written_down() -> None:
    correct, alarms, wrong, misses = quality.probes(quality.PROBES)
    assert (correct, wrong) == (1794, 575)  # the probes themselves, as committed
    assert len(alarms) <= quality.PROBE_ALARMS, "\n".join(alarms)
    assert len(misses) <= quality.PROBE_MISSES, "\n".join(misses)
