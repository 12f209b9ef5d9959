"""Events API listeners, plus the global guards: our workspace only, each event once."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from bot.core.access import access_of, claim_event, same_workspace
from bot.core.db import fail_fast
from bot.judge.agreement import shown as judge_agreement
from bot.review import stats as review_stats
from bot.views.home import build_home

log = logging.getLogger("auditbot.events")
OTHER_WORKSPACE = "This auditbot belongs to another Slack workspace."


async def refuse_other_workspaces(context, body, next):  # type: ignore[no-untyped-def]
    """Requests whose team is not the one our token belongs to are answered and ignored."""
    result = context.get("authorize_result")
    home = result.team_id if result is not None else None
    if not same_workspace(context.get("team_id"), home):
        log.warning(
            "refused a %s request from team %s", body.get("type") or "command", context.get("team_id")
        )
        return BoltResponse(status=200, body="" if body.get("type") else OTHER_WORKSPACE)
    await next()


async def process_events_once(context, body, request, next):  # type: ignore[no-untyped-def]
    """A Slack retry (X-Slack-Retry-Num) or a repeated `event_id` is acknowledged and dropped."""
    event_id = body.get("event_id") if body.get("type") == "event_callback" else None
    if event_id:
        services = context["services"]
        with fail_fast():  # a database that is away fails this event (Slack retries it later)
            async with services.db.transaction() as session:
                first = await claim_event(session=session, event_id=str(event_id), now=services.clock.now())
        if not first:
            retry = (request.headers.get("x-slack-retry-num") or ["-"])[0]
            log.info("dropped repeated event %s (retry %s)", event_id, retry)
            return BoltResponse(status=200, body="")
    await next()


async def handle_app_home_opened(event, context, client) -> None:  # type: ignore[no-untyped-def]
    if event.get("tab") not in (None, "home"):
        return
    services = context["services"]
    view = await home_view(services, event["user"])
    await client.views_publish(user_id=event["user"], view=view)


async def home_view(services, user_id: str):  # type: ignore[no-untyped-def]
    """The Home tab for `user_id`, from the database."""
    now = services.clock.now()
    week = review_stats.this_week(now, services.config.slack.tz)
    access = access_of(services)
    async with services.db.session() as session:
        figures = await review_stats.home_figures(session=session, reviewer=user_id, now=now, week=week)
        judge = await judge_agreement(session, services.config) if access.is_admin(user_id) else None
    is_reviewer = await access.is_reviewer(user_id)
    return build_home(
        user_id=user_id,
        is_reviewer=is_reviewer,
        numbers=figures.numbers,
        waiting=figures.waiting,
        waiting_total=figures.waiting_total,
        team=figures.team,
        week_start=week[0].astimezone(services.config.slack.tz).date(),
        updated_at=now,
        judge=judge,
        checks=figures.checks,
    )


def register(app: AsyncApp) -> None:
    # url_verification is answered by Bolt itself once the signature checks out.
    app.use(refuse_other_workspaces)
    app.use(process_events_once)
    app.event("app_home_opened")(handle_app_home_opened)
