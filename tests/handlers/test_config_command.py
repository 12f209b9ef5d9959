"""`/audit config` (admins): the effective config without secrets, integrations, and the outbox."""

from __future__ import annotations

import sqlalchemy as sa

from bot.core.models import OutboxItem
from bot.delivery.outbox import enqueue
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.fakes.blockkit import all_text, check_blocks, pings
from tests.fakes.signing import slash_command_form
from tests.handlers.rig import Rig, drain, until


async def dead_and_pending(rig: Rig, clock) -> None:  # type: ignore[no-untyped-def]
    async with rig.db.transaction() as session:  # type: ignore[attr-defined]
        dead = await enqueue(session, "tracker.create_issue", "k-dead", {"group_id": 7}, clock.now())
        await enqueue(session, "slack.thread_post", "k-pending", {"group_id": 7}, clock.now())
        await session.execute(
            sa.update(OutboxItem)
            .where(OutboxItem.id == dead.id)
            .values(
                status="dead", attempts=8, last_error="jira answered 500 to POST /rest/api/3/issue <!channel>"
            )
        )


async def test_an_admin_sees_config_integrations_and_what_the_outbox_holds(rig: Rig, clock) -> None:  # type: ignore[no-untyped-def]
    await dead_and_pending(rig, clock)
    answer = await rig.signer.command(slash_command_form("/audit", "config", user_id="U0ADMIN"))
    assert answer.status_code == 200
    await until(lambda: rig.fake.ephemerals(), "the configuration")
    await drain()
    [shown] = rig.fake.ephemerals()
    assert shown["user"] == "U0ADMIN" and check_blocks(shown["blocks"]) == []
    text = all_text(shown)
    assert "1 pending" in text and "1 dead" in text
    assert "tracker.create_issue" in text and "group #7" in text and "8 attempt(s)" in text
    assert "auditbot deliver --retry-dead" in text
    # the rig sets JIRA_URL and JIRA_API_TOKEN but not JIRA_EMAIL: not set up, and its route says so
    assert "⬜ *jira* — set `JIRA_URL`, `JIRA_EMAIL` and `JIRA_API_TOKEN`" in text
    assert "routing sends template_error to jira, which is not set up" in text
    assert "✅ *slack* — HTTP" in text
    assert "C0AUDIT" in text and "U0REV1" in text
    assert "`SLACK_BOT_TOKEN`: set" in text
    for secret in (BOT_TOKEN, SIGNING_SECRET, "test-ingest-secret"):
        assert secret not in text and secret[:8] not in text
    assert pings(shown) == []  # the error text's <!channel> is inert


async def test_anyone_else_is_refused(rig: Rig) -> None:
    answer = await rig.signer.command(slash_command_form("/audit", "config", user_id="U0REV1"))
    assert "Only admins" in answer.text
    await drain()
    assert rig.fake.ephemerals() == []
