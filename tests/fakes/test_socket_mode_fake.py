"""The fake's Socket Mode side behaves like Slack's: the app token opens a WebSocket that says
hello, envelopes go out and come back acknowledged, and it hangs up the ways Slack does."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.fakes.slack_api import FakeSlack


async def open_url(fake: FakeSlack, token: str) -> dict:  # type: ignore[type-arg]
    async with aiohttp.ClientSession() as http:
        answer = await http.post(
            fake.url + "apps.connections.open", headers={"Authorization": f"Bearer {token}"}
        )
        return await answer.json()  # type: ignore[no-any-return]


async def test_only_the_app_token_opens_a_connection(fake_slack: FakeSlack) -> None:
    assert (await open_url(fake_slack, fake_slack.token)) == {"ok": False, "error": "not_allowed_token_type"}
    assert (await open_url(fake_slack, "xapp-wrong")) == {"ok": False, "error": "invalid_auth"}
    opened = await open_url(fake_slack, fake_slack.app_token)
    assert opened["ok"] and opened["url"].startswith("ws://127.0.0.1:")


async def test_hello_then_envelopes_acknowledged_then_hang_ups(fake_slack: FakeSlack) -> None:
    url = (await open_url(fake_slack, fake_slack.app_token))["url"]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        hello = json.loads((await ws.receive()).data)
        assert hello["type"] == "hello" and hello["connection_info"]["app_id"]

        async def app() -> None:  # acknowledges what it receives, with a payload
            envelope = json.loads((await ws.receive()).data)
            await ws.send_str(json.dumps({"envelope_id": envelope["envelope_id"], "payload": {"text": "hi"}}))

        ack, _ = await asyncio.gather(
            fake_slack.socket.deliver("slash_commands", {"command": "/audit"}), app()
        )
        assert ack.payload == {"text": "hi"} and ack.seconds < 3

        await fake_slack.socket.drop("disconnect")
        assert json.loads((await ws.receive()).data)["type"] == "disconnect"
        await fake_slack.socket.drop("close")
        assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert fake_slack.socket.opened == 1 and fake_slack.socket.live() == 0


async def test_a_hung_up_call_was_carried_out_but_never_answered(fake_slack: FakeSlack) -> None:
    fake_slack.hang_up("chat.postMessage")
    async with aiohttp.ClientSession() as http:
        try:
            await http.post(
                fake_slack.url + "chat.postMessage",
                headers={"Authorization": f"Bearer {fake_slack.token}"},
                json={"channel": "C0AUDIT", "text": "hello"},
            )
            answered = True
        except aiohttp.ClientError:
            answered = False
    assert not answered
    assert [m["text"] for m in fake_slack.messages("C0AUDIT")] == ["hello"]
