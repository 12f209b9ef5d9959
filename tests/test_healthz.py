"""/healthz answers 503 when the database cannot be reached."""

from __future__ import annotations

import httpx

from bot.app import build_app
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.settings import Settings
from bot.web.app import build_web


async def test_healthz_503_when_database_unreachable() -> None:
    settings = Settings(_env_file=None, slack_bot_token="xoxb-x", slack_signing_secret="s")
    db = Database("postgresql://postgres@127.0.0.1:1/none")
    web = build_web(build_app(settings, AuditConfig(), db))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://app") as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    await db.dispose()
