"""Finding 7: team rules run on RE2 (linear time); `config check` refuses what RE2 cannot run, by name."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bot.checks.detector import Detector
from bot.cli.main import main
from bot.core.config import DetectorsConfig, RuleConfig, load_config
from bot.core.settings import ConfigError, Settings
from tests.bot.replies import record

RUNAWAY = "(a+)+$"  # on Python's `re`, 40 `a`s and a `!` take longer than anyone waits


def test_a_runaway_pattern_runs_in_linear_time_and_still_matches() -> None:
    detector = Detector(DetectorsConfig(rules=[RuleConfig(name="runaway", pattern=RUNAWAY)]))
    at = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    assert detector.check(record("R-1", reply="a" * 40 + "!", created_at=at)) == []
    for text in ("a" * 40, "a" * 100_000 + "!" + "a" * 3):
        [finding] = detector.check(record("R-2", reply=text, created_at=at))
        assert finding.kind == "rule:runaway"


def test_the_usual_rule_syntax_works() -> None:
    rules = [
        RuleConfig(name="refund", pattern=r"(?i)\bfull refund\b"),
        RuleConfig(name="amount", pattern=r"\$\d+(\.\d{2})?"),
        RuleConfig(name="umlaut", pattern=r"Rückerstattung"),
    ]
    detector = Detector(DetectorsConfig(rules=rules))
    text = "Dana, a FULL refund of $12.50 (Rückerstattung) is on its way."
    found = detector.check(record("R-1", reply=text, created_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)))
    assert {(f.kind, f.evidence["match"]) for f in found} == {
        ("rule:refund", "FULL refund"),
        ("rule:amount", "$12.50"),
        ("rule:umlaut", "Rückerstattung"),
    }


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"refund(?= now)", "invalid perl operator: (?="),  # lookahead
        (r"(?<!no )refund", "invalid perl operator: (?<"),  # lookbehind
        (r"(\w+) \1", "invalid escape sequence: \\1"),  # backreference
        (r"a{1001}", "invalid repetition size"),
        (r"((a{100}){100}){100}", "invalid repetition size"),
        (r"\pL{1000}", "pattern too large"),  # over RE2's memory budget
        (r"(unclosed", "missing )"),
    ],
)
def test_config_check_names_the_rule_the_engine_cannot_run(tmp_path: Path, pattern: str, reason: str) -> None:
    path = tmp_path / "auditbot.toml"
    path.write_text(
        '[[detectors.rules]]\nname = "fine"\npattern = "ok"\n\n'
        f'[[detectors.rules]]\nname = "lookaround"\npattern = {json.dumps(pattern)}\n'
    )
    with pytest.raises(ConfigError) as error:
        load_config(Settings(_env_file=None), path)
    message = str(error.value)
    assert (
        f"{path}:7: detectors.rules.1.pattern: rule 'lookaround': the rule engine (RE2) cannot run" in message
    )
    assert reason in message


def test_config_check_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "auditbot.toml"
    path.write_text('[[detectors.rules]]\nname = "ahead"\npattern = "refund(?= now)"\n')
    assert main(["config", "check", "--file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rule 'ahead'" in err and "RE2" in err and "E0000" not in err  # RE2's own logging stays off
    path.write_text(f'[[detectors.rules]]\nname = "runaway"\npattern = "{RUNAWAY}"\n')
    assert main(["config", "check", "--file", str(path)]) == 0
