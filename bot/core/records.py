"""The reply record (DESIGN.md): what every source normalizes to, before it is stored."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class KbArticle:
    id: str
    url: str | None = None
    updated_at: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    id: str | None = None
    name: str | None = None
    email: str | None = None
    plan: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyRecord:
    """One AI reply, validated. `created_at` is timezone-aware UTC."""

    id: str
    ticket_id: str
    created_at: dt.datetime
    reply: str
    source: str = "import"
    ticket_url: str | None = None
    customer_message: str | None = None
    customer: Customer = field(default_factory=Customer)
    template_id: str | None = None
    kb_articles: tuple[KbArticle, ...] = ()
    channel: str | None = None
    intent: str | None = None
    language: str | None = None
    csat: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
