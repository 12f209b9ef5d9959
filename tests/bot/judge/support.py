"""What the judge tests share: a config pointed at the fake server, services, stored replies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig, DetectorsConfig
from bot.core.db import Database
from bot.core.models import JudgeRun, Judgment, Reply
from bot.core.records import ReplyRecord
from bot.core.services import Services
from bot.core.settings import Settings
from bot.ingest.rows import Checks
from bot.ingest.store import ingest
from tests.bot.replies import record
from tests.fakes.openai_api import API_KEY, FakeOpenAI


def judge_config(config: AuditConfig, fake: FakeOpenAI, **judge: Any) -> AuditConfig:
    """`config` with a [judge] section calling `fake` (fast: no SDK retries unless asked)."""
    section = {"mode": "sample", "base_url": fake.url, "model": "judge-test", "max_retries": 0, **judge}
    data = config.model_dump(mode="json")
    data["judge"] = section
    return AuditConfig.model_validate(data)


def use_key(monkeypatch: pytest.MonkeyPatch, key: str = API_KEY) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def judge_services(db: Database, config: AuditConfig, clock: FrozenClock) -> Services:
    return Services(Settings(_env_file=None, database_url=db.url), config, db, clock)


async def store(db: Database, records: Sequence[ReplyRecord], now: dt.datetime) -> list[int]:
    """Import records through the real ingest path; their database ids, in order."""
    await ingest(db, records, checks=Checks.from_config(DetectorsConfig()), now=now)
    external = [r.id for r in records]
    async with db.session() as session:
        rows = await session.execute(
            sa.select(Reply.external_id, Reply.id).where(Reply.external_id.in_(external))
        )  # type: ignore[attr-defined]
        ids = dict(rows.all())
    return [ids[e] for e in external]


async def replies(
    db: Database, texts: Sequence[str], now: dt.datetime, *, prefix: str = "J", at: dt.datetime | None = None
) -> list[int]:
    """One stored reply per text (a customer question each), created a minute apart from `at`."""
    records = [
        record(
            f"{prefix}-{n:04d}",
            ticket=f"T-{prefix}{n:04d}",
            reply=text,
            customer_message=f"Question {n}?",
            **({"created_at": at + dt.timedelta(minutes=n)} if at else {"minutes": n}),
        )
        for n, text in enumerate(texts)
    ]
    return await store(db, records, now)


async def runs(db: Database) -> list[JudgeRun]:
    async with db.session() as session:
        return list((await session.execute(sa.select(JudgeRun).order_by(JudgeRun.id))).scalars())


async def verdicts(db: Database, reply_id: int) -> dict[str, str]:
    async with db.session() as session:
        rows = await session.execute(
            sa.select(Judgment.criterion, Judgment.verdict).where(Judgment.reply_id == reply_id)
        )
        return dict(rows.all())
