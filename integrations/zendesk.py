"""Zendesk Support: AI replies from the incremental ticket export; internal notes and tags back."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from bot.core.clock import Clock, SystemClock
from bot.core.records import Customer, ReplyRecord
from integrations.base import NoteRef, PermanentError, SourcePage
from integrations.http import Sleep, make_client, send

if TYPE_CHECKING:
    from bot.core.config import AuditConfig
    from bot.core.settings import Settings

VENDOR = "zendesk"
PER_PAGE = 100  # tickets per export page; each costs one comments call, so keep polls short
COMMENTS_PAGE = 100
FIRST_LOOKBACK = dt.timedelta(days=1)  # without start_time, the first poll reads one day


class ZendeskClient:
    """ReplySource (AI agent comments) and HelpdeskSink (private comment + tags) for Zendesk."""

    name = VENDOR

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        *,
        ai_user_ids: Sequence[int],
        plan_field_id: int | None = None,
        start_time: int | None = None,
        per_page: int = PER_PAGE,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._ai_user_ids = frozenset(int(i) for i in ai_user_ids)
        self._plan_field_id = plan_field_id
        self._start_time = start_time
        self._per_page = per_page
        self._sleep = sleep
        self._clock = clock or SystemClock()
        self._http = make_client(
            self.base_url,
            auth=(f"{email}/token", api_token),
            headers={"Accept": "application/json"},
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings, config: AuditConfig, **kwargs: Any) -> ZendeskClient | None:
        """A client when ZENDESK_URL, ZENDESK_EMAIL and ZENDESK_API_TOKEN are all set, else None."""
        if not (settings.zendesk_url and settings.zendesk_email and settings.zendesk_api_token):
            return None
        return cls(
            settings.zendesk_url,
            settings.zendesk_email,
            settings.zendesk_api_token,
            ai_user_ids=config.sources.zendesk_ai_user_ids,
            plan_field_id=config.sources.zendesk_plan_field_id,
            **kwargs,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch(self, cursor: str | None) -> SourcePage:
        """One page of the incremental ticket export, with the AI agent's public comments."""
        if not self._ai_user_ids:
            # Without them every comment is skipped and the cursor would move past real replies.
            raise PermanentError(
                "zendesk: no AI agent user ids ([sources] zendesk_ai_user_ids)", vendor=VENDOR
            )
        params: dict[str, Any] = {"per_page": self._per_page, "include": "users"}
        if cursor:
            params["cursor"] = cursor
        else:
            params["start_time"] = self._first_start_time()
        page = await self._get("/api/v2/incremental/tickets/cursor", params)
        users = {u["id"]: u for u in page.get("users") or [] if "id" in u}
        records: list[ReplyRecord] = []
        for ticket in page.get("tickets") or []:
            if ticket.get("status") != "deleted":
                records += await self._ticket_replies(ticket, users)
        return SourcePage(
            records=records,
            cursor=page.get("after_cursor") or cursor,
            done=bool(page.get("end_of_stream", True)),
        )

    async def add_note(
        self, *, ticket_id: str, body: str, tags: Sequence[str], idempotency_key: str
    ) -> NoteRef:
        """A private comment (`public: false`) on the ticket, then tags added (not replaced)."""
        number = _ticket_number(ticket_id)
        response = await self._send(
            "PUT",
            f"/api/v2/tickets/{number}",
            json={"ticket": {"comment": {"body": body, "public": False}}},
            headers={"Idempotency-Key": idempotency_key},
        )
        if tags:
            # PUT adds to the ticket's tags; POST would replace them all (specs/README.md).
            await self._send("PUT", f"/api/v2/tickets/{number}/tags", json={"tags": list(tags)})
        return NoteRef(ticket_id=str(number), note_id=_comment_event_id(response.json()))

    def _first_start_time(self) -> int:
        if self._start_time is not None:
            return self._start_time
        return int((self._clock.now() - FIRST_LOOKBACK).timestamp())

    async def _ticket_replies(self, ticket: dict, users: dict[int, dict]) -> list[ReplyRecord]:
        try:
            comments, comment_users = await self._comments(ticket["id"])
        except PermanentError as exc:
            if exc.status == 404:  # deleted between the export and this call
                return []
            raise
        users = {**users, **comment_users}
        records = []
        last_customer: str | None = None
        for comment in comments:
            text = comment.get("plain_body") or comment.get("body") or ""
            author = comment.get("author_id")
            if author in self._ai_user_ids:
                if comment.get("public", True) and text.strip():
                    records.append(self._record(ticket, comment, text, last_customer, users))
            elif _is_end_user(author, ticket, users):
                last_customer = text
        return records

    async def _comments(self, ticket_id: int) -> tuple[list[dict], dict[int, dict]]:
        params: dict[str, Any] = {"page[size]": COMMENTS_PAGE, "include": "users"}
        comments: list[dict] = []
        users: dict[int, dict] = {}
        while True:
            page = await self._get(f"/api/v2/tickets/{ticket_id}/comments", params)
            comments += page.get("comments") or []
            users.update({u["id"]: u for u in page.get("users") or [] if "id" in u})
            meta = page.get("meta") or {}
            if not (meta.get("has_more") and meta.get("after_cursor")):
                return comments, users
            params = {**params, "page[after]": meta["after_cursor"]}

    def _record(
        self, ticket: dict, comment: dict, text: str, customer_message: str | None, users: dict
    ) -> ReplyRecord:
        requester_id = ticket.get("requester_id")
        requester = users.get(requester_id) or {}
        return ReplyRecord(
            id=f"zd-{comment['id']}",
            ticket_id=str(ticket["id"]),
            created_at=_parse_time(comment.get("created_at") or ticket.get("updated_at")),
            reply=text,
            source=VENDOR,
            ticket_url=f"{self.base_url}/agent/tickets/{ticket['id']}",
            customer_message=customer_message,
            customer=Customer(
                id=str(requester_id) if requester_id is not None else None,
                name=requester.get("name"),
                email=requester.get("email"),
                plan=self._plan(ticket),
            ),
            channel=_channel(ticket.get("via")),
            metadata={
                "tags": list(ticket.get("tags") or []),
                "status": ticket.get("status"),
                "author_id": comment.get("author_id"),
            },
        )

    def _plan(self, ticket: dict) -> str | None:
        if self._plan_field_id is None:
            return None
        for field in ticket.get("custom_fields") or []:
            if field.get("id") == self._plan_field_id:
                value = field.get("value")
                if isinstance(value, list):
                    value = ", ".join(str(v) for v in value)
                return str(value) if value not in (None, "") else None
        return None

    async def _get(self, path: str, params: dict[str, Any]) -> dict:
        response = await self._send("GET", path, params=params)
        return response.json()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await send(self._http, method, path, vendor=VENDOR, sleep=self._sleep, **kwargs)


def _ticket_number(ticket_id: str) -> int:
    try:
        return int(str(ticket_id).removeprefix("#"))
    except ValueError:
        raise PermanentError(f"zendesk ticket ids are numbers, not {ticket_id!r}", vendor=VENDOR) from None


def _is_end_user(author: Any, ticket: dict, users: dict[int, dict]) -> bool:
    role = (users.get(author) or {}).get("role")
    if role:
        return role == "end-user"
    return author is not None and author == ticket.get("requester_id")


def _channel(via: Any) -> str | None:
    channel = (via or {}).get("channel") if isinstance(via, dict) else None
    return str(channel) if channel not in (None, "") else None


def _parse_time(value: str | None) -> dt.datetime:
    if not value:
        raise PermanentError("zendesk comment without created_at", vendor=VENDOR)
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _comment_event_id(payload: dict) -> str | None:
    events = ((payload or {}).get("audit") or {}).get("events") or []
    for event in events:
        if event.get("type") == "Comment" and event.get("id") is not None:
            return str(event["id"])
    return None
