"""Fixtures of the defect tests that run with every vendor faked (test_effects, test_outbox,
test_status_sync); a module that needs them otherwise defines its own."""

from __future__ import annotations

import pytest

from tests.bot.defect_support import Seed, Vendors, make_services, routed


@pytest.fixture
def vendors() -> Vendors:
    return Vendors()


@pytest.fixture
def services(db, clock, config, settings, fake_slack, vendors):  # type: ignore[no-untyped-def]
    return make_services(db, clock, routed(config), settings, fake_slack.url, vendors)


@pytest.fixture
def seed(db, clock) -> Seed:  # type: ignore[no-untyped-def]
    return Seed(db, clock.now())
