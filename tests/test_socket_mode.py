"""`auditbot run` in Socket Mode, as a real process, against the fake Slack's WebSocket.

The fake sends `hello`, delivers interactive, slash command and Events API envelopes, expects
each ack within 3 s, and drops the connection the ways Slack does; the same envelope delivered
twice has one effect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bot.views import ids
from tests.conftest import fresh_database_url
from tests.fakes.signing import (
    block_actions_payload,
    event_callback,
    slash_command_form,
    view_submission_payload,
)
from tests.fakes.slack_api import FakeSlack
from tests.handlers.rig import defect_state
from tests.processes import (
    Bot,
    bot_env,
    count_rows,
    free_port,
    message_ts,
    posted_items,
    run_cli,
    write_config,
)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="module")
def bot(slack: FakeSlack, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """One bot in Socket Mode for the module (no scheduler: these tests drive it by hand)."""
    cwd = tmp_path_factory.mktemp("run")
    env = bot_env(slack, db_url, SLACK_APP_TOKEN=slack.app_token, PORT=str(free_port()))
    env["AUDITBOT_CONFIG"] = write_config(cwd)
    assert run_cli("db", "upgrade", env=env, cwd=cwd).returncode == 0
    bot = Bot(["run", "--host", "127.0.0.1", "--no-scheduler"], env, cwd)
    try:
        asyncio.run(bot.logged("connected to Slack over Socket Mode"))
        asyncio.run(slack.socket.wait_connected(1))
        yield bot
    finally:
        bot.kill()
    assert slack.token not in bot.log() and slack.app_token not in bot.log(), "a token was logged"


async def test_it_says_what_listens_only_once_it_does(bot: Bot, slack: FakeSlack) -> None:
    listening = next(n for n, line in enumerate(bot.lines) if "listening on" in line)
    connected = next(n for n, line in enumerate(bot.lines) if "Socket Mode" in line)
    assert listening < connected
    assert "/slack/events" not in bot.lines[listening]  # Socket Mode: Slack does not call us
    [opened] = [c for c in slack.calls("apps.connections.open") if c.ok][:1]
    assert opened.headers["Authorization"] == "[redacted]"


async def test_a_click_records_a_verdict(bot: Bot, slack: FakeSlack, db_url: str) -> None:
    [item] = await posted_items(slack, db_url, 1)
    ts = await message_ts(db_url, item)
    click = block_actions_payload(ids.VERDICT_CORRECT, str(item), message_ts=ts)
    ack = await slack.socket.deliver("interactive", click)
    assert ack.seconds < 3
    await bot.until(lambda: _edited(slack, ts), "the item message edited")
    assert await count_rows(db_url, "reviews", f"item_id = {item} AND verdict = 'correct'") == 1


async def test_defect_modal_opens_and_its_submission_files_the_defect(
    bot: Bot, slack: FakeSlack, db_url: str
) -> None:
    [item] = await posted_items(slack, db_url, 1)
    opens = len(slack.calls("views.open"))
    click = block_actions_payload(ids.OPEN_DEFECT_MODAL, str(item), message_ts=await message_ts(db_url, item))
    await slack.socket.deliver("interactive", click)
    await bot.until(lambda: len(slack.calls("views.open")) > opens, "views.open")
    opened = slack.last("views.open")
    assert opened.ok, opened.response
    view = opened.response["view"]
    submission = view_submission_payload(
        ids.DEFECT_MODAL, view["private_metadata"], defect_state("Wrong window")
    )
    ack = await slack.socket.deliver("interactive", submission, accepts_response_payload=True)
    assert not ack.payload  # an empty ack closes the modal
    await bot.until(lambda: _card_posted(slack), "the defect card")
    assert await count_rows(db_url, "defects") >= 1
    assert await count_rows(db_url, "reviews", f"item_id = {item} AND verdict = 'defect'") == 1


async def test_the_slash_command_answers(bot: Bot, slack: FakeSlack) -> None:
    form = slash_command_form("/audit", "help", user_id="U0REV1")
    ack = await slack.socket.deliver("slash_commands", form, accepts_response_payload=True)
    assert ack.payload and "/audit stats" in ack.payload["text"]


async def test_app_home_opens(bot: Bot, slack: FakeSlack) -> None:
    event = event_callback(
        {"type": "app_home_opened", "user": "U0REV2", "tab": "home"}, event_id="Ev0SOCKHOME"
    )
    await slack.socket.deliver("events_api", event)
    await bot.until(lambda: slack.home("U0REV2"), "views.publish")


@pytest.mark.parametrize("how", ["close", "disconnect", "reset"])
async def test_reconnects_after_a_drop_and_goes_on(bot: Bot, slack: FakeSlack, db_url: str, how: str) -> None:
    opened = slack.socket.opened
    await slack.socket.drop(how)
    await slack.socket.wait_connected(opened + 1)
    [item] = await posted_items(slack, db_url, 1)
    ts = await message_ts(db_url, item)
    await slack.socket.deliver(
        "interactive", block_actions_payload(ids.VERDICT_UNSURE, str(item), message_ts=ts)
    )
    await bot.until(lambda: _edited(slack, ts), "the verdict after reconnecting")
    assert await count_rows(db_url, "reviews", f"item_id = {item}") == 1


async def test_the_same_envelope_twice_has_one_effect(bot: Bot, slack: FakeSlack, db_url: str) -> None:
    [item] = await posted_items(slack, db_url, 1)
    ts = await message_ts(db_url, item)
    click = block_actions_payload(ids.VERDICT_UNSURE, str(item), message_ts=ts)  # asks for a second look
    first = await slack.socket.deliver("interactive", click, envelope_id="env-again")
    again = await slack.socket.deliver("interactive", click, envelope_id="env-again")
    assert first.seconds < 3 and again.seconds < 3  # both acknowledged
    await bot.until(lambda: slack.thread("C0AUDIT", ts), "the request for a second look")
    event = event_callback({"type": "app_home_opened", "user": "U0REV1", "tab": "home"}, event_id="Ev0TWICE")
    publishes = len(slack.calls("views.publish"))
    for retry in (0, 1):
        await slack.socket.deliver("events_api", event, envelope_id="env-event-again", retry_attempt=retry)
    await bot.until(lambda: len(slack.calls("views.publish")) > publishes, "views.publish")
    await bot.logged("dropped repeated event Ev0TWICE")
    assert len(slack.calls("views.publish")) == publishes + 1
    assert len(slack.thread("C0AUDIT", ts)) == 1
    assert await count_rows(db_url, "reviews", f"item_id = {item}") == 1
    assert (
        await count_rows(
            db_url, "review_changes", f"review_id IN (SELECT id FROM reviews WHERE item_id = {item})"
        )
        == 1
    )


async def test_every_envelope_was_acknowledged_within_three_seconds(bot: Bot, slack: FakeSlack) -> None:
    assert slack.socket.late == [] and slack.socket.unacked == []


def _edited(slack: FakeSlack, ts: str) -> bool:
    return any(c.ok and c.args.get("ts") == ts for c in slack.calls("chat.update"))


def _card_posted(slack: FakeSlack) -> bool:
    return bool(slack.messages("C0DEFECTS"))
