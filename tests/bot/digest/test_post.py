"""post_weekly_digest against the fake Slack Web API, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.models import DigestPost
from bot.core.services import Services
from bot.core.settings import ConfigError
from bot.digest.post import STALE_CLAIM, post_weekly_digest
from tests.bot.digest_data import WEEK, seed_known_week
from tests.fakes.blockkit import all_text, check_blocks

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def services(settings, config, db, clock, fake_slack) -> Services:
    client = AsyncWebClient(base_url=fake_slack.url, token=fake_slack.token)
    return Services(settings, config, db, clock, client)


async def posts(db) -> list[DigestPost]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return list((await session.execute(sa.select(DigestPost))).scalars())


async def test_digest_is_posted_once_with_its_chart(services, db, fake_slack) -> None:
    await seed_known_week(db)
    post = await post_weekly_digest(services)  # default: the last complete week, W47

    assert post is not None and post.week == WEEK and post.status == "posted" and post.message_ts
    (message,) = [c for c in fake_slack.calls("chat.postMessage")]
    assert message.ok and message.args["channel"] == "C0DIGEST"
    blocks = message.args["blocks"]
    assert check_blocks(blocks) == []
    text = all_text(blocks)
    assert "<@U0REV1> — *4 reviews* · 3 defects caught · 3 high/critical · 2 catches fixed this week" in text
    assert (
        "<@U0REV2> — *5 reviews* · 2 defects caught · calibration: agreed on 1 of 1 · ~19 min given" in text
    )
    assert "<@U0REV3> — *4 reviews* · 1 defect caught · calibration: agreed on 0 of 1 · ~12 min given" in text
    assert "*✅ Fixed this week* (1)" in text and "fixed in 3 d 5 h" in text
    assert "Quotes last year's prices" in text and "<!subteam^S0CONTENT>: 1 open" in text
    assert "Placeholder &lt;@U0BOSS&gt; leaked" in text and "<@U0BOSS>" not in text
    assert "Estimated defect rate of all AI replies: 32.7%" in text

    (upload,) = fake_slack.calls("files.completeUploadExternal")
    assert upload.ok and upload.args["channel_id"] == "C0DIGEST"
    (stored,) = fake_slack.files()
    assert stored["content"].startswith(PNG) and stored["name"] == f"auditbot-digest-{WEEK}.png"
    assert [m.get("upload") for m in fake_slack.messages("C0DIGEST")] == [None, True]

    again = await post_weekly_digest(services, WEEK)
    assert again is None
    assert len(fake_slack.calls("chat.postMessage")) == 1
    assert len(fake_slack.calls("files.completeUploadExternal")) == 1
    assert [p.status for p in await posts(db)] == ["posted"]


async def test_a_failed_post_releases_its_claim(services, db, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", "not_in_channel")
    with pytest.raises(SlackApiError):
        await post_weekly_digest(services, WEEK)
    assert await posts(db) == []
    assert await post_weekly_digest(services, WEEK) is not None
    assert [c.ok for c in fake_slack.calls("chat.postMessage")] == [False, True]


async def test_a_run_that_died_after_the_message_only_adds_the_chart(services, db, clock, fake_slack) -> None:
    async with db.transaction() as session:
        session.add(
            DigestPost(channel="C0DIGEST", week=WEEK, status="posting", message_ts="1700000000.000100",
                       created_at=clock.now() - dt.timedelta(minutes=2))
        )  # fmt: skip
    assert await post_weekly_digest(services, WEEK) is None  # someone is on it right now
    clock.advance(seconds=STALE_CLAIM.total_seconds())
    post = await post_weekly_digest(services, WEEK)
    assert post is not None and post.status == "posted" and post.message_ts == "1700000000.000100"
    assert fake_slack.calls("chat.postMessage") == []
    assert len(fake_slack.calls("files.completeUploadExternal")) == 1


async def test_each_channel_and_week_gets_its_own_digest(services, db, fake_slack) -> None:
    assert await post_weekly_digest(services, "2026-W46") is not None
    assert await post_weekly_digest(services, WEEK) is not None
    assert sorted(p.week for p in await posts(db)) == ["2026-W46", WEEK]
    empty_week = all_text(fake_slack.calls("chat.postMessage")[0].args["blocks"])
    assert "not enough reviews this week" in empty_week and "nobody reviewed this week" in empty_week


async def test_no_digest_channel_is_a_config_error(services, config) -> None:
    services.config = config.model_copy(
        update={"slack": config.slack.model_copy(update={"digest_channel": None})}
    )
    with pytest.raises(ConfigError, match="digest_channel"):
        await post_weekly_digest(services, WEEK)
