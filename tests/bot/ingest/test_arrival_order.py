"""Checks across replies give the same findings whatever order a ticket's replies arrive in,
through the real `auditbot import` and `POST /ingest`, one after the other, on either database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.app import build_app
from bot.cli.main import main
from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.settings import Settings
from bot.web.app import build_web
from bot.web.ingest import sign

SECRET = "arrival-order-secret"
TEXT = "Hi Lena, your invoice for March is attached."
OLD = [{"id": "kb-3", "url": "https://help.example.test/kb-3", "updated_at": "2025-01-02"}]


def item(rid: str, minute: int, text: str = TEXT, **kw: object) -> dict:
    return {
        "id": rid,
        "source": "shop",
        "ticket_id": "T-77",
        "created_at": f"2027-02-09T15:{minute:02d}:00Z",
        "reply": text,
        "customer_message": "Where is my March invoice?",
        "customer": {"name": "Lena Fischer"},
        "channel": "email",
        **kw,
    }


TICKET = [
    item("R-1", 0, kb_articles=OLD),
    item("R-2", 3),  # a copy: duplicate of R-1
    item("R-3", 20, "Is there anything else I can help with?", kb_articles=OLD),  # kb-3 again: shown once
    item("R-4", 21),  # the conversation went on since R-2: no duplicate of it
    item("R-5", 21),  # the same instant as R-4: both are duplicates
]
EXPECTED = {
    ("R-1", "stale_kb", "kb-3"),
    ("R-2", "duplicate_reply", "R-1"),
    ("R-4", "duplicate_reply", "R-5"),
    ("R-5", "duplicate_reply", "R-4"),
}
ORDERS = [
    (0, 1, 2, 3, 4),
    (4, 3, 2, 1, 0),
    (2, 0, 4, 1, 3),
    (1, 3, 0, 4, 2),
    (3, 1, 4, 2, 0),
]


async def _migrate(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    await db.dispose()


async def _post(url: str, record: dict) -> int:
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-test",
        slack_signing_secret="s",
        database_url=url,
        ingest_secret=SECRET,
    )
    clock = FrozenClock("2027-02-10T08:00:00+00:00")
    db = Database(url)
    web = build_web(build_app(settings, AuditConfig(), db, clock=clock))
    body = json.dumps([record]).encode()
    ts = int(clock.now().timestamp())
    headers = {"X-Auditbot-Timestamp": str(ts), "X-Auditbot-Signature": sign(body, SECRET, ts)}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://a.test"
        ) as http:
            response = await http.post("/ingest", content=body, headers=headers)
    finally:
        await db.dispose()
    return response.status_code


async def _state(url: str) -> tuple[set[tuple[str, str, str]], dict[str, bool]]:
    db = Database(url)
    try:
        async with db.session() as session:
            rows = await session.execute(
                sa.text(
                    "SELECT r.external_id, f.kind, f.evidence"
                    " FROM findings f JOIN replies r ON r.id = f.reply_id"
                )
            )
            found = set()
            for rid, kind, evidence in rows:
                ev = json.loads(evidence) if isinstance(evidence, str) else evidence
                found.add((rid, kind, ev.get("earlier_id") or ev.get("article_id")))
            flags = dict((await session.execute(sa.text("SELECT external_id, flagged FROM replies"))).all())
    finally:
        await db.dispose()
    return found, {k: bool(v) for k, v in flags.items()}


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: "".join(map(str, o)))
def test_findings_do_not_depend_on_arrival_order(
    order: tuple[int, ...], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_migrate(database_url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("AUDITBOT_CONFIG", raising=False)
    for step, index in enumerate(order):
        record = TICKET[index]
        if step % 2 == 0:  # by file
            path = tmp_path / f"step{step}.jsonl"
            path.write_text(json.dumps(record) + "\n", encoding="utf-8")
            assert main(["import", str(path), "--no-progress"]) == 0
        else:  # by webhook
            assert asyncio.run(_post(database_url, record)) == 202
    found, flags = asyncio.run(_state(database_url))
    assert found == EXPECTED
    assert flags == {"R-1": True, "R-2": True, "R-3": False, "R-4": True, "R-5": True}
