"""What `/audit config` shows: the effective team config and environment (no secret ever shown),
which integrations are set up, and the outbox: how many effects wait, and the dead ones."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot.core.config import AuditConfig
from bot.core.models import OutboxItem
from bot.core.services import Services
from bot.core.settings import SECRET_FIELDS, Settings
from bot.delivery.outbox import dead_items, pending_counts
from bot.delivery.vendors import TRACKER_ENV, vendors
from bot.views.config import ConfigView, DeadItem, Integration

HELPDESK_ENV = {"zendesk": "ZENDESK_URL, ZENDESK_EMAIL and ZENDESK_API_TOKEN", "intercom": "INTERCOM_TOKEN"}


async def config_view(services: Services) -> ConfigView:
    """Everything /audit config shows, read now."""
    settings, config = services.settings, services.config
    async with services.db.session() as session:
        counts = await pending_counts(session)
        dead = await dead_items(session)
    return ConfigView(
        config_file=config.path or "no auditbot.toml: defaults",
        team=team_lines(config),
        environment=environment_lines(settings),
        integrations=integrations(services),
        outbox=counts,
        dead=[_dead(row) for row in dead],
        dead_total=counts.get("dead", 0),
        warnings=warnings(services),
    )


def team_lines(config: AuditConfig) -> list[tuple[str, str]]:
    slack, sampling = config.slack, config.sampling
    channels = f"audit {slack.audit_channel or '—'}, defects {slack.defects_channel or '—'}"
    reviewers = ", ".join(slack.reviewers) or "—"
    if slack.reviewer_group:
        reviewers += f" + group {slack.reviewer_group}"
    lines = [
        ("channels", channels + f", digest {slack.digest_channel or '—'}"),
        ("reviewers", reviewers),
        ("admins", ", ".join(slack.admins) or "—"),
        ("time zone", slack.timezone),
        (
            "sample",
            f"{sampling.size} replies, {sampling.risk_share:.0%} at most from flagged ones, "
            f"{','.join(sampling.days)} at {sampling.at}" + (", in a thread" if sampling.thread else ""),
        ),
        ("double review", f"{config.review.double_review_share:.0%} of items"),
        ("digest", f"{config.digest.day} at {config.digest.at}"),
    ]
    for n, rule in enumerate(config.routing, 1):
        where = rule.tracker + (f" {rule.project}" if rule.project else "")
        note = ", helpdesk note" if rule.helpdesk_note else ""
        lines.append((f"route {n}", f"{', '.join(rule.categories) or 'every category'} → {where}{note}"))
    return lines


def environment_lines(settings: Settings) -> list[tuple[str, str]]:
    """Every variable that is set; secrets only as "set", URLs without their credentials."""
    lines = []
    for name, value in settings.model_dump().items():
        if value in (None, "") or name == "port":
            continue
        if name in SECRET_FIELDS:
            shown = "set"
        elif name.endswith("_url"):
            shown = _without_credentials(str(value))
        else:
            shown = str(value)
        lines.append((name.upper(), shown))
    return lines


def integrations(services: Services) -> list[Integration]:
    settings = services.settings
    registry = vendors(services)
    mode = "Socket Mode (`SLACK_APP_TOKEN`)" if settings.slack_app_token else "HTTP (/slack/events)"
    found = [Integration("slack", bool(settings.slack_bot_token), mode)]
    for name, needs in TRACKER_ENV.items():
        live = name in registry.trackers
        secret = bool(getattr(settings, f"{name}_webhook_secret", None))
        hooks = "webhook on" if secret else f"webhook off (`{name.upper()}_WEBHOOK_SECRET`)"
        found.append(Integration(name, live, ("set up" if live else f"set {_code(needs)}") + "; " + hooks))
    for name, needs in HELPDESK_ENV.items():
        live = name in registry.helpdesks
        found.append(Integration(name, live, "notes and polling" if live else f"set {_code(needs)}"))
    ingest = bool(settings.ingest_secret)
    found.append(Integration("/ingest", ingest, "on" if ingest else "set `INGEST_SECRET`"))
    return found


def warnings(services: Services) -> list[str]:
    """Routes whose tracker is not set up: their issues dead-letter until it is."""
    registry = vendors(services)
    out = []
    for rule in services.config.routing:
        if rule.tracker != "none" and rule.tracker not in registry.trackers:
            out.append(
                f"routing sends {', '.join(rule.categories) or 'every category'} to {rule.tracker}, "
                f"which is not set up: set {_code(TRACKER_ENV[rule.tracker])}"
            )
    return out


def _code(names: str) -> str:
    """`JIRA_URL, JIRA_EMAIL and JIRA_API_TOKEN` with each variable in a code span."""
    return re.sub(r"\b([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b", r"`\1`", names)


def _dead(row: OutboxItem) -> DeadItem:
    group = (row.payload or {}).get("group_id")
    return DeadItem(int(row.id or 0), row.kind, group, row.attempts, row.last_error or "")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.password or parts.username:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return parts._replace(netloc=f"{parts.username or ''}:****@{host}{port}").geturl()
    return url
