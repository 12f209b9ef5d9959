"""The trackers and helpdesks effects talk to, built from the environment on first use."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.config import AuditConfig
from bot.core.services import Services
from bot.core.settings import Settings
from integrations.base import HelpdeskSink, IssueTracker, PermanentError

TRACKER_ENV = {
    "jira": "JIRA_URL, JIRA_EMAIL and JIRA_API_TOKEN",
    "linear": "LINEAR_API_KEY",
    "github": "GITHUB_TOKEN and GITHUB_REPO",
}


@dataclass
class Integrations:
    """The trackers and helpdesks effects talk to; tests put instances with fake transports here."""

    trackers: dict[str, IssueTracker] = field(default_factory=dict)
    helpdesks: dict[str, HelpdeskSink] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, config: AuditConfig) -> Integrations:
        """Every vendor whose credentials are set in the environment."""
        from integrations import github, jira, linear
        from integrations.intercom import IntercomClient
        from integrations.zendesk import ZendeskClient

        trackers = {"jira": jira.from_settings(settings), "linear": linear.from_settings(settings)}
        trackers["github"] = github.from_settings(settings)
        helpdesks = {
            "zendesk": ZendeskClient.from_settings(settings, config),
            "intercom": IntercomClient.from_settings(settings, config),
        }
        return cls(
            {k: v for k, v in trackers.items() if v is not None},
            {k: v for k, v in helpdesks.items() if v is not None},
        )

    def tracker(self, name: str) -> IssueTracker:
        found = self.trackers.get(name)
        if found is None:
            need = TRACKER_ENV.get(name, "its credentials")
            raise PermanentError(f"routing names tracker {name!r} but it is not configured: set {need}")
        return found


def vendors(services: Services) -> Integrations:
    """The services' registry, built from the environment on first use."""
    found = services.extras.get("integrations")
    if not isinstance(found, Integrations):
        found = Integrations.from_settings(services.settings, services.config)
        services.extras["integrations"] = found
    return found
