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
(see bot.lookup for why a duplicate beats a lost item).
Only one process posts a batch at a time: it holds the lease `sample-post:<batch id>`."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.lease import acquire_or_renew, new_holder, release
from bot.lookup import CLOCK_SKEW, find_in_channel, find_in_thread, slack_ts
from bot.models import Finding, Reply, SampleBatch, SampleItem
from bot.sampling import batch_items
from bot.views.sample import (
    HeaderView,
    ItemView,
    build_sample_header,
    build_sample_item,
    header_text,
    item_fallback,
)

if TYPE_CHECKING:
    from bot.app import Services
    from bot.clock import Clock

log = logging.getLogger("auditbot.posting")

Sleep = Callable[[float], Awaitable[None]]
FindingPair = tuple[str, dict[str, Any]]
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


def holder_of(services: Services) -> str:
    """This Services' lease holder id (two Services in one process are two holders)."""
    return str(services.extras.setdefault("holder", new_holder()))


# -- what the messages show -------------------------------------------------------------------


# Built once: item_view runs after every verdict, on the event loop that also acks the next clicks.
_FINDINGS_OF = (
    select(Finding)
    .where(Finding.reply_id.in_(sa.bindparam("reply_ids", expanding=True)))  # type: ignore[attr-defined]
    .order_by(Finding.id)
)
_BATCH_SIZE = select(sa.func.count()).where(SampleItem.batch_id == sa.bindparam("batch_id"))


async def findings_by_reply(session: AsyncSession, reply_ids: Sequence[int]) -> dict[int, list[FindingPair]]:
    rows = await session.execute(_FINDINGS_OF, {"reply_ids": list(reply_ids)})
    found: dict[int, list[FindingPair]] = {}
    for row in rows.scalars():
        found.setdefault(row.reply_id, []).append((row.kind, dict(row.evidence or {})))
    return found


def reply_item_view(
    reply: Reply,
    findings: Sequence[FindingPair],
    *,
    item_id: int,
    position: int = 0,
    total: int = 0,
    double_review: bool = False,
    verdict_lines: Sequence[str] = (),
) -> ItemView:
    return ItemView(
        item_id=item_id,
        ticket_id=reply.ticket_id,
        reply=reply.reply,
        position=position,
        total=total,
        ticket_url=reply.ticket_url,
        customer_message=reply.customer_message,
        channel=reply.channel,
        intent=reply.intent,
        template_id=reply.template_id,
        customer_plan=reply.customer_plan,
        csat=reply.csat,
        findings=tuple(findings),
        double_review=double_review,
        verdict_lines=tuple(verdict_lines),
    )


async def item_view(
    session: AsyncSession, item_id: int, verdict_lines: Sequence[str] = ()
) -> ItemView | None:
    """The view of one stored item, e.g. to re-render it with its verdicts."""
    item = await session.get(SampleItem, item_id)
    if item is None:
        return None
    reply = await session.get(Reply, item.reply_id)
    assert reply is not None  # foreign key
    total = await session.scalar(_BATCH_SIZE, {"batch_id": item.batch_id})
    findings = (await findings_by_reply(session, [reply.id])).get(reply.id, [])  # type: ignore[list-item]
    return reply_item_view(
        reply,
        findings,
        item_id=item_id,
        position=item.position,
        total=int(total or 0),
        double_review=item.double_review,
        verdict_lines=verdict_lines,
    )


@dataclass(frozen=True)
class Slot:
    """Where a reply sits in a batch (item_id 0 for a draw not stored, as in a dry run)."""

    reply_id: int
    item_id: int
    position: int
    double_review: bool = False


async def slot_views(session: AsyncSession, slots: Sequence[Slot]) -> list[ItemView]:
    """Views of the replies in `slots`, in order."""
    reply_ids = [slot.reply_id for slot in slots]
    rows = await session.execute(select(Reply).where(Reply.id.in_(reply_ids)))  # type: ignore[union-attr]
    replies = {reply.id: reply for reply in rows.scalars()}
    findings = await findings_by_reply(session, reply_ids)
    return [
        reply_item_view(
            replies[slot.reply_id],
            findings.get(slot.reply_id, []),
            item_id=slot.item_id,
            position=slot.position,
            total=len(slots),
            double_review=slot.double_review,
        )
        for slot in slots
    ]


async def batch_views(session: AsyncSession, items: Sequence[SampleItem]) -> list[ItemView]:
    """Views of a stored batch's items, in order."""
    slots = [Slot(i.reply_id, i.id, i.position, i.double_review) for i in items]  # type: ignore[arg-type]
    return await slot_views(session, slots)


def header_view(services: Services, batch: SampleBatch, shown: int, double_review: int) -> HeaderView:
    slack = services.config.slack
    return HeaderView(
        shown=shown,
        population=batch.population,
        flagged_drawn=batch.flagged_drawn,
        window_start=batch.window_start,
        window_end=batch.window_end,
        timezone=slack.tz,
        reviewer_group=slack.reviewer_group,
        reviewers=tuple(slack.reviewers),
        double_review=double_review,
        thread=services.config.sampling.thread,
    )


# -- posting ----------------------------------------------------------------------------------


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
    db, clock, holder = services.db, services.clock, holder_of(services)
    lease = f"sample-post:{batch_id}"
    if not await acquire_or_renew(db, lease, holder, LEASE_TTL, clock.now()):
        log.info("batch %s is being posted by another process", batch_id)
        return PostResult(busy=True)
    try:
        return await _post_batch(services, batch_id, sleep, lease, holder)  # type: ignore[arg-type]
    finally:
        await release(db, lease, holder)


async def _post_batch(services: Services, batch_id: int, sleep: Sleep, lease: str, holder: str) -> PostResult:
    db, clock, client = services.db, services.clock, services.client
    result = PostResult()
    async with db.session() as session:
        batch = await session.get(SampleBatch, batch_id)
        assert batch is not None
        items = await batch_items(session, batch_id)
        views = {view.item_id: view for view in await batch_views(session, items)}
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
            await _update(db, SampleBatch, batch_id, status="posting")
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
            await _update(db, SampleItem, item.id, channel=channel)  # type: ignore[arg-type]
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
        if not await acquire_or_renew(db, lease, holder, LEASE_TTL, clock.now()):
            log.warning("lost the posting lease of batch %s; another process continues", batch_id)
            return result

    await _update(db, SampleBatch, batch_id, status="posted", posted_at=clock.now())
    log.info("batch %s posted: %d messages (%d recovered)", batch_id, result.posted, result.recovered)
    return result


async def _update(db: Any, model: type, row_id: int, **values: Any) -> None:
    async with db.transaction() as session:
        await session.execute(sa.update(model).where(model.id == row_id).values(**values))  # type: ignore[attr-defined]
