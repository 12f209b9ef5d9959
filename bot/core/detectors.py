"""The `[detectors]` settings that tune the automatic checks: kinds, mutes, per-channel overrides."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The automatic check kinds (DESIGN.md "Detector kinds"); team rules add "rule:<name>".
DETECTOR_KINDS = ("placeholder_leak", "duplicate_reply", "name_mismatch", "plan_mismatch", "stale_kb")


def mute_parts(value: str) -> tuple[str, str]:
    """("kind", "regex") of a mute entry: "plan_mismatch", "placeholder_leak: %TEMP%", "rule:x: y"."""
    kind, _, pattern = value.partition(":")
    if kind.strip() == "rule":
        name, _, pattern = pattern.partition(":")
        kind = f"rule:{name.strip()}"
    return kind.strip(), pattern.strip()


def check_mutes(values: list[str]) -> list[str]:
    for value in values:
        kind, pattern = mute_parts(value)
        if kind not in DETECTOR_KINDS and not kind.startswith("rule:"):
            raise ValueError(f"{value!r}: unknown check kind {kind!r}; use one of {list(DETECTOR_KINDS)}")
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{value!r}: not a valid regular expression: {exc}") from exc
    return values


def check_kinds(values: dict[str, bool]) -> dict[str, bool]:
    unknown = [k for k in values if k not in DETECTOR_KINDS and not k.startswith("rule:")]
    if unknown:
        raise ValueError(f"unknown check kind(s) {unknown}; use {list(DETECTOR_KINDS)} or rule:<name>")
    return values


def unknown_rules(rule_names: set[str], enabled: dict[str, bool], mute: list[str]) -> list[str]:
    """Rule kinds named in `enabled` or `mute` for which no `[[detectors.rules]]` exists."""
    kinds = [*enabled, *(mute_parts(m)[0] for m in mute)]
    return [k for k in kinds if k.startswith("rule:") and k[5:] not in rule_names]


class ChannelDetectors(BaseModel):
    """`[detectors.channels.<channel>]`: what differs for the replies of one channel."""

    model_config = ConfigDict(extra="forbid")

    enabled: dict[str, bool] = Field(default_factory=dict)
    mute: list[str] = Field(default_factory=list)
    placeholder_allow: list[str] = Field(default_factory=list)
    plans_case_sensitive: bool | None = None
    stale_kb_days: int | None = Field(None, ge=1)
    duplicate_window_hours: float | None = Field(None, gt=0)

    _enabled = field_validator("enabled")(classmethod(lambda cls, v: check_kinds(v)))
    _mute = field_validator("mute")(classmethod(lambda cls, v: check_mutes(v)))
