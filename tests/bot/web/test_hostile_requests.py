"""Hostile requests to every HTTP entry point, in-process: statuses, rows stored, nothing logged but a line.

The real process (peak memory, /healthz while a request is worked on) is tests/test_run_http_hostile.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from bot.app import build_app
from bot.core.config import AuditConfig
from bot.core.models import Finding, Reply
from bot.core.settings import Settings
from bot.web.app import build_web
from bot.web.ingest import MAX_ERRORS, MAX_ITEMS
from tests.bot.replies import nested
from tests.bot.web.test_ingest import post, reply, signed, stored
from tests.fakes.signing import sign as slack_sign
from tests.fakes.signing import url_verification

SLACK_SECRET = "test-signing-secret"  # tests/conftest.py


@pytest.fixture
async def web(
    settings: Settings, config: AuditConfig, db, clock, fake_slack
) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(
        update={"jira_webhook_secret": "jira-secret", "slack_api_url": fake_slack.url}
    )
    config = config.model_copy(update={"detectors": config.detectors.model_copy(update={"rules": _rules()})})
    app = build_web(build_app(settings, config, db, clock=clock))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://auditbot.test"
    ) as http:
        yield http


def _rules() -> list:  # type: ignore[type-arg]
    from bot.core.config import RuleConfig

    return [RuleConfig(name="runaway", pattern="(a+)+$")]  # backtracks for ages on Python's `re`


async def test_extreme_dates_and_deep_metadata_cost_only_themselves(web, db, clock) -> None:  # type: ignore[no-untyped-def]
    """Finding 1 on /ingest: a 400 naming each bad item; the good items of the batch are stored."""
    items = [
        reply("W-1"),
        reply("W-2", created_at="9999-12-31T23:59:59Z"),
        reply("W-3", created_at="0001-01-01T00:30:00+01:00"),
        reply("W-4", metadata=nested(300)),
        reply("W-5"),
    ]
    response = await post(web, items, clock)
    assert response.status_code == 400
    body = response.json()
    assert (body["received"], body["imported"], body["rejected"]) == (5, 2, 3)
    assert [(e["index"], e["error"].split(" (")[0]) for e in body["errors"]] == [
        (1, "'created_at' is out of range"),
        (2, "'created_at' is out of range"),
        (3, "'metadata' is nested too deeply"),
    ]
    assert await stored(db) == ["W-1", "W-5"]


async def test_the_error_answer_is_bounded(web, db, clock) -> None:  # type: ignore[no-untyped-def]
    items = [reply(f"W-{i}", created_at="tomorrow" if i % 2 else "2026-11-26T10:00:00Z") for i in range(500)]
    response = await post(web, items, clock)
    body = response.json()
    assert response.status_code == 400
    assert (body["imported"], body["rejected"]) == (250, 250)
    assert len(body["errors"]) == MAX_ERRORS and body["errors_not_listed"] == 250 - MAX_ERRORS
    assert body["errors"][0] == {"index": 1, "error": "bad timestamp in 'created_at'"}
    assert len(response.content) < 10_000


async def test_too_many_records_in_one_request_is_413_and_stores_nothing(web, db, clock) -> None:  # type: ignore[no-untyped-def]
    """Finding 3 (in-process; the memory and /healthz of the real process: test_run_http_hostile)."""
    zeros = b"[" + b",".join([b"0"] * 2_600_000) + b"]"  # 5.2 MB, under the body limit
    response = await web.post("/ingest", content=zeros, headers=signed(zeros, clock))
    assert response.status_code == 413
    assert response.json() == {
        "error": f"2600000 records in one request (at most {MAX_ITEMS}): send them in parts"
    }
    response = await post(web, [reply(f"W-{i}") for i in range(MAX_ITEMS + 1)], clock)
    assert response.status_code == 413
    assert await stored(db) == []


async def test_a_runaway_team_rule_cannot_hold_ingest(web, db, clock) -> None:  # type: ignore[no-untyped-def]
    """Finding 7 on /ingest: on RE2 the rule runs in linear time (Python's `re` takes hours here)."""
    items = [reply("W-1", reply="a" * 40 + "!"), reply("W-2", ticket_id="T-2", reply="a" * 40)]
    response = await asyncio.wait_for(post(web, items, clock), timeout=60)
    assert response.status_code == 202 and response.json()["imported"] == 2
    async with db.session() as session:
        kinds = (await session.execute(sa.select(Reply.external_id, Finding.kind).join(Finding))).all()
    assert kinds == [("W-2", "rule:runaway")]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),  # no signature at all
        ({"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"}, 401),  # stale
        ({"X-Slack-Request-Timestamp": "now", "X-Slack-Signature": "v0=00"}, 401),  # forged
    ],
)
async def test_unsigned_slack_bodies_are_401_and_never_parsed(web, headers, status, caplog) -> None:  # type: ignore[no-untyped-def]
    """Finding 4: a 12-byte body that is not JSON, unsigned, is a 401 (it was a 500 and a traceback)."""
    headers = {k: str(int(time.time())) if v == "now" else v for k, v in headers.items()}
    caplog.set_level(logging.DEBUG)
    response = await web.post("/slack/events", content=b"{not json!!}", headers=headers)
    assert response.status_code == status
    assert "Traceback" not in caplog.text and "not json" not in caplog.text


async def test_a_signed_slack_body_that_is_not_a_payload_is_400(web, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    for body in (b"{not json!!}", b"[1, 2]", b'"text"', b"\xff\xfe"):
        headers = slack_sign(body, SLACK_SECRET, int(time.time()))
        headers["Content-Type"] = "application/json"
        response = await web.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 400, body
        assert response.json() == {"error": "body is not a Slack request payload"}
    assert "Traceback" not in caplog.text and "not json" not in caplog.text
    odd = b'{"type": "block_actions", "user": "U1"}'  # a payload of an unexpected shape: Bolt's to answer
    headers = {**slack_sign(odd, SLACK_SECRET, int(time.time())), "Content-Type": "application/json"}
    assert (await web.post("/slack/events", content=odd, headers=headers)).status_code < 500
    challenge = json.dumps(url_verification("c-1")).encode()
    headers = {**slack_sign(challenge, SLACK_SECRET, int(time.time())), "Content-Type": "application/json"}
    assert "c-1" in (await web.post("/slack/events", content=challenge, headers=headers)).text


async def test_declared_and_streamed_bodies_over_the_limit_are_413(web, clock) -> None:  # type: ignore[no-untyped-def]
    """Findings 4 and 5: refused from the Content-Length, or as soon as a streamed body passes the limit."""
    declared = {"Content-Length": str(60 * 1024 * 1024)}

    async def endless():  # type: ignore[no-untyped-def]
        for _ in range(1000):  # 64 MB if it were all read
            yield b"x" * 65536

    ts = str(int(clock.now().timestamp()))
    for path, sig in (
        ("/slack/events", {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=1"}),
        ("/ingest", {"X-Auditbot-Timestamp": ts, "X-Auditbot-Signature": "sha256=1"}),
        ("/webhooks/jira", {"X-Hub-Signature": "sha256=1"}),
    ):
        request = web.build_request("POST", path, headers={**sig, **declared}, content=b"")
        request.headers["Content-Length"] = declared["Content-Length"]
        assert (await web.send(request)).status_code == 413, path
        assert (await web.post(path, headers=sig, content=endless())).status_code == 413, path
        assert (await web.post(path, content=endless())).status_code == 401, path  # no signature: not read


async def test_a_malformed_signed_webhook_is_400(web, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    for body, reason in (
        (b"nope", "body is not JSON"),
        (b"[1]", "body is not a JSON object"),
        (
            b'{"webhookEvent": "jira:issue_updated", "issue": "SUP-1"}',
            "not a webhook delivery this endpoint understands",
        ),
    ):
        response = await _jira(web, body)
        assert response.status_code == 400 and response.json() == {"error": reason}
    assert "Traceback" not in caplog.text
    assert (await _jira(web, b'{"webhookEvent": "jira:issue_created"}')).json() == {
        "ok": True,
        "ignored": True,
    }


async def _jira(web: httpx.AsyncClient, body: bytes) -> httpx.Response:
    digest = hmac.new(b"jira-secret", body, hashlib.sha256).hexdigest()
    return await web.post("/webhooks/jira", content=body, headers={"X-Hub-Signature": f"sha256={digest}"})
