"""POST /ingest through the real Starlette app: signature, window, size limit, per-item errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from bot.app import build_app
from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import Finding, Reply
from bot.core.settings import Settings
from bot.web.app import build_web
from bot.web.ingest import MAX_BODY, sign

SECRET = "test-ingest-secret"  # tests/conftest.py settings


def reply(rid: str, **kw: object) -> dict:
    return {
        "id": rid,
        "ticket_id": "T-1",
        "created_at": "2026-11-26T10:00:00Z",
        "reply": f"Hi Dana, here is your answer ({rid}).",
        "customer": {"name": "Dana Lee"},
        **kw,
    }


async def client_for(settings: Settings, config: AuditConfig, db: Database, clock: FrozenClock):  # type: ignore[no-untyped-def]
    web = build_web(build_app(settings, config, db, clock=clock))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://auditbot.test")


@pytest.fixture
async def client(
    settings: Settings, config: AuditConfig, db: Database, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(settings, config, db, clock) as http:
        yield http


def signed(body: bytes, clock: FrozenClock, *, secret: str = SECRET, skew: int = 0) -> dict[str, str]:
    ts = int(clock.now().timestamp()) + skew
    return {
        "X-Auditbot-Timestamp": str(ts),
        "X-Auditbot-Signature": sign(body, secret, ts),
        "Content-Type": "application/json",
    }


async def post(client: httpx.AsyncClient, payload: object, clock: FrozenClock, **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    return await client.post("/ingest", content=body, headers=signed(body, clock, **kw))


async def stored(db: Database) -> list[str]:
    async with db.session() as session:
        return sorted((await session.execute(sa.select(Reply.external_id))).scalars())


async def test_one_object_then_the_same_again(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    response = await post(client, reply("W-1"), clock)
    assert response.status_code == 202
    assert response.json() == {"received": 1, "imported": 1, "already_present": 0, "rejected": 0}
    again = await post(client, reply("W-1"), clock)
    assert again.json() == {"received": 1, "imported": 0, "already_present": 1, "rejected": 0}
    async with db.session() as session:
        row = (await session.execute(sa.select(Reply))).scalar_one()
    assert row.source == "webhook"  # records without `source`


async def test_array_runs_the_detectors(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    items = [reply("W-1"), reply("W-2", ticket_id="T-2", reply="Hi {{first_name}}, done.")]
    response = await post(client, items, clock)
    assert response.status_code == 202 and response.json()["imported"] == 2
    async with db.session() as session:
        kinds = (await session.execute(sa.select(Finding.kind))).scalars().all()
    assert kinds == ["placeholder_leak"]


async def test_bad_items_are_listed_and_good_ones_kept(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    items = [reply("W-1"), {"id": "W-2", "reply": "x"}, reply("W-3", created_at="tomorrow"), reply("W-4")]
    response = await post(client, items, clock)
    assert response.status_code == 400
    body = response.json()
    assert (body["received"], body["imported"], body["rejected"]) == (4, 2, 2)
    assert body["errors"] == [
        {"index": 1, "error": "missing field 'ticket_id'"},
        {"index": 2, "error": "bad timestamp in 'created_at'"},
    ]
    assert await stored(db) == ["W-1", "W-4"]


async def test_body_that_is_not_json(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    body = b"{nope"
    response = await client.post("/ingest", content=body, headers=signed(body, clock))
    assert response.status_code == 400 and "bad JSON" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Auditbot-Timestamp": "1"},
        {"X-Auditbot-Signature": "sha256=00"},
    ],
)
async def test_missing_signature_is_401(client, db, clock, headers) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/ingest", content=json.dumps(reply("W-1")), headers=headers)
    assert response.status_code == 401
    assert await stored(db) == []


async def test_wrong_secret_is_401(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    assert (await post(client, reply("W-1"), clock, secret="not-the-secret")).status_code == 401
    assert await stored(db) == []


async def test_tampered_body_is_401(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(reply("W-1")).encode()
    headers = signed(body, clock)
    response = await client.post("/ingest", content=body.replace(b"W-1", b"W-9"), headers=headers)
    assert response.status_code == 401
    assert await stored(db) == []


@pytest.mark.parametrize("skew", [-301, 301])
async def test_stale_or_future_timestamp_is_401(client, db, clock, skew) -> None:  # type: ignore[no-untyped-def]
    assert (await post(client, reply("W-1"), clock, skew=skew)).status_code == 401
    assert await stored(db) == []


async def test_within_the_window_is_accepted(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    assert (await post(client, reply("W-1"), clock, skew=-299)).status_code == 202


async def test_declared_size_over_the_limit_is_413(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps([reply(f"W-{i}", reply="x" * 1000) for i in range(5300)]).encode()
    assert len(body) > MAX_BODY
    response = await client.post("/ingest", content=body, headers=signed(body, clock))
    assert response.status_code == 413
    assert await stored(db) == []


async def test_streamed_size_over_the_limit_is_413(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    chunk = b" " * (1024 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(6):  # no Content-Length: the limit is enforced while reading
            yield chunk

    response = await client.post("/ingest", content=chunks(), headers=signed(b"", clock))
    assert response.status_code == 413


async def test_no_ingest_secret_refuses_everything(settings, config, db, clock) -> None:  # type: ignore[no-untyped-def]
    unsigned = settings.model_copy(update={"ingest_secret": None})
    async with await client_for(unsigned, config, db, clock) as http:
        response = await post(http, reply("W-1"), clock)
    assert response.status_code == 503
    assert await stored(db) == []
