"""The Slack fake answers like Slack, records what it got, and injects failures on demand."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock
from slack_sdk.web.async_client import AsyncWebClient

from tests.conftest import SPECS
from tests.fakes.blockkit import all_text, pings
from tests.fakes.slack_api import FakeSlack
from tests.fakes.workspace import REQUIRED

CHANNEL = "C0AUDIT"


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(title: str = "Defect", **extra: object) -> dict:
    title_object = {"type": "plain_text", "text": title}
    return {"type": "modal", "title": title_object, "blocks": [section("x")], **extra}


@pytest.fixture
def client(fake_slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake_slack.token, base_url=fake_slack.url)


async def test_post_then_update_edits_the_stored_message_and_records_both_calls(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel=CHANNEL, text="one", blocks=[section("*one*")])
    second = await client.chat_postMessage(channel=CHANNEL, text="two")
    assert first["ok"] and first["channel"] == CHANNEL and first["message"]["text"] == "one"
    assert first["ts"] < second["ts"]
    assert first["ts"].startswith("17") and len(first["ts"].split(".")[1]) == 6

    updated = await client.chat_update(channel=CHANNEL, ts=first["ts"], text="done", blocks=[section("done")])

    assert updated["ts"] == first["ts"]
    stored = fake_slack.messages(CHANNEL)
    assert [m["ts"] for m in stored] == [first["ts"], second["ts"]]
    assert stored[0]["blocks"] == [section("done")] and "edited" in stored[0]
    call = fake_slack.last("chat.update")
    assert call.args["blocks"] == [section("done")]  # decoded, not a JSON string
    assert [c.method for c in fake_slack.calls()] == ["chat.postMessage"] * 2 + ["chat.update"]
    assert fake_slack.token not in json.dumps([c.headers for c in fake_slack.calls()])


async def test_update_of_an_unknown_ts_is_message_not_found(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.chat_update(channel=CHANNEL, ts="1700000000.999999", text="x")
    assert caught.value.response["error"] == "message_not_found"


@pytest.mark.parametrize(("token", "error"), [("xoxb-wrong", "invalid_auth"), ("", "not_authed")])
async def test_a_wrong_or_missing_token_is_refused(fake_slack: FakeSlack, token: str, error: str) -> None:
    client = AsyncWebClient(token=token or None, base_url=fake_slack.url)
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response["error"] == error
    assert fake_slack.messages(CHANNEL) == []


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_unknown_channels_and_empty_messages_are_refused(client: AsyncWebClient) -> None:
    for kwargs, error in [
        ({"channel": "#general", "text": "x"}, "channel_not_found"),
        ({"channel": CHANNEL, "text": ""}, "no_text"),
    ]:
        with pytest.raises(SlackApiError) as caught:
            await client.chat_postMessage(**kwargs)
        assert caught.value.response["error"] == error


async def test_only_configured_channels_exist_once_one_is_added(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    fake_slack.add_channel(CHANNEL)
    await client.chat_postMessage(channel=CHANNEL, text="ok")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await client.chat_postMessage(channel="C0OTHER", text="x")


async def test_thread_replies_are_kept_apart_and_returned_by_conversations_replies(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="defect")
    await client.chat_postMessage(channel=CHANNEL, text="first", thread_ts=parent["ts"])
    await client.chat_postMessage(channel=CHANNEL, text="second", thread_ts=parent["ts"])

    assert [m["text"] for m in fake_slack.messages(CHANNEL)] == ["defect"]
    assert [m["text"] for m in fake_slack.thread(CHANNEL, parent["ts"])] == ["first", "second"]
    replies = await client.conversations_replies(channel=CHANNEL, ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["defect", "first", "second"]
    assert replies["messages"][0]["reply_count"] == 2
    with pytest.raises(SlackApiError, match="thread_not_found"):
        await client.conversations_replies(channel=CHANNEL, ts="1.000001")


async def test_ephemeral_messages_are_stored_apart(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    answer = await client.chat_postEphemeral(channel=CHANNEL, user="U0REV1", text="only you")
    assert answer["message_ts"]
    assert fake_slack.messages(CHANNEL) == []
    assert [(m["user"], m["text"]) for m in fake_slack.ephemerals(CHANNEL)] == [("U0REV1", "only you")]


async def test_views_open_update_publish(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    opened = await client.views_open(
        trigger_id="1.2.t", view=modal(callback_id="defect", private_metadata="42")
    )
    view_id = opened["view"]["id"]
    assert opened["view"]["private_metadata"] == "42" and opened["view"]["state"] == {"values": {}}

    with pytest.raises(SlackApiError, match="exchanged_trigger_id"):
        await client.views_open(trigger_id="1.2.t", view=modal())
    with pytest.raises(SlackApiError, match="hash_conflict"):
        await client.views_update(view_id=view_id, hash="stale", view=modal("Other"))
    await client.views_update(view_id=view_id, hash=opened["view"]["hash"], view=modal("Done"))
    with pytest.raises(SlackApiError, match="not_found"):
        await client.views_update(view_id="V0NOPE", view=modal())
    await client.views_publish(user_id="U0REV1", view={"type": "home", "blocks": [section("hi")]})

    assert fake_slack.view(view_id)["title"]["text"] == "Done"
    assert fake_slack.home("U0REV1")["blocks"] == [section("hi")]
    assert fake_slack.home("U0REV2") is None
    assert fake_slack.calls("views.open")[0].args["view"]["callback_id"] == "defect"


async def test_users_and_usergroups_come_from_configuration(client: AsyncWebClient) -> None:
    fake = FakeSlack(
        users=[{"id": "U0REV1", "name": "ann", "real_name": "Ann Lee", "tz": "Europe/Berlin"}],
        usergroups={"S0REVIEWERS": ["U0REV1", "U0REV2"]},
    )
    with fake:
        client = AsyncWebClient(token=fake.token, base_url=fake.url)
        user = (await client.users_info(user="U0REV1"))["user"]
        group = await client.usergroups_users_list(usergroup="S0REVIEWERS")
        auth = await client.auth_test()
        with pytest.raises(SlackApiError, match="user_not_found"):
            await client.users_info(user="U0NOBODY")
        with pytest.raises(SlackApiError, match="no_such_subteam"):
            await client.usergroups_users_list(usergroup="S0NONE")
    assert (user["name"], user["real_name"], user["tz"]) == ("ann", "Ann Lee", "Europe/Berlin")
    assert user["tz_offset"] in (3600, 7200)
    assert group["users"] == ["U0REV1", "U0REV2"]
    assert (auth["team_id"], auth["user_id"]) == (fake.team_id, fake.bot_user_id)


async def test_rate_limit_answers_429_with_retry_after_then_recovers(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.response["error"] == "ratelimited"

    assert (await client.chat_postMessage(channel=CHANNEL, text="x"))["ok"]
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 200]


async def test_sdk_retry_handler_waits_retry_after_and_retries(
    fake_slack: FakeSlack, client: AsyncWebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def record(seconds: float, *args: object) -> None:
        waits.append(seconds)
        await real_sleep(0)

    # The SDK handler calls asyncio.sleep(Retry-After + jitter); record instead of waiting.
    monkeypatch.setattr(asyncio, "sleep", record)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    fake_slack.rate_limit("chat.postMessage", retry_after=3)

    assert (await client.chat_postMessage(channel=CHANNEL, text="x"))["ok"]
    assert any(3 <= w < 4 for w in waits)
    assert len(fake_slack.messages(CHANNEL)) == 1


async def test_injected_errors_and_5xx(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    fake_slack.fail("views.open", "expired_trigger_id", times=2)
    fake_slack.server_error("*", status=503)
    with pytest.raises(SlackApiError) as caught:
        await client.views_open(trigger_id="9.9.9", view=modal())
    assert caught.value.response["error"] == "expired_trigger_id"  # method faults come first
    with pytest.raises(SlackApiError) as caught:
        await client.auth_test()
    assert caught.value.response.status_code == 503
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        await client.views_open(trigger_id="9.9.9", view=modal())
    assert (await client.views_open(trigger_id="9.9.9", view=modal()))["ok"]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([section("x")] * 51, "/blocks"),
        ([section("x" * 3001)], "/blocks/0/text/text"),
        ([{"type": "carousel"}], "/blocks/0/type"),
    ],
)
async def test_messages_breaking_block_limits_are_invalid_blocks(
    fake_slack: FakeSlack, client: AsyncWebClient, blocks: list, pointer: str
) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks)
    assert caught.value.response["error"] == "invalid_blocks"
    messages = caught.value.response["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}]" in m for m in messages)
    assert fake_slack.messages(CHANNEL) == []


async def test_blocks_at_the_limits_are_accepted(client: AsyncWebClient) -> None:
    answer = await client.chat_postMessage(channel=CHANNEL, text="x", blocks=[section("y" * 3000)] * 50)
    assert answer["ok"]


async def test_a_modal_title_over_24_chars_is_refused(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    # Slack answers views.* with invalid_arguments (views.open lists no invalid_blocks error).
    with pytest.raises(SlackApiError) as caught:
        await client.views_open(trigger_id="1.1.1", view=modal("t" * 25))
    assert caught.value.response["error"] == "invalid_arguments"
    assert "/view/title/text" in caught.value.response["response_metadata"]["messages"][0]
    assert fake_slack.views() == []


async def test_sdk_models_survive_the_round_trip(client: AsyncWebClient) -> None:
    blocks = [
        SectionBlock(text="*Reply* 1", block_id="reply"),
        ActionsBlock(elements=[ButtonElement(text="Correct", action_id="ok", value="1")]),
    ]
    answer = await client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks)
    assert answer["message"]["blocks"][0]["block_id"] == "reply"


async def test_files_upload_v2_stores_the_bytes_and_shares_into_the_channel(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    answer = await client.files_upload_v2(
        channel=CHANNEL, content=b"\x89PNG-bytes", filename="x.png", initial_comment="chart"
    )
    (stored,) = fake_slack.files()
    assert stored["content"] == b"\x89PNG-bytes" and stored["name"] == "x.png"
    assert answer["file"]["id"] == stored["id"] and answer["file"]["mimetype"] == "image/png"
    (message,) = fake_slack.messages(CHANNEL)
    assert message["text"] == "chart" and message["files"][0]["id"] == stored["id"]
    assert fake_slack.last("files.getUploadURLExternal").args["length"] == "10"


async def test_complete_upload_without_uploaded_bytes_is_file_not_found(
    client: AsyncWebClient,
) -> None:
    announced = await client.files_getUploadURLExternal(filename="x.png", length=3)
    with pytest.raises(SlackApiError, match="file_not_found"):
        await client.files_completeUploadExternal(files=[{"id": announced["file_id"]}], channel_id=CHANNEL)


async def test_reset_forgets_calls_messages_and_faults(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="x")
    fake_slack.fail("auth.test", "account_inactive")
    fake_slack.reset()
    assert fake_slack.calls() == [] and fake_slack.messages(CHANNEL) == []
    assert (await client.auth_test())["ok"]
    with pytest.raises(LookupError):
        fake_slack.last("chat.postMessage")


def test_sync_callers_can_use_the_fake_too(fake_slack: FakeSlack) -> None:
    answer = httpx.post(
        fake_slack.url + "chat.postMessage",
        data={"channel": CHANNEL, "text": "hi", "blocks": json.dumps([section("<!channel>")])},
        headers={"Authorization": f"Bearer {fake_slack.token}"},
    ).json()
    assert answer["ok"]
    (message,) = fake_slack.messages(CHANNEL)
    assert pings(message) == ["<!channel>"]
    assert "hi" in all_text(message)


# Methods the shared method docs do not cover: required arguments as docs.slack.dev lists them.
REQUIRED_ELSEWHERE = {"conversations.history": {"channel"}}


def test_required_arguments_match_the_method_docs() -> None:
    for method, required in REQUIRED.items():
        doc_path = SPECS / "slack" / "method-docs" / f"{method}.json"
        if not doc_path.exists():
            assert set(required) == REQUIRED_ELSEWHERE[method], method
            continue
        doc = json.loads(doc_path.read_text())
        documented = {name for name, arg in doc["args"].items() if arg.get("required")}
        assert set(required) == documented, method
