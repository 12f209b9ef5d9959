"""Settings and auditbot.toml: defaults, validation errors that name key, file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.config import AuditConfig, effective, load_config
from bot.core.settings import ConfigError, Settings
from tests.conftest import REPO


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    config = load_config(Settings(_env_file=None), None)
    assert config.sampling.size == 20
    assert config.detectors.stale_kb_days == 180
    assert config.route("tone").tracker == "none"


def test_example_file_is_valid() -> None:
    config = load_config(Settings(_env_file=None), REPO / "auditbot.example.toml")
    assert config.slack.timezone == "Europe/Berlin"
    assert config.detectors.rules[0].name == "promises_refund"
    assert config.route("template_error").tracker == "jira"
    assert config.route("tone").tracker == "none"


def test_environment_overrides_channels(tmp_path: Path) -> None:
    path = _write(tmp_path, '[slack]\naudit_channel = "C1"\ndigest_channel = "C3"\n')
    config = load_config(Settings(_env_file=None, audit_channel="CENV"), path)
    assert config.slack.audit_channel == "CENV"
    assert config.slack.digest_channel == "C3"


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("[sampling]\nsize = 20\nrisk_shar = 0.3\n", "sampling.risk_shar", 3),
        ('[slack]\n\ntimezone = "Mars/Olympus"\n', "slack.timezone", 3),
        ("[sampling]\nsize = -1\n", "sampling.size", 2),
        ('[sampling]\ndays = ["mon", "funday"]\n', "sampling.days", 2),
        ('[[detectors.rules]]\nname = "x"\npattern = "(unclosed"\n', "detectors.rules.0.pattern", 3),
        ('[[routing]]\ncategories = ["nope"]\n', "routing", None),
    ],
)
def test_bad_values_name_key_file_and_line(tmp_path: Path, text: str, key: str, line: int | None) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(Settings(_env_file=None), path)
    message = str(error.value)
    assert key in message
    assert str(path) in message
    if line is not None:
        assert f"{path}:{line}:" in message


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[sampling\nsize = 1\n")
    with pytest.raises(ConfigError, match="line 1"):
        load_config(Settings(_env_file=None), path)


def test_secrets_are_masked() -> None:
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-1234567890-tokenvalue",
        database_url="postgresql://auditor:hunter2@db/auditbot",
    )
    shown = str(effective(settings, AuditConfig()))
    assert "tokenvalue" not in shown
    assert "hunter2" not in shown
    assert "xoxb" in shown  # the prefix helps tell which token is configured


def test_missing_slack_token_names_variable_and_readme() -> None:
    with pytest.raises(ConfigError) as error:
        Settings(_env_file=None, slack_signing_secret="s").require_slack()
    assert "SLACK_BOT_TOKEN" in str(error.value) and "README" in str(error.value)


def test_config_check_command_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, '[digest]\nday = "someday"\n')
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "config", "check", "--file", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "digest.day" in result.stderr and f"{path}:2" in result.stderr


def test_config_check_prints_effective_config(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "config", "check", "--file", str(REPO / "auditbot.example.toml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-very-secret-value-123"},
    )
    assert result.returncode == 0, result.stderr
    assert '"size": 20' in result.stdout
    assert "very-secret-value" not in result.stdout


@pytest.mark.parametrize(
    ("text", "key", "line", "problem"),
    [
        ('[detectors]\nmute = ["plan_mismtch"]\n', "detectors.mute", 2, "unknown check kind"),
        ('[detectors]\n\nmute = ["placeholder_leak: (oops"]\n', "detectors.mute", 3, "regular expression"),
        ('[detectors]\nmute = ["rule:nope"]\n', "detectors", None, "no such [[detectors.rules]]"),
        ("[detectors.enabled]\nstale = false\n", "detectors.enabled", 1, "unknown check kind"),
        ("[detectors.channels.chat]\nwindow = 1\n", "detectors.channels.chat.window", 2, "unknown key"),
        ('[detectors]\nplaceholder_allow = "{{x}}"\n', "detectors.placeholder_allow", 2, "list"),
    ],
)
def test_bad_detector_settings_name_key_file_and_line(
    tmp_path: Path, text: str, key: str, line: int | None, problem: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(Settings(_env_file=None), path)
    message = str(error.value)
    assert f": {key}: " in message and problem in message
    if line is not None:
        assert f"{path}:{line}:" in message


def test_detector_settings_are_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[detectors]\nplans_case_sensitive = true\nplaceholder_allow = ['{{ unsub }}']\n"
        "mute = ['placeholder_leak: ^%TEMP']\n[detectors.enabled]\nplan_mismatch = false\n"
        "[detectors.channels.chat]\nduplicate_window_hours = 0.5\nmute = ['name_mismatch']\n",
    )
    detectors = load_config(Settings(_env_file=None), path).detectors
    assert detectors.plans_case_sensitive and detectors.enabled == {"plan_mismatch": False}
    assert detectors.channels["chat"].duplicate_window_hours == 0.5
    assert detectors.channels["chat"].mute == ["name_mismatch"]
