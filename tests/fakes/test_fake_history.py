"""conversations.history in the fake reads like Slack's; lost answers and clock-following ts."""

from __future__ import annotations

import datetime as dt

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.clock import FrozenClock
from tests.fakes.slack_api import FakeSlack

CHANNEL = "C0AUDIT"
MARK = {"event_type": "auditbot_item", "event_payload": {"item_id": 7}}


@pytest.fixture
def client(fake_slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake_slack.token, base_url=fake_slack.url)


async def post(client: AsyncWebClient, text: str, **extra: object) -> str:
    return str((await client.chat_postMessage(channel=CHANNEL, text=text, **extra))["ts"])


async def test_history_is_top_level_newest_first_with_metadata_only_when_asked(
    client: AsyncWebClient,
) -> None:
    first = await post(client, "one", metadata=MARK)
    await post(client, "in thread", thread_ts=first)
    await post(client, "two")

    plain = await client.conversations_history(channel=CHANNEL)
    assert [m["text"] for m in plain["messages"]] == ["two", "one"]
    assert plain["has_more"] is False and plain["response_metadata"]["next_cursor"] == ""
    assert all("metadata" not in m for m in plain["messages"])
    assert plain["messages"][1]["reply_count"] == 1  # a parent shows its thread, not the replies

    full = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    assert full["messages"][1]["metadata"] == MARK
    replies = await client.conversations_replies(channel=CHANNEL, ts=first)
    assert "metadata" not in replies["messages"][0]
    replies = await client.conversations_replies(channel=CHANNEL, ts=first, include_all_metadata=True)
    assert replies["messages"][0]["metadata"] == MARK


async def test_oldest_and_latest_are_exclusive_unless_inclusive(client: AsyncWebClient) -> None:
    a, _, c = [await post(client, text) for text in "abc"]

    def texts(answer: object) -> list[str]:
        return [m["text"] for m in answer["messages"]]  # type: ignore[index]

    assert texts(await client.conversations_history(channel=CHANNEL, oldest=a)) == ["c", "b"]
    assert texts(await client.conversations_history(channel=CHANNEL, oldest=a, latest=c)) == ["b"]
    both = await client.conversations_history(channel=CHANNEL, oldest=a, latest=c, inclusive=True)
    assert texts(both) == ["c", "b", "a"]
    assert texts(await client.conversations_history(channel=CHANNEL, oldest=c)) == []


async def test_pages_follow_the_cursor_and_the_limit_is_capped(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    posted = [await post(client, f"m{n}") for n in range(7)]
    fake_slack.limit_history(3)
    seen, cursor, pages = [], None, 0
    while True:
        answer = await client.conversations_history(channel=CHANNEL, limit=100, cursor=cursor)
        pages += 1
        assert len(answer["messages"]) <= 3
        seen += [m["ts"] for m in answer["messages"]]
        cursor = answer["response_metadata"]["next_cursor"]
        assert answer["has_more"] is bool(cursor)
        if not cursor:
            break
    assert pages == 3 and seen == posted[::-1]
    cursors = [c.args.get("cursor") for c in fake_slack.calls("conversations.history")]
    assert cursors[0] is None and all(cursors[1:])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"cursor": "not-a-cursor!"}, "invalid_cursor"),
        ({"cursor": "bmV4dF90czp4"}, "invalid_cursor"),  # base64 of "next_ts:x"
        ({"oldest": "yesterday"}, "invalid_ts_oldest"),
        ({"latest": "nan"}, "invalid_ts_latest"),
        ({"channel": "#audit"}, "channel_not_found"),
    ],
)
async def test_bad_arguments_get_slacks_errors(client: AsyncWebClient, args: dict, error: str) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.conversations_history(**{"channel": CHANNEL, **args})
    assert caught.value.response["error"] == error


async def test_metadata_without_event_type_and_payload_is_refused(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError, match="invalid_metadata_format"):
        await post(client, "x", metadata={"event_payload": {"item_id": 1}})
    with pytest.raises(SlackApiError, match="invalid_metadata_format"):
        await post(client, "x", metadata={"event_type": "auditbot_item", "event_payload": 7})


async def test_a_lost_answer_still_posts_the_message(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    fake_slack.lose_answer("chat.postMessage")
    with pytest.raises(SlackApiError) as caught:
        await post(client, "sent anyway", metadata=MARK)
    assert caught.value.response.status_code == 500
    [message] = fake_slack.messages(CHANNEL)
    assert message["text"] == "sent anyway" and message["metadata"] == MARK
    assert not fake_slack.last("chat.postMessage").ok
    await post(client, "next")  # only one answer was lost
    assert len(fake_slack.messages(CHANNEL)) == 2


async def test_ts_can_follow_a_clock_and_stay_unique(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    clock = FrozenClock(dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC))
    fake_slack.use_clock(clock.now)
    first, second = await post(client, "a"), await post(client, "b")
    assert first == "1795766400.000000" and second == "1795766400.000001"
    clock.advance(seconds=2)
    assert await post(client, "c") == "1795766402.000000"
