"""The /audit slash command: one handler per subcommand, looked up in SUBCOMMANDS."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from bot.core.access import COMMAND_FIXED
from bot.defects import groups
from bot.defects.effects import deliver_pending
from bot.defects.overview import config_view
from bot.defects.windows import latest_window
from bot.review import stats as review_stats
from bot.sample.draw import batch_items
from bot.sample.posting import run_daily_sample
from bot.views.config import build_config_message, config_text
from bot.views.home import stats_text
from bot.views.sample import sample_summary
from bot.views.verification import fixed_text
from handlers import guard

COMMAND = "/audit"

HELP = (
    "*auditbot* — the audit layer for AI support replies\n"
    "• `/audit help` — this message\n"
    "• `/audit stats [@user]` — review figures\n"
    "• `/audit sample` — (admins) post today's sample now\n"
    "• `/audit fixed <group>` — mark a defect group fixed (`#7` or `SUP-12`) and verify the fix\n"
    "• `/audit config` — (admins) the configuration, integrations and what the outbox holds"
)
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


async def audit_help(ack, command, args, context, client) -> None:  # type: ignore[no-untyped-def]
    await ack(text=HELP)


async def audit_stats(ack, command, args, context, client) -> None:  # type: ignore[no-untyped-def]
    """`/audit stats [@user]`: someone's review figures and the team's week, visible to the caller."""
    target = command["user_id"]
    if args:
        match = _MENTION.match(args[0])
        if match is None:
            await ack(text="Usage: `/audit stats [@user]` (mention the user so Slack sends their id).")
            return
        target = match.group(1)
    await ack()
    services = context["services"]
    now = services.clock.now()
    week = review_stats.this_week(now, services.config.slack.tz)
    async with services.db.session() as session:
        figures = await review_stats.home_figures(session=session, reviewer=target, now=now, week=week)
    text = stats_text(user_id=target, numbers=figures.numbers, team=figures.team)
    await client.chat_postEphemeral(channel=command["channel_id"], user=command["user_id"], text=text)


async def audit_sample(ack, command, args, context, client) -> None:  # type: ignore[no-untyped-def]
    """`/audit sample`: (admins) draw and post today's sample now; does nothing twice."""
    services = context["services"]
    await ack(text="Drawing and posting today's sample…")
    batch = await run_daily_sample(services)
    async with services.db.session() as session:
        drawn = len(await batch_items(session, batch.id))  # the verification strata's items too
    text = sample_summary(batch.day, batch.channel, drawn, batch.population)
    await client.chat_postEphemeral(channel=command["channel_id"], user=command["user_id"], text=text)


async def audit_config(ack, command, args, context, client) -> None:  # type: ignore[no-untyped-def]
    """`/audit config`: (admins) the effective config, live integrations, pending and dead effects."""
    await ack()
    view = await config_view(context["services"])
    await client.chat_postEphemeral(
        channel=command["channel_id"],
        user=command["user_id"],
        text=config_text(view),
        blocks=build_config_message(view),
    )


async def audit_fixed(ack, command, args, context, client) -> None:  # type: ignore[no-untyped-def]
    """`/audit fixed <group>`: (reviewers, admins, the group's owner) mark a group fixed; its fix's
    verification window opens (bot.defects.verification)."""
    if not args:
        await ack(
            text="Usage: `/audit fixed <group>` — the group's number (`#7`) or its issue key (`SUP-12`)."
        )
        return
    await ack()
    services, user, channel = context["services"], command["user_id"], command["channel_id"]
    async with services.db.session() as session:
        group = await groups.group_by_reference(session, args[0])
    if group is None:
        text = f"There is no defect group `{args[0][:40]}`: use its number (`#7`) or its issue key."
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
        return
    refused = await guard.may_run(COMMAND_FIXED, context, user, group.id)
    if refused:
        await client.chat_postEphemeral(channel=channel, user=user, text=refused)
        return
    now = services.clock.now()
    try:
        async with services.db.transaction() as session:
            await groups.fix_group(
                session=session, group_id=group.id, user=user, now=now, config=services.config
            )
            window = await latest_window(session, group.id)
    except groups.DefectError as exc:
        await client.chat_postEphemeral(channel=channel, user=user, text=f"That did not work: {exc}.")
        return
    await deliver_pending(services)
    ends = window.ends_at if window else now
    await client.chat_postEphemeral(channel=channel, user=user, text=fixed_text(group.title, ends))


SUBCOMMANDS = {
    "help": audit_help,
    "stats": audit_stats,
    "sample": audit_sample,
    "config": audit_config,
    "fixed": audit_fixed,
}
TARGETED = ("fixed",)  # their access depends on the target: their handler checks it (guard.may_run)


async def handle_audit(ack, command, context, client) -> None:  # type: ignore[no-untyped-def]
    words = (command.get("text") or "").split()
    name = words[0].lower() if words else "help"
    handler = SUBCOMMANDS.get(name)
    if handler is None:
        await ack(text=f"Unknown subcommand `{name[:40]}`.\n{HELP}")
        return
    refused = (
        None if name in TARGETED else await guard.may_run(f"command:{name}", context, command["user_id"])
    )
    if refused:
        await ack(text=refused)
        return
    await handler(ack=ack, command=command, args=words[1:], context=context, client=client)


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(handle_audit)
