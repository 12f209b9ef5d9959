"""Settings from the environment (secrets, URLs) and AuditConfig from `auditbot.toml` (team rules)."""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.detectors import ChannelDetectors, check_kinds, check_mutes, unknown_rules

README_SETUP = "README.md#configuration"

DEFAULT_CATEGORIES = [
    "wrong_information",
    "template_error",
    "duplicate_reply",
    "personalization",
    "outdated_kb",
    "policy_logic",
    "tone",
    "other",
]
SEVERITIES = ["low", "medium", "high", "critical"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

SECRET_FIELDS = {
    "slack_bot_token",
    "slack_signing_secret",
    "slack_app_token",
    "ingest_secret",
    "zendesk_api_token",
    "intercom_token",
    "jira_api_token",
    "linear_api_key",
    "github_token",
    "jira_webhook_secret",
    "linear_webhook_secret",
    "github_webhook_secret",
}


class ConfigError(Exception):
    """A bad setting; the message names the key and, where known, the file and line."""


class Settings(BaseSettings):
    """Secrets and URLs, read from the environment and `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///auditbot.db"
    auditbot_config: str | None = None
    audit_channel: str | None = None
    defects_channel: str | None = None
    digest_channel: str | None = None
    ingest_secret: str | None = None
    port: int = 3000

    zendesk_url: str | None = None
    zendesk_email: str | None = None
    zendesk_api_token: str | None = None
    intercom_api_url: str = "https://api.intercom.io"
    intercom_token: str | None = None
    jira_url: str | None = None
    jira_email: str | None = None
    jira_api_token: str | None = None
    linear_api_url: str = "https://api.linear.app/graphql"
    linear_api_key: str | None = None
    github_api_url: str = "https://api.github.com"
    github_token: str | None = None
    github_repo: str | None = None
    jira_webhook_secret: str | None = None
    linear_webhook_secret: str | None = None
    github_webhook_secret: str | None = None

    def require_slack(self) -> None:
        """Stop with one line naming the first missing Slack variable."""
        for name in ("slack_bot_token", "slack_signing_secret"):
            if not getattr(self, name):
                raise ConfigError(f"{name.upper()} is not set: see {README_SETUP} for where to find it")

    def masked(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, value in self.model_dump().items():
            if name in SECRET_FIELDS and value:
                out[name] = mask(str(value))
            elif name == "database_url" and value:
                out[name] = re.sub(r"//([^:/@]+):[^@]+@", r"//\1:****@", str(value))
            else:
                out[name] = value
        return out


def mask(secret: str) -> str:
    return secret[:4] + "…" + f"({len(secret)} chars)" if len(secret) > 8 else "****"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlackConfig(_Section):
    audit_channel: str | None = None
    defects_channel: str | None = None
    digest_channel: str | None = None
    reviewers: list[str] = Field(default_factory=list)
    reviewer_group: str | None = None
    admins: list[str] = Field(default_factory=list)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _check_days(days: list[str]) -> list[str]:
    bad = [d for d in days if d not in WEEKDAYS]
    if bad:
        raise ValueError(f"unknown day(s) {bad}; use {WEEKDAYS}")
    return days


def _check_time(value: str) -> str:
    try:
        dt.time.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a time of day like '09:30'") from exc
    return value


class SamplingConfig(_Section):
    size: int = Field(20, ge=1, le=200)
    risk_share: float = Field(0.3, ge=0.0, le=1.0)
    days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    at: str = "09:30"
    thread: bool = False

    _days = field_validator("days")(classmethod(lambda cls, v: _check_days(v)))
    _at = field_validator("at")(classmethod(lambda cls, v: _check_time(v)))


class ReviewConfig(_Section):
    double_review_share: float = Field(0.1, ge=0.0, le=1.0)
    categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))


class RuleConfig(_Section):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    pattern: str
    description: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class DetectorsConfig(_Section):
    plans: list[str] = Field(default_factory=lambda: ["Free", "Plus", "Team", "Enterprise"])
    stale_kb_days: int = Field(180, ge=1)
    duplicate_window_hours: float = Field(24, gt=0)
    rules: list[RuleConfig] = Field(default_factory=list)
    # Tuning, muting and per-channel overrides (bot/core/detectors.py; README "Automatic checks").
    plans_case_sensitive: bool = False
    placeholder_allow: list[str] = Field(default_factory=list)
    enabled: dict[str, bool] = Field(default_factory=dict)
    mute: list[str] = Field(default_factory=list)
    channels: dict[str, ChannelDetectors] = Field(default_factory=dict)

    _enabled = field_validator("enabled")(classmethod(lambda cls, v: check_kinds(v)))
    _mute = field_validator("mute")(classmethod(lambda cls, v: check_mutes(v)))

    @model_validator(mode="after")
    def _rules_exist(self) -> DetectorsConfig:
        names = {r.name for r in self.rules}
        for place, section in [("", self), *((f"channels.{c}.", s) for c, s in self.channels.items())]:
            missing = unknown_rules(names, section.enabled, section.mute)
            if missing:
                raise ValueError(f"{place}enabled/mute name {missing}, but no such [[detectors.rules]]")
        return self


class DigestConfig(_Section):
    day: str = "mon"
    at: str = "09:00"

    _day = field_validator("day")(classmethod(lambda cls, v: _check_days([v])[0]))
    _at = field_validator("at")(classmethod(lambda cls, v: _check_time(v)))


class RoutingRule(_Section):
    categories: list[str] = Field(default_factory=list)
    tracker: Literal["jira", "linear", "github", "none"] = "none"
    project: str | None = None
    labels: list[str] = Field(default_factory=list)
    owner: str | None = None
    channel: str | None = None
    helpdesk_note: bool = False

    def matches(self, category: str) -> bool:
        return not self.categories or category in self.categories


class SourcesConfig(_Section):
    """Which helpdesks to poll for AI replies, and who the AI agent is there."""

    zendesk_ai_user_ids: list[int] = Field(default_factory=list)
    zendesk_plan_field_id: int | None = None
    intercom_ai_admin_ids: list[str] = Field(default_factory=list)
    poll_minutes: int = Field(15, ge=1)


class AuditConfig(_Section):
    slack: SlackConfig = Field(default_factory=SlackConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    routing: list[RoutingRule] = Field(default_factory=list)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    path: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _routing_categories_known(self) -> AuditConfig:
        known = set(self.review.categories)
        for rule in self.routing:
            unknown = [c for c in rule.categories if c not in known]
            if unknown:
                raise ValueError(f"routing names unknown categories {unknown}")
        return self

    def route(self, category: str) -> RoutingRule:
        """The first routing rule that matches, else a rule that only posts a thread."""
        for rule in self.routing:
            if rule.matches(category):
                return rule
        return RoutingRule()

    def with_env(self, settings: Settings) -> AuditConfig:
        """Environment variables override the channels of the file."""
        overrides = {
            name: getattr(settings, name)
            for name in ("audit_channel", "defects_channel", "digest_channel")
            if getattr(settings, name)
        }
        if not overrides:
            return self
        slack = self.slack.model_copy(update=overrides)
        return self.model_copy(update={"slack": slack})


def config_path(settings: Settings) -> Path | None:
    if settings.auditbot_config:
        return Path(settings.auditbot_config)
    default = Path("auditbot.toml")
    return default if default.exists() else None


def load_config(settings: Settings | None = None, path: Path | str | None = None) -> AuditConfig:
    """Read and validate the team config; raise ConfigError naming key, file and line."""
    settings = settings or Settings()
    path = Path(path) if path else config_path(settings)
    if path is None:
        return AuditConfig().with_env(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        config = AuditConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, text)) from exc
    config.path = str(path)
    return config.with_env(settings)


def _describe(exc: ValidationError, path: Path, text: str) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        where = _line_of(text, [p for p in loc if not p.isdigit()])
        place = f"{path}:{where}" if where else str(path)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{place}: {key}: {message}")
    return "\n".join(lines)


def _line_of(text: str, loc: list[str]) -> int | None:
    """Best-effort line number of a dotted key: the last key's line after its table header."""
    if not loc:
        return None
    table_line = 0
    lines = text.splitlines()
    if len(loc) > 1:
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(loc[0]) + r"(\.\w+)?\s*\]\]?")
        for number, line in enumerate(lines, 1):
            if header.match(line):
                table_line = number
                break
    key = re.compile(r"^\s*" + re.escape(loc[-1]) + r"\s*=")
    for number, line in enumerate(lines[table_line:], table_line + 1):
        if key.match(line):
            return number
    return table_line or None


def effective(settings: Settings, config: AuditConfig) -> dict[str, object]:
    """What `auditbot config check` prints: every setting, secrets masked."""
    return {
        "config_file": config.path or "(none: defaults)",
        "environment": settings.masked(),
        "config": config.model_dump(mode="json"),
    }


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}
