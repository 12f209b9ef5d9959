"""Post a stored sample batch to Slack: resumable, paced, and each message exactly once.

The batch and its items are committed before anything is posted. For each message: claim it in
the database, post it with `metadata` naming it, then store its ts at once. A restart resumes with
the items that have no ts. A claimed message without a ts is the one case where Slack may have
accepted a post whose ts we never stored (a crash, or an answer lost in transit: a 5xx or a
dropped connection keeps the claim; an `ok: false` answer means nothing was posted and drops it).
Before posting such a message again the next run looks for it by its metadata and adopts its ts:
items in thread mode in the header's thread (conversations.replies); items in channel mode in the
channel's history after the last message it stored (conversations.history); the header in the
history since the batch was drawn. Only if Slack refuses that lookup is the message posted again
(see bot.delivery.lookup for why a duplicate beats a lost item).

Only one run posts a batch at a time, whatever started it (the schedule, `/audit sample` from two
admins, a repeated command, `auditbot sample`), within one process or across several: each run
takes the lease `sample-post:<batch id>` under an id of its own, and claims each message in the
same transaction that renews the lease, so a run that lost the lease claims nothing more."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from slack_sdk.errors import SlackApiError

from bot.core.clock import Clock
from bot.core.models import SampleBatch, SampleItem
from bot.core.services import Services
from bot.delivery.lease import acquire_or_renew, holder_of, new_holder, release, take
from bot.delivery.lookup import CLOCK_SKEW, find_in_channel, find_in_thread, slack_ts
from bot.judge.runner import judge_before_posting
from bot.sample.draw import batch_items, ensure_batch, local_today
from bot.sample.items import batch_views, header_view
from bot.views.sample import build_sample_header, build_sample_item, header_text, item_fallback

log = logging.getLogger("auditbot.posting")

Sleep = Callable[[float], Awaitable[None]]
ITEM_EVENT = "auditbot_item"
HEADER_EVENT = "auditbot_sample"
POST_INTERVAL = 1.0  # seconds between messages in one channel (Slack allows about one a second)
LEASE_TTL = dt.timedelta(minutes=5)
MAX_RATE_LIMIT_WAITS = 10


@dataclass
class PostResult:
    posted: int = 0
    recovered: int = 0  # unconfirmed posts found in Slack and adopted instead of re-posted
    busy: bool = False  # another process holds the batch's posting lease


class Pacer:
    """At most one message per `interval` seconds, measured on the injected clock."""

    def __init__(self, clock: Clock, sleep: Sleep, interval: float = POST_INTERVAL) -> None:
        self.clock, self.sleep, self.interval = clock, sleep, interval
        self.last: dt.datetime | None = None

    async def wait(self) -> None:
        if self.last is not None:
            elapsed = (self.clock.now() - self.last).total_seconds()
            if elapsed < self.interval:
                await self.sleep(self.interval - elapsed)

    def mark(self) -> None:
        self.last = self.clock.now()


def _retry_after(exc: SlackApiError) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(float(value), 0.0)
            except ValueError:
                break
    return 1.0


async def send(client: Any, sleep: Sleep, **message: Any) -> str:
    """chat.postMessage, waiting out 429s the client's own retry handler gave up on; returns the ts."""
    for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
        try:
            response = await client.chat_postMessage(**message)
            return str(response["ts"])
        except SlackApiError as exc:
            if exc.response.status_code != 429 or attempt == MAX_RATE_LIMIT_WAITS:
                raise
            wait = _retry_after(exc)
            log.info("Slack rate limit on chat.postMessage: waiting %.1f s", wait)
            await sleep(wait)
    raise AssertionError("unreachable")


def not_posted(exc: SlackApiError) -> bool:
    """Whether Slack's error answer says nothing was posted (a 5xx leaves that open)."""
    return exc.response.status_code < 500


async def post_batch(services: Services, batch_id: int, *, sleep: Sleep | None = None) -> PostResult:
    """Post the header and every item not yet posted; safe to call again after any crash."""
    if services.client is None:
        raise RuntimeError("posting a sample needs a Slack client (SLACK_BOT_TOKEN)")
    sleep = sleep or services.extras.get("sleep") or asyncio.sleep  # type: ignore[assignment]
    db, clock = services.db, services.clock
    claim = RunClaim(db, clock, f"sample-post:{batch_id}", new_holder())
    if not await acquire_or_renew(db, claim.lease, claim.run, LEASE_TTL, clock.now()):
        log.info("batch %s is being posted by another run", batch_id)
        return PostResult(busy=True)
    try:
        return await _post_batch(services, batch_id, sleep, claim)  # type: ignore[arg-type]
    finally:
        await release(db, claim.lease, claim.run)


@dataclass
class RunClaim:
    """One posting run: its id, the batch lease it holds, and the messages it claims under it."""

    db: Any
    clock: Clock
    lease: str
    run: str

    async def claim(self, model: type, row_id: int, **values: Any) -> bool:
        """Renew the lease and mark the row claimed in one transaction; False if the lease is lost."""
        async with self.db.transaction() as session:
            if not await take(session, self.lease, self.run, LEASE_TTL, self.clock.now()):
                return False
            await session.execute(sa.update(model).where(model.id == row_id).values(**values))  # type: ignore[attr-defined]
        return True


async def _post_batch(services: Services, batch_id: int, sleep: Sleep, claim: RunClaim) -> PostResult:
    db, clock, client = services.db, services.clock, services.client
    result = PostResult()
    async with db.session() as session:
        batch = await session.get(SampleBatch, batch_id)
        assert batch is not None
        items = await batch_items(session, batch_id)
        listed = await batch_views(session, items, show_hint=services.config.judge.show_hint)
        views = {view.item_id: view for view in listed}
    if batch.status == "posted":
        return result
    channel, pacer = batch.channel, Pacer(clock, sleep)

    if batch.header_ts is None:
        header_ts = None
        if batch.status == "posting":  # claimed by an earlier run that never stored the ts
            since = slack_ts(batch.created_at - CLOCK_SKEW)  # posted after the batch was drawn
            header_ts = await find_in_channel(
                client, channel, since, event_type=HEADER_EVENT, key="batch_id", value=batch_id
            )
            result.recovered += header_ts is not None
        if header_ts is None:
            header = header_view(services, batch, len(items), sum(i.double_review for i in items))
            if not await claim.claim(SampleBatch, batch_id, status="posting"):
                return _lost(batch_id, result)
            try:
                header_ts = await send(
                    client,
                    sleep,
                    channel=channel,
                    text=header_text(header),
                    blocks=build_sample_header(header),
                    metadata={"event_type": HEADER_EVENT, "event_payload": {"batch_id": batch_id}},
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except SlackApiError as exc:
                if not_posted(exc):
                    await _update(db, SampleBatch, batch_id, status="pending")
                raise
            pacer.mark()
            result.posted += 1
        await _update(db, SampleBatch, batch_id, header_ts=header_ts, status="posting")
        batch.header_ts = header_ts
    thread_ts = batch.header_ts if services.config.sampling.thread else None
    # items go out in position order, each after the previous one's ts is stored: an unconfirmed
    # item can only be newer than the last stored ts
    last_ts = batch.header_ts

    for item in items:
        if item.message_ts is not None:
            last_ts = item.message_ts
            continue
        view = views[item.id]  # type: ignore[index]
        ts = None
        if item.channel is not None:  # claimed earlier, never confirmed: look before posting again
            found = {"event_type": ITEM_EVENT, "key": "item_id", "value": item.id}
            if thread_ts:
                ts = await find_in_thread(client, channel, thread_ts, **found)  # type: ignore[arg-type]
            else:
                ts = await find_in_channel(client, channel, last_ts, **found)  # type: ignore[arg-type]
            result.recovered += ts is not None
        if ts is None:
            await pacer.wait()
            if not await claim.claim(SampleItem, item.id, channel=channel):  # type: ignore[arg-type]
                return _lost(batch_id, result)
            try:
                ts = await send(
                    client,
                    sleep,
                    channel=channel,
                    thread_ts=thread_ts,
                    text=item_fallback(view),
                    blocks=build_sample_item(view),
                    metadata={"event_type": ITEM_EVENT, "event_payload": {"item_id": item.id}},
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except SlackApiError as exc:
                if not_posted(exc):  # the next run need not look for it
                    await _update(db, SampleItem, item.id, channel=None)  # type: ignore[arg-type]
                raise
            pacer.mark()
            result.posted += 1
        await _update(db, SampleItem, item.id, channel=channel, message_ts=ts, posted_at=clock.now())  # type: ignore[arg-type]
        last_ts = ts

    await _update(db, SampleBatch, batch_id, status="posted", posted_at=clock.now())
    log.info("batch %s posted: %d messages (%d recovered)", batch_id, result.posted, result.recovered)
    return result


def _lost(batch_id: int, result: PostResult) -> PostResult:
    log.warning("lost the posting lease of batch %s; another run continues", batch_id)
    return result


async def _update(db: Any, model: type, row_id: int, **values: Any) -> None:
    async with db.transaction() as session:
        await session.execute(sa.update(model).where(model.id == row_id).values(**values))  # type: ignore[attr-defined]


async def posting_elsewhere(services: Services, batch_id: int) -> bool:
    """Whether some run holds the batch's posting lease right now."""
    return await holder_of(services.db, f"sample-post:{batch_id}", services.clock.now()) is not None


async def run_daily_sample(
    services: Services, day: dt.date | None = None, *, seed: int | None = None
) -> SampleBatch:
    """Draw the day's sample if not drawn yet, then post it (resuming where a crash left it)."""
    now = services.clock.now()
    day = day or local_today(services.config, now)
    batch = await ensure_batch(services.db, services.config, day, now, seed=seed)
    await judge_before_posting(services, batch.id)  # type: ignore[arg-type]  # bounded; never stops the post
    await post_batch(services, batch.id)  # type: ignore[arg-type]
    return batch
