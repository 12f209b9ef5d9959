"""The signer produces requests Slack's own SignatureVerifier accepts, and bad ones on demand."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.core.clock import FrozenClock
from tests.fakes.signing import (
    TEST_SIGNING_SECRET,
    SlackSigner,
    block_actions_payload,
    event_callback,
    sign,
    slash_command_form,
    url_verification,
    view_submission_payload,
)

VERIFIER = SignatureVerifier(TEST_SIGNING_SECRET)


async def echo(request: Request) -> JSONResponse:
    """Answers what Slack's verifier thinks of the request, plus the decoded body."""
    body = await request.body()
    valid = VERIFIER.is_valid_request(body, dict(request.headers))
    return JSONResponse(
        {
            "valid": valid,
            "body": body.decode(),
            "content_type": request.headers["content-type"],
            "retry": request.headers.get("x-slack-retry-num"),
        }
    )


def signer(**options: object) -> SlackSigner:
    app = Starlette(routes=[Route("/slack/events", echo, methods=["POST"])])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")
    return SlackSigner(client, **options)  # type: ignore[arg-type]


def test_sign_matches_slack_sdk() -> None:
    body = b'{"type":"event_callback"}'
    headers = sign(body, TEST_SIGNING_SECRET, 1_700_000_000)
    expected = VERIFIER.generate_signature(timestamp="1700000000", body=body)
    assert headers["X-Slack-Signature"] == expected
    assert headers["X-Slack-Request-Timestamp"] == "1700000000"


async def test_events_interactions_and_commands_are_accepted_by_the_verifier() -> None:
    slack = signer()
    event = await slack.event(event_callback({"type": "app_home_opened", "user": "U0REV1"}))
    click = await slack.interaction(block_actions_payload("verdict_correct", "17"))
    command = await slack.command(slash_command_form("/audit", "stats"))

    assert [r.json()["valid"] for r in (event, click, command)] == [True, True, True]
    assert json.loads(event.json()["body"])["event"]["user"] == "U0REV1"
    payload = json.loads(parse_qs(click.json()["body"])["payload"][0])
    assert payload["actions"][0]["action_id"] == "verdict_correct"
    assert parse_qs(command.json()["body"])["command"] == ["/audit"]
    assert command.json()["content_type"] == "application/x-www-form-urlencoded"


async def test_stale_forged_and_missing_signatures_are_rejected_by_the_verifier() -> None:
    slack = signer()
    payload = url_verification("abc")
    stale = await slack.event(payload, timestamp=int(time.time()) - 301)
    forged = await slack.event(payload, signature="v0=" + "0" * 64)
    missing = await slack.event(payload, signature="")
    wrong_secret = await signer(secret="not-the-secret").event(payload)
    assert [r.json()["valid"] for r in (stale, forged, missing, wrong_secret)] == [False] * 4


async def test_the_clock_sets_the_timestamp_and_extra_headers_pass_through() -> None:
    slack = signer(clock=FrozenClock("2023-11-14T22:13:20+00:00"))
    headers = slack.headers(b"{}", "application/json")
    assert headers["X-Slack-Request-Timestamp"] == "1700000000"
    retried = await signer().event(event_callback({"type": "x"}), headers={"X-Slack-Retry-Num": "1"})
    assert retried.json()["retry"] == "1" and retried.json()["valid"]


async def test_a_url_target_sends_over_the_network() -> None:
    seen: list[bool] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(VERIFIER.is_valid_request(await request.read(), dict(request.headers)))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        response = await SlackSigner(str(server.make_url("/"))).event(url_verification())
    assert response.status_code == 200 and seen == [True]


def test_builders_fill_in_the_sample_payloads() -> None:
    click = block_actions_payload(
        "open_defect", "42", user_id="U9", channel_id="C9", message_ts="1.2", trigger_id="t"
    )
    assert (click["user"]["id"], click["channel"]["id"], click["trigger_id"]) == ("U9", "C9", "t")
    assert click["container"]["message_ts"] == click["message"]["ts"] == "1.2"
    assert "enterprise_id" not in click["team"]

    state = {"severity": {"pick": {"type": "static_select", "selected_option": {"value": "high"}}}}
    submit = view_submission_payload("defect_modal", "item:7", state, user_id="U9")
    assert submit["view"]["callback_id"] == "defect_modal"
    assert submit["view"]["private_metadata"] == "item:7"
    assert submit["view"]["state"]["values"] == state

    form = slash_command_form("/audit", "sample", channel_id="C9")
    assert (form["command"], form["text"], form["channel_id"]) == ("/audit", "sample", "C9")
    assert "enterprise_id" not in form

    envelope = event_callback({"type": "app_mention"}, event_id="Ev9", team_id="T9")
    assert (envelope["type"], envelope["event_id"], envelope["team_id"]) == (
        "event_callback",
        "Ev9",
        "T9",
    )
    assert block_actions_payload("a")["trigger_id"] != block_actions_payload("a")["trigger_id"]
