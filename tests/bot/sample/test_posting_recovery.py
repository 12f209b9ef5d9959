"""A post Slack accepted but whose ts we never stored is found by its metadata, not posted twice."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import SampleBatch
from bot.core.settings import Settings
from bot.delivery.lookup import CLOCK_SKEW, slack_ts
from bot.sample.posting import HEADER_EVENT, ITEM_EVENT, LEASE_TTL, post_batch
from tests.bot.sample.test_draw import NOW
from tests.bot.sample.test_posting import Sleeps, drawn, items_of, make_services
from tests.fakes.slack_api import FakeSlack

CHANNEL = "C0AUDIT"


class LoseAnswerOfPost(Sleeps):
    """Before chat.postMessage number `nth` (1 = the header), make the fake lose its answer."""

    def __init__(self, fake: FakeSlack, nth: int) -> None:
        super().__init__()
        self.fake, self.nth = fake, nth
        if nth == 1:
            fake.lose_answer("chat.postMessage")

    async def __call__(self, seconds: float) -> None:
        await super().__call__(seconds)
        if len(self.fake.calls("chat.postMessage")) == self.nth - 1:
            self.fake.lose_answer("chat.postMessage")


def carried(fake: FakeSlack, event_type: str, key: str) -> list[tuple[int, str]]:
    """(id, ts) of every message in the channel and its threads carrying our metadata."""
    found = []
    for message in fake.messages(CHANNEL, include_replies=True):
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == event_type:
            found.append((metadata["event_payload"][key], message["ts"]))
    return found


async def stored_batch(db: Database, batch_id: int) -> SampleBatch:
    async with db.session() as session:
        batch = await session.get(SampleBatch, batch_id)
    assert batch is not None
    return batch


@pytest.mark.parametrize("thread", [False, True], ids=["channel", "thread"])
@pytest.mark.parametrize("nth", [1, 7], ids=["header", "sixth-item"])
async def test_posted_but_unconfirmed_message_is_adopted_after_a_restart(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack, thread: bool, nth: int
) -> None:
    config.sampling.thread = thread
    batch = await drawn(db, config)
    first = make_services(settings, config, db, fake_slack, sleep=LoseAnswerOfPost(fake_slack, nth))
    fake_slack.use_clock(first.clock.now)  # Slack's ts and our clock agree, as in production
    with pytest.raises(SlackApiError) as caught:
        await post_batch(first, batch.id)
    assert caught.value.response.status_code == 500
    assert len(fake_slack.messages(CHANNEL, include_replies=True)) == nth  # Slack did post it
    items = await items_of(db)
    assert sum(i.message_ts is not None for i in items) == max(nth - 2, 0)
    if nth == 1:
        unconfirmed = await stored_batch(db, batch.id)
        assert (unconfirmed.status, unconfirmed.header_ts) == ("posting", None)  # claim kept
    else:
        assert (items[5].channel, items[5].message_ts) == (CHANNEL, None)

    restarted = make_services(settings, config, db, fake_slack)
    restarted.clock.advance(seconds=LEASE_TTL.total_seconds() + 1)  # type: ignore[attr-defined]
    result = await post_batch(restarted, batch.id)

    assert (result.posted, result.recovered) == (21 - nth, 1)
    [(_, header_ts)] = carried(fake_slack, HEADER_EVENT, "batch_id")
    posted = carried(fake_slack, ITEM_EVENT, "item_id")
    items = await items_of(db)
    assert sorted(posted) == sorted((i.id, i.message_ts) for i in items)  # each once, ts recovered
    done = await stored_batch(db, batch.id)
    assert (done.status, done.header_ts) == ("posted", header_ts)
    if thread:
        assert len(fake_slack.thread(CHANNEL, header_ts)) == 20
    history = fake_slack.calls("conversations.history")
    replies = fake_slack.calls("conversations.replies")
    if nth == 1:  # the header: the channel's history since the batch was drawn
        [lookup] = history
        assert lookup.args["oldest"] == slack_ts(NOW - CLOCK_SKEW)
        assert replies == []
    elif thread:  # an item in thread mode: the header's thread
        assert history == [] and [c.args["ts"] for c in replies] == [header_ts]
    else:  # an item in channel mode: the history after the fifth item, the last one stored
        [lookup] = history
        assert lookup.args["oldest"] == items[4].message_ts and replies == []
    for call in history + replies:
        assert call.args["include_all_metadata"] in ("1", "true", True)


async def test_history_read_page_by_page_when_slack_caps_the_limit(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    batch = await drawn(db, config)
    first = make_services(settings, config, db, fake_slack, sleep=LoseAnswerOfPost(fake_slack, 1))
    fake_slack.use_clock(first.clock.now)
    with pytest.raises(SlackApiError):
        await post_batch(first, batch.id)
    for n in range(20):  # the channel got busy before the restart
        await first.client.chat_postMessage(channel=CHANNEL, text=f"chatter {n}")  # type: ignore[union-attr]
    fake_slack.limit_history(15)  # what Slack allows apps distributed outside the Marketplace
    restarted = make_services(settings, config, db, fake_slack)
    restarted.clock.advance(minutes=10)  # type: ignore[attr-defined]
    result = await post_batch(restarted, batch.id)
    assert (result.posted, result.recovered) == (20, 1)
    assert len(carried(fake_slack, HEADER_EVENT, "batch_id")) == 1
    assert len(fake_slack.calls("conversations.history")) == 2


async def test_a_refused_lookup_posts_again_rather_than_lose_the_item(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    """Documented trade-off: if Slack will not say, a possible duplicate beats an item never shown."""
    batch = await drawn(db, config)
    first = make_services(settings, config, db, fake_slack, sleep=LoseAnswerOfPost(fake_slack, 7))
    with pytest.raises(SlackApiError):
        await post_batch(first, batch.id)
    bare = AsyncWebClient(token=fake_slack.token, base_url=fake_slack.url)  # no 429 retry handler
    fake_slack.rate_limit("conversations.history", retry_after=60)
    restarted = make_services(settings, config, db, fake_slack, client=bare)
    restarted.clock.advance(minutes=10)  # type: ignore[attr-defined]
    result = await post_batch(restarted, batch.id)
    assert (result.posted, result.recovered) == (15, 0)
    posted = [item_id for item_id, _ in carried(fake_slack, ITEM_EVENT, "item_id")]
    items = await items_of(db)
    assert posted.count(items[5].id) == 2 and len(set(posted)) == 20
    assert all(i.message_ts is not None for i in items)


async def test_an_ok_false_answer_drops_the_claim_so_nothing_is_looked_up(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    batch = await drawn(db, config)
    fake_slack.fail("chat.postMessage", "not_in_channel")
    services = make_services(settings, config, db, fake_slack)
    with pytest.raises(SlackApiError):
        await post_batch(services, batch.id)
    assert (await stored_batch(db, batch.id)).status == "pending"
    await post_batch(services, batch.id)
    assert fake_slack.calls("conversations.history") == []
    assert len(fake_slack.messages(CHANNEL)) == 21
