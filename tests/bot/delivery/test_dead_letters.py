"""A tracker answering 500 for over an hour: its effects die after the policy's attempts, one
notice goes to the audit channel, and `auditbot deliver --retry-dead` replays them, once each.

Time moves on the injected clock, from one due retry to the next (no sleeping)."""

from __future__ import annotations

import argparse
import datetime as dt

import sqlalchemy as sa

from bot.cli.deliver import command_deliver
from bot.cli.env import CliEnv
from bot.core.models import OutboxItem
from bot.defects.effects import deliver_pending
from bot.delivery import outbox


async def outbox_rows(db) -> list[OutboxItem]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return list((await session.execute(sa.select(OutboxItem).order_by(OutboxItem.id))).scalars())


async def next_due(db) -> dt.datetime | None:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        stmt = sa.select(sa.func.min(OutboxItem.next_attempt_at)).where(OutboxItem.status == "pending")
        return (await session.execute(stmt)).scalar_one()


def notices(fake_slack) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return [m for m in fake_slack.messages("C0AUDIT") if "could not deliver" in m["text"]]


async def test_a_tracker_down_for_an_hour_dead_letters_once_and_retry_dead_replays(
    services, seed, vendors, fake_slack, clock, db, settings
):
    vendors.jira.down = True  # every Jira call answers 503
    for template in ("t1", "t2", "t3"):  # three groups, each with a second occurrence (a comment)
        await seed.defect(services, template_id=template, reviewer="U0REV1")
        await seed.defect(services, template_id=template, reviewer="U0REV2")
        clock.advance(minutes=7)
    started = clock.now()
    while clock.now() - started < dt.timedelta(hours=3):
        await deliver_pending(services)
        due = await next_due(db)
        creates = [r for r in await outbox_rows(db) if r.kind == "tracker.create_issue"]
        if due is None or all(r.status == "dead" for r in creates):
            break
        clock.set(max(due, clock.now()))

    rows = await outbox_rows(db)
    creates = [r for r in rows if r.kind == "tracker.create_issue"]
    assert [(r.status, r.attempts) for r in creates] == [("dead", outbox.MAX_ATTEMPTS)] * 3
    assert clock.now() - started > dt.timedelta(minutes=30)  # the backoff spread the attempts out
    comments = [r for r in rows if r.kind == "tracker.comment"]
    assert {r.status for r in comments} == {"pending"}  # they wait for their issue, they do not die
    assert not vendors.jira.issues
    [notice] = notices(fake_slack)  # three deaths (at different times: jittered backoff), one notice
    assert "tracker.create_issue" in notice["text"] and "jira answered 503" in notice["text"]
    assert "auditbot deliver --retry-dead" in notice["text"] and "/audit config" in notice["text"]

    vendors.jira.down = False  # fixed; a person replays the dead letters
    clock.advance(minutes=5)
    settings.slack_api_url = fake_slack.url
    env = CliEnv(settings, clock=clock, _config=services.config, _db=db)
    env_services = await env.services(slack=True)
    env_services.extras["integrations"] = services.extras["integrations"]
    code = await command_deliver(argparse.Namespace(dead=True), _Env(env, env_services))
    assert code == 0
    clock.advance(minutes=2)
    await deliver_pending(services)  # the card edits queued by the new issues
    assert sorted(vendors.jira.issues) == ["SUP-1", "SUP-2", "SUP-3"]  # one issue per group
    assert sorted(len(i["comments"]) for i in vendors.jira.issues.values()) == [1, 1, 1]
    assert {r.status for r in await outbox_rows(db)} == {"done"}
    assert len(notices(fake_slack)) == 1


class _Env:
    """The CLI's environment, with services wired to the fake vendors."""

    def __init__(self, env: CliEnv, services) -> None:  # type: ignore[no-untyped-def]
        self.env, self._services = env, services

    async def services(self, *, slack: bool = True):  # type: ignore[no-untyped-def]
        return self._services
