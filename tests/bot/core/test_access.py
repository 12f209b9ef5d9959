"""Who may act: listed reviewers, the reviewer group (cached, refreshed), admins; events once."""

from __future__ import annotations

import datetime as dt

from bot.core.access import GROUP_TTL, Access, claim_event, same_workspace
from bot.core.config import AuditConfig
from bot.core.services import build_client
from bot.core.settings import Settings
from tests.fakes.slack_api import FakeSlack


def group_config(reviewers: list[str] | None = None) -> AuditConfig:
    return AuditConfig.model_validate(
        {"slack": {"reviewers": reviewers or [], "reviewer_group": "S0REVIEW", "admins": ["U0ADMIN"]}}
    )


def client_for(fake: FakeSlack):  # type: ignore[no-untyped-def]
    return build_client(Settings(_env_file=None, slack_bot_token=fake.token, slack_api_url=fake.url))


async def test_listed_reviewers_and_admins_without_any_slack_call(config, clock, fake_slack) -> None:  # type: ignore[no-untyped-def]
    access = Access(config, client_for(fake_slack), clock)
    assert await access.is_reviewer("U0REV1")
    assert not await access.is_reviewer("U0STRANGER")
    assert not await access.is_reviewer("U0ADMIN")  # admins configure; they do not review by default
    assert access.is_admin("U0ADMIN") and not access.is_admin("U0REV1")
    assert fake_slack.calls() == []


async def test_group_members_are_cached_and_refreshed_after_the_ttl(fake_slack, clock) -> None:  # type: ignore[no-untyped-def]
    fake_slack.add_usergroup("S0REVIEW", ["U0ALICE"])
    access = Access(group_config(["U0REV1"]), client_for(fake_slack), clock)
    assert await access.is_reviewer("U0ALICE")
    assert await access.is_reviewer("U0REV1")
    fake_slack.add_usergroup("S0REVIEW", ["U0BOB"])
    assert await access.is_reviewer("U0ALICE")  # still cached
    assert not await access.is_reviewer("U0BOB")
    assert len(fake_slack.calls("usergroups.users.list")) == 1
    clock.advance(seconds=GROUP_TTL.total_seconds() + 1)
    assert await access.is_reviewer("U0BOB")
    assert not await access.is_reviewer("U0ALICE")
    assert len(fake_slack.calls("usergroups.users.list")) == 2
    assert fake_slack.last("usergroups.users.list").args["usergroup"] == "S0REVIEW"


async def test_a_failed_refresh_keeps_the_last_members_and_retries_later(fake_slack, clock) -> None:  # type: ignore[no-untyped-def]
    fake_slack.add_usergroup("S0REVIEW", ["U0ALICE"])
    access = Access(group_config(), client_for(fake_slack), clock)
    assert await access.is_reviewer("U0ALICE")
    clock.advance(seconds=GROUP_TTL.total_seconds() + 1)
    fake_slack.fail("usergroups.users.list", "internal_error")
    assert await access.is_reviewer("U0ALICE")
    assert await access.is_reviewer("U0ALICE")  # no second call straight after a failure
    assert len(fake_slack.calls("usergroups.users.list")) == 2
    clock.advance(seconds=31)
    fake_slack.add_usergroup("S0REVIEW", [])
    assert not await access.is_reviewer("U0ALICE")


def test_reviewer_mentions_prefer_the_group(config, clock) -> None:  # type: ignore[no-untyped-def]
    assert Access(group_config(), None, clock).reviewer_mentions() == "<!subteam^S0REVIEW>"
    assert Access(config, None, clock).reviewer_mentions(excluding="U0REV1") == "<@U0REV2>"


def test_same_workspace() -> None:
    assert same_workspace("T1", "T1")
    assert not same_workspace("T2", "T1")
    assert same_workspace(None, "T1")  # url_verification and ssl_check carry no team


async def test_an_event_id_is_claimed_once(db) -> None:  # type: ignore[no-untyped-def]
    now = dt.datetime(2026, 11, 27, 8, tzinfo=dt.UTC)
    async with db.transaction() as session:
        assert await claim_event(session=session, event_id="Ev1", now=now)
    async with db.transaction() as session:
        assert not await claim_event(session=session, event_id="Ev1", now=now)
    later = now + dt.timedelta(days=3)
    async with db.transaction() as session:
        assert await claim_event(session=session, event_id="Ev2", now=later)  # and prunes Ev1
    async with db.transaction() as session:
        assert await claim_event(session=session, event_id="Ev1", now=later)
