"""Pytest fixtures for the Slack fake (registered from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.signing import TEST_SIGNING_SECRET
from tests.fakes.slack_api import FakeSlack


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A running fake Slack Web API on loopback; `fake_slack.url` is the SLACK_API_URL."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_slack_env(fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> FakeSlack:
    """`fake_slack`, with SLACK_API_URL, SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET pointing at it."""
    monkeypatch.setenv("SLACK_API_URL", fake_slack.url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake_slack.token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", TEST_SIGNING_SECRET)
    return fake_slack


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake OpenAI-compatible server on loopback; `fake_openai.url` is the base URL."""
    with FakeOpenAI() as fake:
        yield fake
