"""The small Protocols every vendor module implements, and the types they exchange."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.core.records import ReplyRecord


def hmac_sha256_matches(secret: str, body: bytes, signature: str | None, *, prefix: str = "") -> bool:
    """Whether `signature` is `prefix` + the hex HMAC-SHA256 of the raw body (constant time)."""
    if not secret or not signature or not signature.startswith(prefix):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.removeprefix(prefix).strip().lower())


def effect_ref(key: str) -> str:
    """A short, stable mark of one effect (its outbox key), written into what it posts (a comment)
    so that a retry can find the post its lost answer left behind instead of posting again."""
    return "auditbot-ref-" + hashlib.sha256(key.encode()).hexdigest()[:16]


class IntegrationError(Exception):
    """A vendor call failed. `retryable` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, vendor: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.vendor = vendor


class TransientError(IntegrationError):
    """Timeouts, 408/409/429/5xx: worth retrying, after `retry_after` seconds if the vendor said."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class PermanentError(IntegrationError):
    """400/404/422 and the like: the same request will fail again."""


class AuthError(PermanentError):
    """401/403: credentials are wrong or lack a permission."""


@dataclass(frozen=True)
class SourcePage:
    """One poll's worth of replies and the cursor to resume from."""

    records: Sequence[ReplyRecord]
    cursor: str | None
    done: bool = True


class ReplySource(Protocol):
    name: str

    async def fetch(self, cursor: str | None) -> SourcePage:
        """Replies after `cursor` (None: from the configured start), and the next cursor."""
        ...


@dataclass(frozen=True)
class NoteRef:
    ticket_id: str
    note_id: str | None = None


class HelpdeskSink(Protocol):
    name: str

    async def add_note(
        self, *, ticket_id: str, body: str, tags: Sequence[str], idempotency_key: str
    ) -> NoteRef:
        """Add an internal (never customer-visible) note and tags to the source ticket."""
        ...


@dataclass(frozen=True)
class Section:
    heading: str
    text: str
    quote: bool = False


@dataclass(frozen=True)
class IssueDraft:
    """A vendor-neutral issue: each tracker renders it (ADF, Markdown)."""

    title: str
    sections: Sequence[Section]
    marker: str  # stable text/label that identifies the defect group, searched before creating
    project: str | None = None
    labels: Sequence[str] = field(default_factory=tuple)
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (label, url)


@dataclass(frozen=True)
class IssueRef:
    key: str  # Jira key, Linear identifier, GitHub number
    url: str
    id: str | None = None  # vendor's internal id where it differs from the key


IssueState = Literal["open", "done"]


@dataclass(frozen=True)
class Delivery:
    """What a tracker's webhook delivery says about itself, beyond the change it reports."""

    id: str | None = None  # the vendor's id of the delivery, the same when it is sent again
    sent_at: dt.datetime | None = None  # when the vendor sent it (for refusing stale ones)
    event_at: dt.datetime | None = None  # when the reported change happened on the tracker


def epoch_ms(value: object) -> dt.datetime | None:
    """A UTC datetime from epoch milliseconds (a number or its text); None if it is not one."""
    try:
        return dt.datetime.fromtimestamp(int(str(value)) / 1000, dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def iso_time(value: object) -> dt.datetime | None:
    """A UTC datetime from ISO 8601 text (Z or an offset); None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:30+01:00 is before year 1 in UTC
        return None


class IssueTracker(Protocol):
    name: str

    async def find_issue(self, *, marker: str, project: str | None = None) -> IssueRef | None: ...

    async def create_issue(self, draft: IssueDraft, *, idempotency_key: str) -> IssueRef: ...

    async def add_comment(
        self, issue: IssueRef, sections: Sequence[Section], *, key: str | None = None, retry: bool = False
    ) -> None:
        """Comment on the issue. With `key`, the comment is marked (or created under an id derived
        from it); with `retry` too, an earlier attempt's comment is looked for first."""
        ...

    async def get_state(self, issue: IssueRef) -> IssueState: ...

    async def set_state(self, issue: IssueRef, state: IssueState) -> None: ...
