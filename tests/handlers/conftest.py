"""Fixtures of the handler tests: the rig (the real app, signed requests, the fake Slack)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.app import build_app
from bot.core.config import AuditConfig
from bot.core.settings import Settings
from bot.web.app import build_web
from tests.fakes.signing import SlackSigner
from tests.fakes.slack_api import FakeSlack
from tests.handlers.rig import Rig, drain


@pytest.fixture
def review_config(config: AuditConfig) -> AuditConfig:
    routing = [{"categories": ["template_error"], "tracker": "jira", "project": "SUP", "helpdesk_note": True}]
    return AuditConfig.model_validate({**config.model_dump(), "routing": routing})


@pytest.fixture
async def rig(db, settings: Settings, review_config, clock, fake_slack: FakeSlack) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(
        update={
            "slack_api_url": fake_slack.url,
            "jira_url": "https://jira.vendor.test",
            "jira_api_token": "x",
        }
    )
    app = build_app(settings, review_config, db, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://app"
    ) as http:
        yield Rig(http, SlackSigner(http), fake_slack, db)
        await drain()
