"""AuditConfig: the team rules from `auditbot.toml` (taxonomy, sampling, checks, routing, judge, schedule)."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.core.detectors import ChannelDetectors, check_kinds, check_mutes, unknown_rules
from bot.core.settings import ConfigError, Settings

if TYPE_CHECKING:
    import re2


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


def compile_rule(pattern: str) -> re2._Regexp:
    """A team rule's pattern on RE2, whose matching time is linear in the text (no backtracking).

    Raises ValueError saying why RE2 cannot run it (lookaround, backreferences, too large).
    """
    import re2  # only where there are rules: it adds to every command's start-up otherwise

    options = re2.Options()
    options.log_errors = False  # RE2 would print the pattern to stderr itself
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"the rule engine (RE2) cannot run this pattern: {reason}") from None


class RuleConfig(_Section):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    pattern: str
    description: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str, info: ValidationInfo) -> str:
        try:
            compile_rule(value)
        except ValueError as exc:
            raise ValueError(f"rule {info.data.get('name', '?')!r}: {exc}") from None
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


class VerifyConfig(_Section):
    """`[verify]`: how a fix is verified (README "Fix verification")."""

    days: int = Field(7, ge=1, le=90)  # the window: replies created this long after the fix
    sample_size: int = Field(4, ge=0, le=50)  # extra items per daily sample from each fix's segment
    min_reviews: int = Field(10, ge=1)  # reviewed items of the segment needed to call a fix verified


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


# The judge's built-in criteria (their questions live in bot/judge/criteria.py).
JUDGE_BUILTINS = ("answers_question", "no_invention", "kb_consistent", "escalation", "language", "tone")


class JudgeCriterionConfig(_Section):
    """A team criterion (`[[judge.criteria]]`), or a new category or question for a built-in one."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")
    category: str | None = None  # a `[review] categories` entry: what reviewers' verdicts it is compared with
    question: str | None = Field(default=None, min_length=1, max_length=600)


class JudgeConfig(_Section):
    """`[judge]`: an LLM that scores replies, measured against the reviewers (README "AI judge")."""

    mode: Literal["off", "sample", "all"] = "off"
    model: str = Field("gpt-4o-mini", min_length=1, max_length=128)
    base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")  # else OPENAI_BASE_URL, else OpenAI
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_replies_per_day: int = Field(2000, ge=1)
    concurrency: int = Field(8, ge=1, le=100)
    timeout_s: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(2, ge=0, le=10)
    sample_deadline_s: float = Field(120.0, gt=0, le=3600)  # the daily post waits this long at most
    temperature: float | None = Field(default=None, ge=0, le=2)  # unset: the model's default
    max_output_tokens: int | None = Field(default=None, ge=16)  # unset: no cap (reasoning models)
    structured_outputs: bool = True  # false: ask for a JSON object (servers without json_schema)
    input_price_per_1m: float | None = Field(default=None, ge=0)
    output_price_per_1m: float | None = Field(default=None, ge=0)
    min_kappa: float = Field(0.6, ge=-1, le=1)
    min_reviews: int = Field(30, ge=1)
    # on the review card: always; after_review (reviewers judge first, then see it); never
    show_hint: Literal["always", "after_review", "never"] = "always"
    builtin: list[str] = Field(default_factory=lambda: list(JUDGE_BUILTINS))
    criteria: list[JudgeCriterionConfig] = Field(default_factory=list)
    azure_endpoint: str | None = Field(default=None, pattern=r"^https?://\S+$")
    azure_deployment: str | None = None
    api_version: str | None = None

    @field_validator("builtin")
    @classmethod
    def _known_builtins(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in JUDGE_BUILTINS]
        if unknown:
            raise ValueError(f"unknown built-in criteria {unknown}; use {list(JUDGE_BUILTINS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> JudgeConfig:
        ids = [c.id for c in self.criteria]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"criteria: ids {repeated} appear more than once")
        for criterion in self.criteria:
            if criterion.id not in JUDGE_BUILTINS and not criterion.question:
                raise ValueError(f"criteria: {criterion.id!r} needs a question")
        if self.azure_endpoint and not self.api_version:
            raise ValueError('azure_endpoint needs api_version (e.g. "2024-10-21")')
        return self


class AuditConfig(_Section):
    slack: SlackConfig = Field(default_factory=SlackConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    routing: list[RoutingRule] = Field(default_factory=list)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    path: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _routing_categories_known(self) -> AuditConfig:
        known = set(self.review.categories)
        for rule in self.routing:
            unknown = [c for c in rule.categories if c not in known]
            if unknown:
                raise ValueError(f"routing names unknown categories {unknown}")
        for criterion in self.judge.criteria:
            if criterion.category is not None and criterion.category not in known:
                raise ValueError(
                    f"judge.criteria: {criterion.id!r} names unknown category {criterion.category!r}"
                )
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
        index = next((int(p) for p in loc if p.isdigit()), 0)  # which [[table]] of an array of tables
        where = _line_of(text, [p for p in loc if not p.isdigit()], index)
        place = f"{path}:{where}" if where else str(path)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{place}: {key}: {message}")
    return "\n".join(lines)


def _line_of(text: str, loc: list[str], index: int = 0) -> int | None:
    """Best-effort line number of a dotted key: the last key's line after its table header (the
    `index`-th header of an array of tables)."""
    if not loc:
        return None
    table_line = 0
    lines = text.splitlines()
    if len(loc) > 1:
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(loc[0]) + r"(\.\w+)?\s*\]\]?")
        headers = [number for number, line in enumerate(lines, 1) if header.match(line)]
        if headers:
            table_line = headers[min(index, len(headers) - 1)]
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
