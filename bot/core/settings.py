"""Settings: secrets and URLs from the environment (and `.env`), validated at start."""

from __future__ import annotations

import re

from pydantic_settings import BaseSettings, SettingsConfigDict

README_SETUP = "README.md#configuration"

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
