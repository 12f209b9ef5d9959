"""After a verdict: edit the item message in place, and speak in its thread when the flow asks for it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import access_of
from bot.core.db import is_unavailable
from bot.judge.hints import hint_shown
from bot.review import verdicts as reviews
from bot.sample.items import item_view
from bot.views import review as review_views
from bot.views.sample import ItemView, build_sample_item, item_fallback

AFTER_ACK_WORKERS = 2
DELIVERIES = "delivery_tasks"  # services.extras key: the running background deliveries

log = logging.getLogger("auditbot.publish")
T = TypeVar("T")


def after_ack_gate(services) -> asyncio.Semaphore:  # type: ignore[no-untyped-def]
    """Bounds the verdict work running after acks, so a burst of clicks cannot starve new acks."""
    gate = services.extras.get("after_ack_gate")
    if not isinstance(gate, asyncio.Semaphore):
        gate = services.extras["after_ack_gate"] = asyncio.Semaphore(AFTER_ACK_WORKERS)
    return gate


def deliver_soon(services, keys: list[str]) -> asyncio.Task | None:  # type: ignore[no-untyped-def,type-arg]
    """Deliver a verdict's group card and thread post now, in the background.

    They were committed to the outbox with the verdict, so nothing is lost if this fails: the
    scheduled flush delivers them. Tracker and helpdesk calls are left to that flush.
    """
    if not keys:
        return None
    from bot.defects.effects import deliver_pending

    running: set[asyncio.Task] = services.extras.setdefault(DELIVERIES, set())  # type: ignore[type-arg]
    task = asyncio.create_task(deliver_pending(services, keys=keys))
    running.add(task)  # a strong reference until it is done (the loop keeps only a weak one)
    services.inflight.add(task)  # a clean stop lets it finish
    task.add_done_callback(running.discard)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task) -> None:  # type: ignore[type-arg]
    error = None if task.cancelled() else task.exception()
    if error is not None:
        log.error("delivering a verdict's Slack effects failed; the outbox flush retries", exc_info=error)


async def read_quietly(read: Awaitable[T]) -> T | None:
    """`read`, or None when the connection is lost meanwhile (the caller reads again later)."""
    try:
        return await read
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        return None


async def edited_item(session: AsyncSession, outcome: reviews.Outcome, show_hint: str) -> ItemView | None:
    """The item as its message should now read, or None when the message needs no edit.
    `show_hint`: `[judge] show_hint` (the judge's hint may appear once the item is reviewed)."""
    item = outcome.item
    if not outcome.changed or not item.channel or not item.message_ts or item.id is None:
        return None  # a repeated click (the message already says this), or not posted (yet)
    lines = review_views.verdict_lines(
        outcome.reviews, double_review=item.double_review, disagree=outcome.disagree
    )
    verdicts = [review.verdict for review in outcome.reviews]
    hint = hint_shown(show_hint, double_review=item.double_review, verdicts=verdicts)
    return await item_view(session, item.id, lines, hint=hint)


async def publish_outcome(  # type: ignore[no-untyped-def]
    services, client, outcome: reviews.Outcome, view: ItemView | None = None
) -> None:
    """Show who said what on the item message; ask for a second look; report calibration results.

    `view` is `edited_item(...)` when the caller read it already (in the verdict's own session).
    """
    if not outcome.changed:
        return  # a repeated click: the message already says this
    item = outcome.item
    if not item.channel or not item.message_ts:
        return  # not posted (yet): nothing to edit
    if view is None:
        show_hint = services.config.judge.show_hint
        view = await services.db.patiently(lambda session: edited_item(session, outcome, show_hint))
    if view is not None:
        await client.chat_update(
            channel=item.channel, ts=item.message_ts, text=item_fallback(view), blocks=build_sample_item(view)
        )
    reviewer = outcome.review.reviewer
    hidden = item.double_review and len(outcome.reviews) < 2
    if hidden:
        text = review_views.hidden_verdict_text(outcome.review.verdict)
        await client.chat_postEphemeral(channel=item.channel, user=reviewer, text=text)
    elif outcome.asks_second_opinion:
        mentions = access_of(services).reviewer_mentions(excluding=reviewer)
        text = review_views.second_opinion_text(reviewer=reviewer, mentions=mentions)
        await client.chat_postMessage(channel=item.channel, thread_ts=item.message_ts, text=text)
    if outcome.second_verdict_arrived:
        first, second = outcome.reviews[0], outcome.reviews[1]
        if reviews.disagree(first, second):
            text = review_views.disagreement_text(first, second)
            await client.chat_postMessage(channel=item.channel, thread_ts=item.message_ts, text=text)
