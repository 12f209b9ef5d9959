"""Posting a stored batch to the fake Slack: exactly once, resumable, paced, 429s waited out."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select

from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import Finding, LeaderLease, Reply, SampleBatch, SampleItem
from bot.core.services import Services, build_client
from bot.core.settings import Settings
from bot.delivery.lease import acquire_or_renew
from bot.sample.draw import ensure_batch
from bot.sample.posting import ITEM_EVENT, LEASE_TTL, post_batch, run_daily_sample
from tests.bot.sample.test_draw import NOW, add_replies
from tests.fakes.blockkit import check_blocks
from tests.fakes.slack_api import FakeSlack

DAY = dt.date(2026, 11, 27)


class Killed(BaseException):
    """The process dies here (BaseException: nothing in the poster may swallow it)."""


class Sleeps:
    """A recording sleep; with `kill_after`, the process "dies" on the next call after that many."""

    def __init__(self, kill_after: int | None = None) -> None:
        self.calls: list[float] = []
        self.kill_after = kill_after

    async def __call__(self, seconds: float) -> None:
        if self.kill_after is not None and len(self.calls) >= self.kill_after:
            raise Killed
        self.calls.append(seconds)


def make_services(
    settings: Settings,
    config: AuditConfig,
    db: Database,
    fake: FakeSlack,
    *,
    sleep: Sleeps | None = None,
    client: AsyncWebClient | None = None,
) -> Services:
    settings = settings.model_copy(update={"slack_api_url": fake.url})
    services = Services(settings, config, db, FrozenClock(NOW), client or build_client(settings))
    services.extras["sleep"] = sleep or Sleeps()
    return services


async def drawn(db: Database, config: AuditConfig, count: int = 40) -> SampleBatch:
    await add_replies(db, DAY - dt.timedelta(days=1), count)
    async with db.transaction() as session:
        first = (await session.execute(select(Reply).order_by(Reply.id))).scalars().first()
        assert first is not None
        evidence = {"placeholder": "{{first_name}}"}
        session.add(Finding(reply_id=first.id, kind="placeholder_leak", evidence=evidence, created_at=NOW))
    return await ensure_batch(db, config, DAY, NOW)


async def items_of(db: Database) -> list[SampleItem]:
    async with db.session() as session:
        return list((await session.execute(select(SampleItem).order_by(SampleItem.position))).scalars())


def item_ids_posted(fake: FakeSlack) -> list[int]:
    return [
        call.args["metadata"]["event_payload"]["item_id"]
        for call in fake.calls("chat.postMessage")
        if call.ok and call.args.get("metadata", {}).get("event_type") == ITEM_EVENT
    ]


async def test_header_then_every_item_each_ts_stored(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    batch = await drawn(db, config)
    sleeps = Sleeps()
    result = await post_batch(make_services(settings, config, db, fake_slack, sleep=sleeps), batch.id)
    messages = fake_slack.messages("C0AUDIT")
    assert len(messages) == 21 and result.posted == 21
    assert all(check_blocks(m["blocks"]) == [] for m in messages)
    assert messages[0]["text"].startswith("*Daily audit* — 20 of 40 AI replies from Thu 26 Nov")
    items = await items_of(db)
    assert [i.message_ts for i in items] == [m["ts"] for m in messages[1:]]
    assert all(i.channel == "C0AUDIT" and i.posted_at == NOW for i in items)
    assert item_ids_posted(fake_slack) == [i.id for i in items]
    async with db.session() as session:
        stored = await session.get(SampleBatch, batch.id)
    assert stored is not None and stored.status == "posted" and stored.header_ts == messages[0]["ts"]
    # about one message a second: the frozen clock never moves, so each post waits the full second
    assert sleeps.calls == [1.0] * 20
    again = await post_batch(make_services(settings, config, db, fake_slack), batch.id)
    assert again.posted == 0 and len(fake_slack.calls("chat.postMessage")) == 21


async def test_thread_mode_puts_items_under_the_header(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    config.sampling.thread = True
    batch = await drawn(db, config)
    await post_batch(make_services(settings, config, db, fake_slack), batch.id)
    [header] = fake_slack.messages("C0AUDIT")
    assert len(fake_slack.thread("C0AUDIT", header["ts"])) == 20


async def test_killed_half_way_the_restart_posts_the_rest_none_twice(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    batch = await drawn(db, config)
    with pytest.raises(Killed):
        await post_batch(
            make_services(settings, config, db, fake_slack, sleep=Sleeps(kill_after=10)), batch.id
        )
    assert len(fake_slack.messages("C0AUDIT")) == 11  # header + 10 items
    assert sum(i.message_ts is not None for i in await items_of(db)) == 10
    # a new process (another holder) restarts once the dead one's posting lease has run out
    restarted = make_services(settings, config, db, fake_slack)
    restarted.clock.advance(seconds=LEASE_TTL.total_seconds() + 1)  # type: ignore[attr-defined]
    result = await post_batch(restarted, batch.id)
    assert result.posted == 10
    posted = item_ids_posted(fake_slack)
    assert len(posted) == 20 and len(set(posted)) == 20
    assert len(fake_slack.messages("C0AUDIT")) == 21


async def test_unconfirmed_post_found_in_the_thread_is_adopted_not_repeated(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    config.sampling.thread = True
    batch = await drawn(db, config)
    services = make_services(settings, config, db, fake_slack, sleep=Sleeps(kill_after=5))
    with pytest.raises(Killed):
        await post_batch(services, batch.id)
    # the dead process had claimed item 6 and Slack accepted its post, but the ts was never stored
    items = await items_of(db)
    sixth = items[5]
    header_ts = fake_slack.messages("C0AUDIT")[0]["ts"]
    async with db.transaction() as session:
        row = await session.get(SampleItem, sixth.id)
        assert row is not None
        row.channel = "C0AUDIT"
    lost = await services.client.chat_postMessage(  # type: ignore[union-attr]
        channel="C0AUDIT",
        thread_ts=header_ts,
        text="item 6",
        metadata={"event_type": ITEM_EVENT, "event_payload": {"item_id": sixth.id}},
    )
    restarted = make_services(settings, config, db, fake_slack)
    restarted.clock.advance(minutes=10)  # type: ignore[attr-defined]
    result = await post_batch(restarted, batch.id)
    assert (result.posted, result.recovered) == (14, 1)
    assert len(fake_slack.thread("C0AUDIT", header_ts)) == 20
    assert (await items_of(db))[5].message_ts == lost["ts"]


async def test_a_claim_that_never_reached_slack_is_looked_up_then_posted_once(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    batch = await drawn(db, config)
    items = await items_of(db)
    async with db.transaction() as session:
        row = await session.get(SampleItem, items[0].id)
        assert row is not None
        row.channel = "C0AUDIT"  # claimed by a dead process that never stored a ts
    result = await post_batch(make_services(settings, config, db, fake_slack), batch.id)
    assert (result.posted, result.recovered) == (21, 0)
    assert item_ids_posted(fake_slack) == [i.id for i in items]
    [lookup] = fake_slack.calls("conversations.history")
    assert lookup.args["oldest"] == fake_slack.messages("C0AUDIT")[0]["ts"]  # after the header
    assert fake_slack.calls("conversations.replies") == []


async def test_429_beyond_the_client_retries_is_waited_out_by_retry_after(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    batch = await drawn(db, config)
    sleeps = Sleeps()
    bare = AsyncWebClient(token=fake_slack.token, base_url=fake_slack.url)  # no retry handler
    fake_slack.rate_limit("chat.postMessage", times=2, retry_after=7)
    services = make_services(settings, config, db, fake_slack, sleep=sleeps, client=bare)
    await post_batch(services, batch.id)
    assert sleeps.calls[:2] == [7.0, 7.0]
    assert len(fake_slack.messages("C0AUDIT")) == 21


async def test_slack_refusing_an_item_unclaims_it_and_stops(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    batch = await drawn(db, config)

    async def refuse_the_third(seconds: float) -> None:
        if seconds and len(fake_slack.calls("chat.postMessage")) == 3:
            fake_slack.fail("chat.postMessage", "channel_not_found")

    services = make_services(settings, config, db, fake_slack)
    with pytest.raises(SlackApiError):
        await post_batch(services, batch.id, sleep=refuse_the_third)
    items = await items_of(db)
    assert [i.message_ts is not None for i in items[:3]] == [True, True, False]
    assert all(i.channel is None and i.message_ts is None for i in items[2:])
    await post_batch(services, batch.id)  # the next run carries on cleanly
    assert len(fake_slack.messages("C0AUDIT")) == 21
    assert sorted(item_ids_posted(fake_slack)) == [i.id for i in items]


async def test_a_batch_being_posted_elsewhere_is_left_alone(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    batch = await drawn(db, config)
    assert await acquire_or_renew(db, f"sample-post:{batch.id}", "other-process", LEASE_TTL, NOW)
    result = await post_batch(make_services(settings, config, db, fake_slack), batch.id)
    assert result.busy and fake_slack.calls("chat.postMessage") == []


async def test_runs_racing_in_one_process_post_each_message_once(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    """`/audit sample` from two admins, a repeated delivery and the scheduled job, all at once in
    one process (one Services): the claim is per run, so only one of them posts."""
    await drawn(db, config)  # the replies; the runs below find (or race to draw) the batch
    services = make_services(settings, config, db, fake_slack)
    batches = await asyncio.gather(*(run_daily_sample(services, DAY) for _ in range(4)))
    assert len({b.id for b in batches}) == 1
    items = await items_of(db)
    assert len(fake_slack.messages("C0AUDIT")) == 21
    assert len(fake_slack.calls("chat.postMessage")) == 21
    assert sorted(item_ids_posted(fake_slack)) == sorted(i.id for i in items)
    assert all(i.message_ts for i in items)


async def test_a_run_that_lost_the_lease_claims_nothing_more(
    settings: Settings, config: AuditConfig, db: Database, fake_slack: FakeSlack
) -> None:
    """Another run took the batch over (this one was too slow): the next claim fails, nothing is posted."""
    batch = await drawn(db, config)

    class TakeOver(Sleeps):
        async def __call__(self, seconds: float) -> None:
            if len(self.calls) == 3:  # the lease expires and another run takes it
                async with db.transaction() as session:
                    await session.execute(sa.delete(LeaderLease))
                assert await acquire_or_renew(db, f"sample-post:{batch.id}", "other-run", LEASE_TTL, NOW)
            await super().__call__(seconds)

    result = await post_batch(make_services(settings, config, db, fake_slack, sleep=TakeOver()), batch.id)
    assert result.posted == 4  # the header and three items, then the claim of the fourth failed
    assert len(fake_slack.calls("chat.postMessage")) == 4
    assert sum(i.channel is not None for i in await items_of(db)) == 3
