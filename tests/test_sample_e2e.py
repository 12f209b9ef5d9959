"""End to end: the dev data imported, the daily sample posted to the fake Slack exactly once."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import select

from bot.app import build_app, services_of
from bot.cli.env import CliEnv
from bot.cli.ingest import command_import
from bot.cli.main import build_parser
from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import Reply, SampleBatch, SampleItem
from bot.core.services import Services, build_client
from bot.core.settings import Settings
from bot.sample.items import Slot, slot_views
from bot.sample.posting import ITEM_EVENT, LEASE_TTL, run_daily_sample
from bot.scheduler import start_scheduler
from bot.views.sample import build_sample_item, item_fallback
from bot.web.app import build_web
from tests.bot.sample.test_posting import Killed, Sleeps
from tests.conftest import DEV_DATA
from tests.fakes.blockkit import all_text, check_blocks, pings
from tests.fakes.signing import SlackSigner, slash_command_form
from tests.fakes.slack_api import FakeSlack
from tests.waiting import until

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_0931 = dt.datetime(2026, 11, 23, 9, 31, tzinfo=BERLIN).astimezone(dt.UTC)
FRIDAY_0931 = dt.datetime(2026, 11, 20, 9, 31, tzinfo=BERLIN).astimezone(dt.UTC)
PLANTED = json.loads((DEV_DATA / "planted.json").read_text())
HEADER_PINGS = {"<@U0REV1>", "<@U0REV2>"}  # the header mentions the reviewers, nothing else does


@pytest.fixture
async def dev_db(db: Database, settings: Settings, tmp_path: Path) -> Database:
    """The database with the dev set imported through `auditbot import` (bad lines rejected)."""
    data = tmp_path / "replies.jsonl"
    shutil.copy(DEV_DATA / "replies.jsonl", data)
    env = CliEnv(settings, clock=FrozenClock(MONDAY_0931))
    try:
        assert (
            await command_import(build_parser().parse_args(["import", str(data), "--no-progress"]), env) == 0
        )
    finally:
        await env.close()
    return db


@pytest.fixture
def slack_settings(settings: Settings, fake_slack: FakeSlack) -> Settings:
    return settings.model_copy(update={"slack_api_url": fake_slack.url})


def make_services(settings: Settings, config: AuditConfig, db: Database, at: dt.datetime) -> Services:
    services = Services(settings, config, db, FrozenClock(at), build_client(settings))
    services.extras["sleep"] = Sleeps()  # pacing is asserted in tests/bot/test_posting.py
    return services


def assert_safe(messages: list[dict[str, Any]]) -> None:
    """Block Kit limits kept, no planted PII, no injected control sequence, pings only in the header."""
    for n, message in enumerate(messages):
        assert check_blocks(message["blocks"]) == [], n
        text = all_text(message)
        for planted in PLANTED["pii"]:
            assert planted["value"] not in text, planted
        for planted in PLANTED["injections"]:
            assert planted["value"] not in text, planted
        assert set(pings(message)) == (HEADER_PINGS if n == 0 else set()), n


async def sampled_ids(db: Database) -> set[str]:
    async with db.session() as session:
        rows = await session.execute(
            select(Reply.external_id).join(SampleItem, SampleItem.reply_id == Reply.id)  # type: ignore[arg-type]
        )
        return set(rows.scalars())


@pytest.fixture
async def app_http(
    dev_db: Database, slack_settings: Settings, config: AuditConfig
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    app = build_app(slack_settings, config, dev_db, clock=FrozenClock(MONDAY_0931))
    services_of(app).extras["sleep"] = Sleeps()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://app"
    ) as http:
        yield http, services_of(app)


async def test_admin_posts_mondays_sample_of_the_weekend_from_the_dev_data(
    app_http: tuple[httpx.AsyncClient, Services], fake_slack: FakeSlack, dev_db: Database
) -> None:
    http, _ = app_http
    signer = SlackSigner(http)
    refused = await signer.command(slash_command_form("/audit", "sample", user_id="U0REV1"))
    assert "Only admins" in refused.text
    answer = await signer.command(slash_command_form("/audit", "sample", user_id="U0ADMIN"))
    assert answer.status_code == 200
    await until(lambda: fake_slack.ephemerals("C0AUDIT"), "the admin's confirmation")

    messages = fake_slack.messages("C0AUDIT")
    assert len(messages) == 21  # the header and `size` items
    assert all(call.ok for call in fake_slack.calls("chat.postMessage"))
    async with dev_db.session() as session:
        batch = (await session.execute(select(SampleBatch))).scalar_one()
    # Friday, Saturday and Sunday; and, this being the first sample, every earlier reply
    assert batch.population - batch.late_population > 1000
    assert batch.late_population > 1000
    async with dev_db.session() as session:
        before = select(Reply.id).where(Reply.created_at < batch.window_end)
        everything = len(list((await session.execute(before)).scalars()))
    assert batch.population == everything  # every reply created before Monday is in its frame
    assert messages[0]["text"].startswith(
        f"*Daily audit* — 20 of {batch.population:,} AI replies from Fri 20 – Sun 22 Nov "
        f"(incl. {batch.late_population:,} created earlier, not sampled before) · "
        f"{batch.flagged_drawn} flagged by checks · reviewers: <@U0REV1>, <@U0REV2>"
    )
    assert batch.flagged_drawn == 6
    assert_safe(messages)
    # the seeded draw does include planted PII and injections, so the checks above bite
    sampled = await sampled_ids(dev_db)
    assert sampled & {p["id"] for p in PLANTED["pii"]}
    assert sampled & {p["id"] for p in PLANTED["injections"]}
    [confirmation] = fake_slack.ephemerals("C0AUDIT")
    assert confirmation["user"] == "U0ADMIN" and "20 of" in confirmation["text"]


async def test_every_planted_dev_reply_renders_safely(dev_db: Database) -> None:
    """Not only the drawn ones: every dev reply with planted PII or injections, as an item message."""
    planted: dict[str, list[str]] = {}
    for entry in PLANTED["pii"] + PLANTED["injections"]:
        planted.setdefault(entry["id"], []).append(entry["value"])
    async with dev_db.session() as session:
        query = select(Reply.id, Reply.external_id).where(Reply.external_id.in_(planted))  # type: ignore[attr-defined]
        rows = list((await session.execute(query.order_by(Reply.id))).all())
        views = await slot_views(session, [Slot(rid, n, n) for n, (rid, _) in enumerate(rows, 1)])
    assert len(views) == len(planted)
    checked = 0
    for (_, external_id), view in zip(rows, views, strict=True):
        message = {"text": item_fallback(view), "blocks": [b.to_dict() for b in build_sample_item(view)]}
        assert check_blocks(message["blocks"]) == []
        assert pings(message) == [], external_id
        text = all_text(message)
        for value in planted[external_id]:
            assert value not in text, (external_id, value)
            checked += 1
    assert checked == len(PLANTED["pii"]) + len(PLANTED["injections"])


async def test_two_instances_past_0930_post_exactly_one_sample(
    dev_db: Database, database_url: str, slack_settings: Settings, config: AuditConfig, fake_slack: FakeSlack
) -> None:
    second_db = Database(database_url)
    handles = [
        start_scheduler(make_services(slack_settings, config, dev_db, FRIDAY_0931)),
        start_scheduler(make_services(slack_settings, config, second_db, FRIDAY_0931)),
    ]
    try:
        await until(
            lambda: all(("sample", True) in h.runs or ("sample", False) in h.runs for h in handles), "runs"
        )
    finally:
        for handle in handles:
            await handle.stop()
        await second_db.dispose()
    assert sorted(ran for h in handles for name, ran in h.runs if name == "sample") == [False, True]
    assert len(fake_slack.messages("C0AUDIT")) == 21
    assert len(fake_slack.calls("chat.postMessage")) == 21
    assert "from Thu 19 Nov" in fake_slack.messages("C0AUDIT")[0]["text"]


async def test_killed_after_half_the_items_the_restart_posts_the_other_half(
    dev_db: Database, database_url: str, slack_settings: Settings, config: AuditConfig, fake_slack: FakeSlack
) -> None:
    first = make_services(slack_settings, config, dev_db, MONDAY_0931)
    first.extras["sleep"] = Sleeps(kill_after=10)
    with pytest.raises(Killed):
        await run_daily_sample(first)
    assert len(fake_slack.messages("C0AUDIT")) == 11
    restarted_db = Database(database_url)
    try:
        restarted = make_services(slack_settings, config, restarted_db, MONDAY_0931 + LEASE_TTL * 2)
        await run_daily_sample(restarted)
    finally:
        await restarted_db.dispose()
    item_ids = [
        c.args["metadata"]["event_payload"]["item_id"]
        for c in fake_slack.calls("chat.postMessage")
        if c.args["metadata"]["event_type"] == ITEM_EVENT
    ]
    assert len(item_ids) == 20 and len(set(item_ids)) == 20
    messages = fake_slack.messages("C0AUDIT")
    assert len(messages) == 21
    assert_safe(messages)


async def test_slack_429_with_retry_after_is_waited_out(
    dev_db: Database, slack_settings: Settings, config: AuditConfig, fake_slack: FakeSlack
) -> None:
    """The client from build_client waits the Retry-After (a real second, once) and the post completes."""
    config.sampling.size = 2
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    started = time.monotonic()
    await run_daily_sample(make_services(slack_settings, config, dev_db, MONDAY_0931))
    assert time.monotonic() - started >= 1.0
    statuses = [c.status for c in fake_slack.calls("chat.postMessage")]
    assert statuses == [429, 200, 200, 200]
    assert len(fake_slack.messages("C0AUDIT")) == 3
