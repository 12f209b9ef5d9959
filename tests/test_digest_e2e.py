"""End to end: reviewers work through signed Slack requests into the real app; the digest credits them.

Fake Slack on loopback, a real database, no mocks of our own code: verdicts come from button
clicks and the defect modal, the fix from the card's Fixed button, the digest from the same
services the scheduler uses, and `auditbot digest --dry-run` from the command function.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.app import build_app, services_of
from bot.cli.digest import command_digest
from bot.cli.env import CliEnv
from bot.core.models import DefectGroup, Finding, FrameCell, Reply, SampleBatch, SampleItem
from bot.core.services import build_client
from bot.core.settings import Settings
from bot.digest.post import post_weekly_digest
from bot.views import ids
from bot.web.app import build_web
from tests.bot.digest_data import seed_known_week
from tests.bot.seed_reviews import seed_items
from tests.fakes.blockkit import all_text, check_blocks
from tests.fakes.signing import SlackSigner, block_actions_payload, view_submission_payload
from tests.fakes.slack_api import FakeSlack
from tests.waiting import drain, until

WEEK = "2026-W48"  # the conftest clock's week: items posted Thu 26 Nov, reviewed Fri 27 Nov


@pytest.fixture
async def app_rig(db, settings: Settings, config, clock, fake_slack: FakeSlack) -> AsyncIterator[tuple]:  # type: ignore[no-untyped-def,type-arg]
    settings = settings.model_copy(update={"slack_api_url": fake_slack.url})
    app = build_app(settings, config, db, clock=clock)
    transport = httpx.ASGITransport(app=build_web(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        yield app, SlackSigner(http)
        await drain()


def defect_form(note: str) -> dict:  # type: ignore[type-arg]
    def select(value: str) -> dict:  # type: ignore[type-arg]
        return {"type": "static_select", "selected_option": {"value": value}}

    return {
        ids.CATEGORY_BLOCK: {ids.CATEGORY_INPUT: select("template_error")},
        ids.SEVERITY_BLOCK: {ids.SEVERITY_INPUT: select("critical")},
        ids.WRONG_BLOCK: {ids.WRONG_INPUT: {"type": "plain_text_input", "value": note}},
        ids.EXPECTED_BLOCK: {ids.EXPECTED_INPUT: {"type": "plain_text_input", "value": None}},
        ids.HELPDESK_NOTE_BLOCK: {ids.HELPDESK_NOTE_INPUT: {"type": "checkboxes", "selected_options": []}},
    }


async def test_reviews_in_slack_end_up_credited_in_the_posted_digest(app_rig, db, clock, fake_slack) -> None:  # type: ignore[no-untyped-def]
    app, signer = app_rig
    client = build_client(
        Settings(_env_file=None, slack_bot_token=fake_slack.token, slack_api_url=fake_slack.url)
    )
    stamps = [(await client.chat_postMessage(channel="C0AUDIT", text=f"item {n}"))["ts"] for n in range(3)]
    items = await seed_items(db, 3, message_ts=stamps, findings={0: "placeholder_leak"})
    async with db.transaction() as session:  # the day's population the sample was drawn from
        await session.execute(sa.update(SampleBatch).values(population=300, unflagged_population=300))
        await session.execute(sa.update(Reply).values(intent="shipping"))
        # as ingest keeps it: a reply with a finding is flagged (the census counts findings through it)
        await session.execute(
            sa.update(Reply).where(Reply.id.in_(sa.select(Finding.reply_id))).values(flagged=True)
        )
        await session.execute(
            sa.update(Reply)
            .where(Reply.id == SampleItem.reply_id, SampleItem.id == items[0])
            .values(intent="billing")
        )
        await session.execute(sa.update(FrameCell).values(population=300))

    submission = view_submission_payload(
        ids.DEFECT_MODAL, json.dumps({"item_id": items[0]}), defect_form("Leaks {{first_name}} <!channel>"),
        user_id="U0REV1",
    )  # fmt: skip
    assert (await signer.interaction(submission)).status_code == 200
    for item, ts, user in ((items[1], stamps[1], "U0REV2"), (items[2], stamps[2], "U0REV1")):
        await signer.interaction(
            block_actions_payload(ids.VERDICT_CORRECT, str(item), user_id=user, message_ts=ts)
        )
    await until(lambda: len(fake_slack.calls("chat.update")) >= 3, "three verdicts shown")
    await drain()
    async with db.session() as session:
        group_id, card = (await session.execute(sa.select(DefectGroup.id, DefectGroup.thread_ts))).one()
    clock.advance(hours=2)
    fixed = block_actions_payload(
        ids.GROUP_FIXED, str(group_id), user_id="U0ADMIN", channel_id="C0DEFECTS", message_ts=card
    )
    await signer.interaction(fixed)
    await drain()
    async with db.session() as session:
        assert (await session.get(DefectGroup, group_id)).status == "fixed"  # type: ignore[union-attr]

    before = len(fake_slack.calls("chat.postMessage"))
    services = services_of(app)
    assert await post_weekly_digest(services, WEEK) is not None
    assert await post_weekly_digest(services, WEEK) is None  # once per (channel, week)
    (digest,) = [c for c in fake_slack.calls("chat.postMessage")[before:] if c.args["channel"] == "C0DIGEST"]
    assert check_blocks(digest.args["blocks"]) == []
    text = all_text(digest.args["blocks"])
    assert "<@U0REV1> — *2 reviews* · 1 defect caught · 1 high/critical · 1 catch fixed this week" in text
    assert "<@U0REV2> — *1 review* · 0 defects caught" in text
    assert "*✅ Fixed this week* (1)" in text and "fixed in 2 h" in text
    assert "Estimated defect rate of all AI replies: 33.3%" in text and "≈ 100 of 300 replies" in text
    assert "<!channel>" not in text and "Catch of the week:* <@U0REV1> caught a *critical*" in text
    # the census of every reply beside the estimate, and where it fails (one defect of three items)
    assert "*Checks on every reply (census)* — 1 reply of 3 flagged (33.3%)" in text
    assert "• Placeholder leak: *1* (33.3%) ↑ · last 4 weeks: 0 → 0 → 0 → 1" in text
    assert "*Where the AI fails most* — segments by estimated defect rate" in text
    assert "• Intent *billing*: 100.0% (95% CI" in text and "_small n: 1 reviewed item_" in text
    assert "Template *refund" not in text  # every reviewed item has that template: the week's rate
    assert "*Where it breaks* — 1 defect filed" in text and "• Template error: *1* (1 critical)" in text
    (upload,) = fake_slack.calls("files.completeUploadExternal")
    assert upload.args["channel_id"] == "C0DIGEST"
    assert fake_slack.files()[0]["content"].startswith(b"\x89PNG")


async def test_dry_run_prints_blocks_and_writes_the_chart_without_a_token(
    db, database_url, config, clock, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    await seed_known_week(db)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    settings = Settings(_env_file=None, database_url=database_url)
    env = CliEnv(settings, clock=clock, _config=config)
    try:
        code = await command_digest(argparse.Namespace(week=None, dry_run=True), env)
    finally:
        await env.close()
    assert code == 0
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["channel"] == "C0DIGEST" and check_blocks(payload["blocks"]) == []
    assert "week 2026-W47" in all_text(payload["blocks"]) and "<@U0REV3>" in all_text(payload["blocks"])
    assert "app.slack.com/block-kit-builder" in err
    chart = Path(err.split("chart: ")[1].strip())
    try:
        assert chart.read_bytes().startswith(b"\x89PNG")
    finally:
        chart.unlink()
