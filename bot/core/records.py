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
    reviewed_at: dt.date | None = None  # re-checked and still right: staleness counts from the later date

    @property
    def checked_at(self) -> dt.date | None:
        """The later of `updated_at` and `reviewed_at`: when the article was last known to be right."""
        if self.reviewed_at is None or (self.updated_at is not None and self.updated_at >= self.reviewed_at):
            return self.updated_at
        return self.reviewed_at


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
