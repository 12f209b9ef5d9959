"""Intercom: Fin's (AI agent's) answers from conversation search; internal notes back.

The cursor is a small JSON object. `lo` is the end of the last finished time window; while a
window `(lo, hi]` is being paged through, it also holds `hi` and the search page token `after`.
Conversations are searched by `updated_at > lo`, but a part is only taken when it was created
inside the window, so a conversation that comes back because the customer wrote again later
does not yield its earlier AI answers a second time.

Fin cites help-centre articles by URL only. For a URL of the help centre's form
(`…/articles/<id>-<slug>`) the article's `updated_at` is read once per client (`GET /articles/{id}`),
so the stale-article check works on Intercom replies too. Intercom has no "re-checked" date:
`reviewed_at` comes only through the reply record (`auditbot import`, `POST /ingest`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import httpx

from bot.core.clock import Clock, SystemClock
from bot.core.records import Customer, KbArticle, ReplyRecord
from integrations.base import AuthError, NoteRef, PermanentError, SourcePage
from integrations.http import Sleep, make_client, send

if TYPE_CHECKING:
    from bot.core.config import AuditConfig
    from bot.core.settings import Settings

VENDOR = "intercom"
PER_PAGE = 50  # conversations per search page; each costs one more GET
FIRST_LOOKBACK = dt.timedelta(days=1)
INDEX_LAG = dt.timedelta(minutes=1)  # search is eventually consistent: leave the last minute
CUSTOMER_TYPES = {"user", "lead", "contact"}
INBOX_URL = "https://app.intercom.com/a/inbox/_/inbox/conversation/{id}"
ARTICLE_URL = re.compile(r"/articles/(\d{1,20})(?:[-/?#]|$)")


class IntercomClient:
    """ReplySource (AI agent conversation parts) and HelpdeskSink (admin notes) for Intercom."""

    name = VENDOR

    def __init__(
        self,
        base_url: str = "https://api.intercom.io",
        token: str = "",
        *,
        ai_admin_ids: Sequence[str] = (),
        version: str = "2.14",
        start_time: int | None = None,
        per_page: int = PER_PAGE,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
    ) -> None:
        self._ai_admin_ids = frozenset(str(i) for i in ai_admin_ids)
        self._start_time = start_time
        self._per_page = per_page
        self._sleep = sleep
        self._clock = clock or SystemClock()
        self._admin_id: str | None = None
        self._article_days: dict[str, dt.date | None] = {}
        self._articles_readable = True  # False once the token proved it may not read articles
        self._http = make_client(
            base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Intercom-Version": version,
                "Accept": "application/json",
            },
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings, config: AuditConfig, **kwargs: Any) -> IntercomClient | None:
        """A client when INTERCOM_TOKEN is set (INTERCOM_API_URL overrides the base), else None."""
        if not settings.intercom_token:
            return None
        return cls(
            settings.intercom_api_url,
            settings.intercom_token,
            ai_admin_ids=config.sources.intercom_ai_admin_ids,
            **kwargs,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch(self, cursor: str | None) -> SourcePage:
        """One search page of conversations updated in the window, with their AI answers."""
        state = _load_cursor(cursor)
        if "hi" in state:
            lo, hi, after = state["lo"], state["hi"], state.get("after")
        else:
            lo = state.get("lo", self._first_start_time())
            hi, after = int((self._clock.now() - INDEX_LAG).timestamp()), None
            if hi <= lo:
                return SourcePage(records=[], cursor=_dump_cursor(lo=lo), done=True)
        body: dict[str, Any] = {
            "query": {"field": "updated_at", "operator": ">", "value": str(lo)},
            "pagination": {
                "per_page": self._per_page,
                **({"starting_after": after} if after else {}),
            },
            # Not in the 2.14 spec but honoured live; it must be repeated on every page.
            "sort": {"field": "updated_at", "order": "ascending"},
        }
        page = (await self._send("POST", "/conversations/search", json=body)).json()
        records: list[ReplyRecord] = []
        for item in page.get("conversations") or []:
            conversation = await self._conversation(str(item["id"]))
            if conversation is not None:
                records += [await self._dated(r) for r in self._replies(conversation, lo, hi)]
        following = (((page.get("pages") or {}).get("next")) or {}).get("starting_after")
        if following:
            return SourcePage(records, cursor=_dump_cursor(lo=lo, hi=hi, after=following), done=False)
        return SourcePage(records, cursor=_dump_cursor(lo=hi), done=True)

    async def add_note(
        self, *, ticket_id: str, body: str, tags: Sequence[str], idempotency_key: str
    ) -> NoteRef:
        """An admin note, tags in its text (tagging needs tag ids from POST /tags, not in the subset)."""
        admin_id = await self._me()
        marker = f"auditbot ref {idempotency_key}"
        existing = await self._find_note(ticket_id, admin_id, marker)
        if existing is not None:  # a retry after a lost answer: the note is already there
            return NoteRef(ticket_id=ticket_id, note_id=existing)
        text = body + (f"\n\nTags: {', '.join(tags)}" if tags else "") + f"\n\n{marker}"
        # One attempt only: a note whose answer was lost may exist; the outbox retries, looking first.
        response = await self._send(
            "POST",
            f"/conversations/{ticket_id}/reply",
            attempts=1,
            json={
                "message_type": "note",
                "type": "admin",
                "admin_id": admin_id,
                "body": _html(text),
            },
        )
        parts = _parts(response.json())
        return NoteRef(ticket_id=ticket_id, note_id=str(parts[-1]["id"]) if parts else None)

    def _first_start_time(self) -> int:
        if self._start_time is not None:
            return self._start_time
        return int((self._clock.now() - FIRST_LOOKBACK).timestamp())

    async def _me(self) -> str:
        if self._admin_id is None:
            me = (await self._send("GET", "/me")).json()
            self._admin_id = str(me["id"])
        return self._admin_id

    async def _conversation(self, conversation_id: str) -> dict | None:
        try:
            return (await self._send("GET", f"/conversations/{conversation_id}")).json()
        except PermanentError as exc:
            if exc.status == 404:  # deleted since the search
                return None
            raise

    async def _find_note(self, ticket_id: str, admin_id: str, marker: str) -> str | None:
        conversation = await self._conversation(ticket_id)
        if conversation is None:
            raise PermanentError(f"intercom conversation {ticket_id} not found", vendor=VENDOR)
        for part in _parts(conversation):
            author = part.get("author") or {}
            mine = part.get("part_type") == "note" and str(author.get("id")) == admin_id
            if mine and marker in html_to_text(part.get("body") or ""):
                return str(part["id"])
        return None

    async def _dated(self, record: ReplyRecord) -> ReplyRecord:
        """The record with each cited help-centre article's last update, where Intercom has it."""
        if not any(article_id(a.url) for a in record.kb_articles):
            return record
        articles = []
        for a in record.kb_articles:
            found = article_id(a.url)
            day = await self._article_day(found) if found else None
            articles.append(a if day is None else replace(a, updated_at=day))
        return replace(record, kb_articles=tuple(articles))

    async def _article_day(self, aid: str) -> dt.date | None:
        if aid in self._article_days or not self._articles_readable:
            return self._article_days.get(aid)
        try:
            article = (await self._send("GET", f"/articles/{aid}")).json()
        except AuthError:  # a token without the articles scope: replies still come in, undated
            self._articles_readable = False
            return None
        except PermanentError as exc:
            if exc.status != 404:  # deleted, or not an Intercom article after all
                raise
            article = {}
        stamp = article.get("updated_at")
        day = (
            dt.datetime.fromtimestamp(stamp, dt.UTC).date() if isinstance(stamp, int) and stamp > 0 else None
        )
        self._article_days[aid] = day
        return day

    def _is_ai(self, author: dict) -> bool:
        if author.get("from_ai_agent") or author.get("is_ai_answer"):
            return True
        return author.get("type") in ("admin", "bot") and str(author.get("id")) in self._ai_admin_ids

    def _replies(self, conversation: dict, lo: int, hi: int) -> list[ReplyRecord]:
        source = conversation.get("source") or {}
        source_author = source.get("author") or {}
        last_customer = None
        if source_author.get("type") in CUSTOMER_TYPES:
            last_customer = html_to_text(source.get("body") or "") or None
        customer = _customer(conversation)
        records = []
        for part in _parts(conversation):
            author = part.get("author") or {}
            text = html_to_text(part.get("body") or "")
            if not text:
                continue
            if author.get("type") in CUSTOMER_TYPES:
                last_customer = text
            elif part.get("part_type") == "comment" and self._is_ai(author):
                created = int(part.get("created_at") or 0)
                if lo < created <= hi:
                    records.append(_record(conversation, part, text, last_customer, customer))
        return records

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await send(self._http, method, path, vendor=VENDOR, sleep=self._sleep, **kwargs)


def _record(
    conversation: dict, part: dict, text: str, customer_message: str | None, customer: Customer
) -> ReplyRecord:
    ai_agent = conversation.get("ai_agent") or {}
    rating = ai_agent.get("rating") or (conversation.get("conversation_rating") or {}).get("rating")
    sources = (ai_agent.get("content_sources") or {}).get("content_sources") or []
    return ReplyRecord(
        id=f"ic-{part['id']}",
        ticket_id=str(conversation["id"]),
        created_at=dt.datetime.fromtimestamp(int(part["created_at"]), dt.UTC),
        reply=text,
        source=VENDOR,
        ticket_url=INBOX_URL.format(id=conversation["id"]),
        customer_message=customer_message,
        customer=customer,
        kb_articles=tuple(
            KbArticle(id=s.get("url") or s.get("title"), url=s.get("url"))
            for s in sources
            if s.get("url") or s.get("title")
        ),
        channel=_channel((conversation.get("source") or {}).get("type")),
        language=next((s["locale"] for s in sources if s.get("locale")), None),
        csat=int(rating) if isinstance(rating, int) else None,
        metadata={
            "tags": [t.get("name") for t in (conversation.get("tags") or {}).get("tags") or []],
            "state": conversation.get("state"),
            "author_id": (part.get("author") or {}).get("id"),
            "ai_resolution_state": ai_agent.get("resolution_state"),
        },
    )


def article_id(url: str | None) -> str | None:
    """The Intercom article id in a help-centre URL (`…/articles/123-refunds`), else None."""
    found = ARTICLE_URL.search(url) if url else None
    return found.group(1) if found else None


def _customer(conversation: dict) -> Customer:
    authors = [(conversation.get("source") or {}).get("author") or {}]
    authors += [p.get("author") or {} for p in _parts(conversation)]
    for author in authors:
        if author.get("type") in CUSTOMER_TYPES and author.get("id"):
            return Customer(id=str(author["id"]), name=author.get("name"), email=author.get("email"))
    contacts = (conversation.get("contacts") or {}).get("contacts") or []
    return Customer(id=str(contacts[0]["id"])) if contacts and contacts[0].get("id") else Customer()


def _parts(conversation: dict) -> list[dict]:
    return (conversation.get("conversation_parts") or {}).get("conversation_parts") or []


def _channel(source_type: str | None) -> str | None:
    return "chat" if source_type == "conversation" else source_type


def _html(text: str) -> str:
    """Plain text to escaped note HTML: the caller's text is untrusted, so no markup gets in."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


class _TextParser(HTMLParser):
    """Text of an HTML body with its line structure: blocks and <br> become line breaks."""

    BLOCKS = {"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "tr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.chunks.append("\n")
        elif tag == "li":
            self.chunks.append("\n- ")
        elif tag in self.BLOCKS:
            self.chunks.append("\n")
        elif tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS and tag != "li":
            self.chunks.append("\n")
        elif tag == "a" and self._href:
            # Reviewers need to see where a link pointed, not only its words.
            if not self.chunks or self._href not in self.chunks[-1]:
                self.chunks.append(f" ({self._href})")
            self._href = None

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def html_to_text(body: str) -> str:
    """Intercom bodies are HTML; detectors and reviewers read plain text."""
    if "<" not in body and "&" not in body:
        return body.strip()
    parser = _TextParser()
    parser.feed(body)
    parser.close()
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(parser.chunks).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _load_cursor(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
        return {k: state[k] for k in ("lo", "hi", "after") if state.get(k) is not None} | {
            "lo": int(state["lo"])
        }
    except (ValueError, TypeError, KeyError) as exc:
        raise PermanentError(f"intercom cursor is not valid: {cursor[:80]!r}", vendor=VENDOR) from exc


def _dump_cursor(**state: Any) -> str:
    return json.dumps({k: v for k, v in state.items() if v is not None}, sort_keys=True)
