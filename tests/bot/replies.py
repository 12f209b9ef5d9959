"""Reply records for tests of ingest, polling and export."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.core.records import Customer, KbArticle, ReplyRecord

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def record(rid: str, *, ticket: str = "T-1", minutes: float = 0, **kw: Any) -> ReplyRecord:
    """A clean reply to Dana (Plus plan), `minutes` after T0; keywords override fields."""
    fields: dict[str, Any] = {
        "id": rid,
        "ticket_id": ticket,
        "created_at": T0 + dt.timedelta(minutes=minutes),
        "reply": f"Hi Dana,\n\nYour Plus plan includes 25 seats ({rid}).\n\nBest,\nSupport",
        "source": "import",
        "customer": Customer(id="C-1", name="Dana Lee", email="dana@example.com", plan="Plus"),
        "template_id": "seats",
        "channel": "email",
        "intent": "plans",
    }
    fields.update(kw)
    return ReplyRecord(**fields)


def stale_article(days_old: int = 400) -> tuple[KbArticle, ...]:
    updated = (T0 - dt.timedelta(days=days_old)).date()
    return (KbArticle(id="kb-9", url="https://help.example/kb-9", updated_at=updated),)


def nested(levels: int) -> dict[str, Any]:
    """An object `levels` deep, {"a": {"a": … 1}}: metadata past every depth limit."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value  # type: ignore[no-any-return]
