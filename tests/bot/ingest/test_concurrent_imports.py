"""Imports at the same moment attach every finding to its own reply (SQLite and PostgreSQL).

Issue #20: on SQLite, concurrent imports (two `/ingest` requests, or polling beside a CLI import)
took the new replies' ids from `max(id)` read before the insert, so findings landed on the other
import's replies: 5 false findings and 13 missed in 8 rounds of 8 single-reply posts.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import sqlalchemy as sa

from bot.app import build_app
from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig, DetectorsConfig
from bot.core.db import Database
from bot.core.models import Finding, Reply
from bot.core.records import ReplyRecord
from bot.core.settings import Settings
from bot.ingest.store import Checks, ingest
from bot.web.app import build_web
from bot.web.ingest import sign
from tests.bot.replies import T0

CHECKS = Checks.from_config(DetectorsConfig())
ROUNDS, AT_ONCE = 8, 8


def leaking(n: int) -> bool:
    return n % 3 != 1  # two in three replies leak a placeholder naming their own number


def text_of(n: int) -> str:
    return f"Hi {{{{name_{n}}}}},\n\nYour refund is on its way." if leaking(n) else f"Hi Dana, reply {n}."


async def findings_by_reply(db: Database) -> tuple[dict[str, list[str]], int]:
    """Each reply's placeholder findings (by the reply's own id), and how many replies there are."""
    async with db.session() as session:
        rows = (
            await session.execute(
                sa.select(Reply.external_id, Finding.evidence)
                .join(Finding, Finding.reply_id == Reply.id)
                .where(Finding.kind == "placeholder_leak")
            )
        ).all()
        replies = await session.scalar(sa.select(sa.func.count()).select_from(Reply))
    found: dict[str, list[str]] = {}
    for external_id, evidence in rows:
        found.setdefault(external_id, []).append(json.dumps(evidence))
    return found, int(replies or 0)


def assert_each_finding_on_its_own_reply(found: dict[str, list[str]], replies: int) -> None:
    assert replies == ROUNDS * AT_ONCE
    expected = {f"R-{n}" for n in range(ROUNDS * AT_ONCE) if leaking(n)}
    assert set(found) == expected  # none missed, none on a reply without a placeholder
    for external_id, evidence in found.items():
        n = external_id.removeprefix("R-")
        assert len(evidence) == 1 and f"name_{n}" in evidence[0], (external_id, evidence)


async def test_single_reply_imports_at_once_on_separate_engines(database_url: str, db: Database) -> None:
    engines = [Database(database_url) for _ in range(AT_ONCE)]
    try:
        for round_ in range(ROUNDS):
            batch = range(round_ * AT_ONCE, (round_ + 1) * AT_ONCE)
            await asyncio.gather(
                *(
                    ingest(
                        engine,
                        [ReplyRecord(id=f"R-{n}", ticket_id=f"T-{n}", created_at=T0, reply=text_of(n))],
                        checks=CHECKS,
                        now=T0,
                    )
                    for engine, n in zip(engines, batch, strict=True)
                )
            )
    finally:
        for engine in engines:
            await engine.dispose()
    assert_each_finding_on_its_own_reply(*await findings_by_reply(db))


async def test_ingest_requests_at_once(
    settings: Settings, config: AuditConfig, db: Database, clock: FrozenClock
) -> None:
    """The same through `POST /ingest`: the app's own connection pool serves the requests at once."""
    web = build_web(build_app(settings, config, db, clock=clock))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://auditbot.test"
    ) as http:

        async def post(n: int) -> httpx.Response:
            record = {
                "id": f"R-{n}", "ticket_id": f"T-{n}", "created_at": "2026-11-26T10:00:00Z",
                "reply": text_of(n), "customer": {"name": "Dana Lee"},
            }  # fmt: skip
            body = json.dumps(record).encode()
            ts = int(clock.now().timestamp())
            headers = {
                "X-Auditbot-Timestamp": str(ts),
                "X-Auditbot-Signature": sign(body, settings.ingest_secret or "", ts),
                "Content-Type": "application/json",
            }
            return await http.post("/ingest", content=body, headers=headers)

        for round_ in range(ROUNDS):
            answers = await asyncio.gather(
                *(post(n) for n in range(round_ * AT_ONCE, (round_ + 1) * AT_ONCE))
            )
            assert [a.status_code for a in answers] == [202] * AT_ONCE
    assert_each_finding_on_its_own_reply(*await findings_by_reply(db))
