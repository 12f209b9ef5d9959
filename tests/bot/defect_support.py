"""Shared setup for the defect tests: routed config, services wired to fakes, seeded reviews."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from bot.core.config import AuditConfig, RoutingRule
from bot.core.models import Defect, Reply, Review, SampleBatch, SampleItem
from bot.core.services import Services, build_client
from bot.defects.filing import file_defect
from bot.delivery.vendors import Integrations
from integrations.github import GitHubTracker
from integrations.intercom import IntercomClient
from integrations.jira import JiraTracker
from integrations.linear import LinearTracker
from integrations.zendesk import ZendeskClient
from tests.bot.vendor_fakes import FakeGitHub, FakeIntercom, FakeJira, FakeLinear, FakeZendesk, no_sleep
from tests.conftest import BOT_TOKEN

ROUTING = [
    RoutingRule(
        categories=["template_error"],
        tracker="jira",
        project="SUP",
        labels=["ai-audit"],
        owner="S0CONTENT",
        channel="C0CONTENT",
        helpdesk_note=True,
    ),
    RoutingRule(categories=["personalization"], tracker="linear", project="ENG", labels=["ai-audit"]),
    RoutingRule(categories=["wrong_information"], tracker="github", labels=["ai-audit"]),
]


def routed(config: AuditConfig) -> AuditConfig:
    return config.model_copy(update={"routing": ROUTING})


@dataclass
class Vendors:
    jira: FakeJira = field(default_factory=FakeJira)
    linear: FakeLinear = field(default_factory=FakeLinear)
    github: FakeGitHub = field(default_factory=FakeGitHub)
    zendesk: FakeZendesk = field(default_factory=FakeZendesk)
    intercom: FakeIntercom = field(default_factory=FakeIntercom)

    def integrations(self, config: AuditConfig) -> Integrations:
        """The real clients, talking to the fakes."""
        return Integrations(
            trackers={
                "jira": JiraTracker(
                    "https://acme.atlassian.net",
                    "bot@acme.test",
                    "jira-token",
                    transport=self.jira.transport(),
                    sleep=no_sleep,
                ),
                "linear": LinearTracker(
                    "https://api.linear.app/graphql",
                    "lin_api_test",
                    transport=self.linear.transport(),
                    sleep=no_sleep,
                ),
                "github": GitHubTracker(
                    "https://api.github.com",
                    "ghp_test",
                    "acme/support",
                    transport=self.github.transport(),
                    sleep=no_sleep,
                ),
            },
            helpdesks={
                "zendesk": ZendeskClient(
                    "https://acme.zendesk.com",
                    "bot@acme.test",
                    "zd-token",
                    ai_user_ids=[9001],
                    transport=self.zendesk.transport(),
                    sleep=no_sleep,
                ),
                "intercom": IntercomClient(
                    "https://api.intercom.io", "ic-token", transport=self.intercom.transport(), sleep=no_sleep
                ),
            },
        )


def make_services(
    db: Any, clock: Any, config: AuditConfig, settings: Any, slack_url: str, vendors: Vendors
) -> Services:
    client = build_client(
        settings.model_copy(update={"slack_api_url": slack_url, "slack_bot_token": BOT_TOKEN})
    )
    services = Services(settings, config, db, clock, client)
    services.extras["integrations"] = vendors.integrations(config)
    return services


class Seed:
    """Replies in a posted sample, and reviewers' defect verdicts on them."""

    def __init__(self, db: Any, now: dt.datetime) -> None:
        self.db, self.now = db, now
        self.batch_id: int | None = None
        self.counter = itertools.count(1)

    async def item(
        self,
        *,
        template_id: str | None = "refund_policy_v3",
        source: str = "zendesk",
        ticket_id: str = "4821",
        reply: str = "Hi Dana, your Team plan refund…",
        posted: bool = True,
    ) -> int:
        n = next(self.counter)
        async with self.db.transaction() as session:
            if self.batch_id is None:
                batch = SampleBatch(
                    channel="C0AUDIT",
                    day=self.now.date(),
                    window_start=self.now - dt.timedelta(days=1),
                    window_end=self.now,
                    seed=1,
                    created_at=self.now,
                    status="posted",
                )
                session.add(batch)
                await session.flush()
                self.batch_id = batch.id
            row = Reply(
                source=source,
                external_id=f"R-{n:06d}",
                ticket_id=ticket_id,
                created_at=self.now,
                reply=reply,
                customer_message="I was charged twice, mail me at dana@example.com",
                template_id=template_id,
                ticket_url=f"https://acme.zendesk.com/agent/tickets/{ticket_id}",
                ingested_at=self.now,
            )
            session.add(row)
            await session.flush()
            item = SampleItem(
                batch_id=self.batch_id,
                reply_id=row.id,
                position=n,
                stratum="unflagged",
                inclusion_prob=0.1,
                channel="C0AUDIT",
                message_ts=f"1700000000.{n:06d}" if posted else None,
            )
            session.add(item)
            await session.flush()
            return int(item.id)  # type: ignore[arg-type]

    async def defect(
        self,
        services: Services,
        *,
        item_id: int | None = None,
        reviewer: str = "U0REV1",
        category: str = "template_error",
        severity: str = "high",
        helpdesk_note: bool = False,
        **item: Any,
    ) -> Defect:
        """A reviewer's defect verdict, filed the way the reviews flow files it (one transaction)."""
        item_id = item_id or await self.item(**item)
        async with self.db.transaction() as session:
            review = Review(
                item_id=item_id,
                reviewer=reviewer,
                verdict="defect",
                category=category,
                severity=severity,
                note="Quotes the old 14-day window; <!channel> call dana@example.com",
                expected="Refunds are possible within 30 days.",
                helpdesk_note=helpdesk_note,
                created_at=self.now,
                updated_at=self.now,
            )
            session.add(review)
            await session.flush()
            return await file_defect(session=session, review=review, config=services.config, now=self.now)
