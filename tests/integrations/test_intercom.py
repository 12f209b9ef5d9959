"""IntercomClient against a fake Intercom that checks every request against the 2.14 spec."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest

from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig, SourcesConfig
from bot.core.settings import Settings
from integrations.base import AuthError, PermanentError
from integrations.intercom import IntercomClient, article_id, html_to_text
from tests.integrations.specs import validate_httpx_request, validate_request, validate_response

SPEC = "intercom/api.intercom.io.v2.14.conversations-subset.json"
ARTICLES_SPEC = "intercom/api.intercom.io.v2.14.yaml"  # the subset has no /articles
BASE = "https://api.intercom.test"
NOW = 1_763_700_000
ME = "991267459"  # the admin behind the token
FIN = {"type": "bot", "id": "278", "name": "Fin", "email": "operator+acme@intercom.io"}
FIN_PROFILE = {**FIN, "from_ai_agent": True, "is_ai_answer": True}
HUMAN = {"type": "admin", "id": "274", "name": "Sam Agent", "email": "sam@acme.test"}


def user(uid: str = "6762f1571bb69f9f2193bbbb", name: str = "Dana Lee") -> dict:
    return {"type": "user", "id": uid, "name": name, "email": f"{uid[:4]}@example.com"}


def part(pid: str, author: dict, ts: int, body: str | None, kind: str = "comment") -> dict:
    """A conversation part shaped like the retrieveConversation example."""
    return {
        "type": "conversation_part",
        "id": pid,
        "part_type": kind,
        "body": body,
        "created_at": ts,
        "updated_at": ts,
        "notified_at": ts,
        "assigned_to": None,
        "author": author,
        "attachments": [],
        "external_id": None,
        "redacted": False,
        "tags": [],
    }


def conversation(cid: str, customer: dict, question: str, parts: list[dict]) -> dict:
    created = min([p["created_at"] for p in parts] or [NOW]) - 60
    return {
        "type": "conversation",
        "id": cid,
        "title": None,
        "created_at": created,
        "updated_at": max([p["updated_at"] for p in parts] or [created]),
        "waiting_since": None,
        "snoozed_until": None,
        "source": {
            "type": "conversation",
            "id": f"40391{cid}",
            "delivered_as": "customer_initiated",
            "subject": "",
            "body": f"<p>{question}</p>",
            "author": customer,
            "attachments": [],
            "url": None,
            "redacted": False,
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [{"type": "contact", "id": customer["id"], "external_id": "70"}],
        },
        "open": True,
        "state": "open",
        "read": False,
        "priority": "not_priority",
        "admin_assignee_id": None,
        "team_assignee_id": 5017691,
        "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": "1", "name": "billing"}]},
        "custom_attributes": {},
        "ai_agent_participated": True,
        "ai_agent": {
            "source_type": "workflow",
            "source_title": "Fin for billing",
            "last_answer_type": "ai_answer",
            "resolution_state": "assumed_resolution",
            "rating": 4,
            "content_sources": {
                "type": "content_source.list",
                "total_count": 1,
                "content_sources": [
                    {
                        "content_type": "article",
                        "url": "/help/articles/refunds",
                        "title": "Refunds",
                        "locale": "en",
                    }
                ],
            },
        },
        "conversation_parts": {
            "type": "conversation_part.list",
            "conversation_parts": parts,
            "total_count": len(parts),
        },
    }


class FakeIntercom:
    """The vendor: conversations searchable by updated_at, notes, and the requests it got."""

    def __init__(self) -> None:
        self.conversations: dict[str, dict] = {}
        self.requests: list[httpx.Request] = []
        self.queued: list[httpx.Response] = []
        self.articles: dict[str, int] = {}  # article id -> updated_at (unix seconds)
        self.articles_status = 200

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add(self, conv: dict) -> None:
        self.conversations[conv["id"]] = conv

    def append(self, cid: str, new: dict) -> None:
        conv = self.conversations[cid]
        conv["conversation_parts"]["conversation_parts"].append(new)
        conv["updated_at"] = new["updated_at"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.startswith("/articles/"):
            return self.article(request)
        validate_httpx_request(SPEC, request)
        if self.queued:
            return self.queued.pop(0)
        status, payload = self.route(request)
        validate_response(SPEC, request.method, request.url.path, status, payload)
        return httpx.Response(status, json=payload)

    def route(self, request: httpx.Request) -> tuple[int, dict]:
        path = request.url.path
        if path == "/me":
            return 200, {"type": "admin", "id": ME, "name": "Audit Bot", "email": "audit@acme.test"}
        if path == "/conversations/search":
            return 200, self.search(json.loads(request.content))
        cid = path.split("/")[2]
        if cid not in self.conversations:
            return 404, {"type": "error.list", "errors": [{"code": "not_found", "message": "x"}]}
        if path.endswith("/reply"):
            body = json.loads(request.content)
            note_id = str(9000 + len(self.requests))
            author = {"type": "admin", "id": body["admin_id"], "name": "Audit Bot"}
            self.append(cid, part(note_id, author, NOW, body["body"], kind=body["message_type"]))
        return 200, self.conversations[cid]

    def article(self, request: httpx.Request) -> httpx.Response:
        validate_httpx_request(ARTICLES_SPEC, request)
        aid = request.url.path.split("/")[2]
        if self.articles_status != 200 or aid not in self.articles:
            status = self.articles_status if self.articles_status != 200 else 404
            payload: dict = {"type": "error.list", "errors": [{"code": "not_found", "message": "x"}]}
            return httpx.Response(status, json=payload)
        payload = {
            "type": "article",
            "id": aid,
            "workspace_id": "ecahpwf5",
            "title": "Refunds",
            "author_id": 991267459,
            "state": "published",
            "created_at": 1_700_000_000,
            "updated_at": self.articles[aid],
            "url": f"https://help.acme.test/en/articles/{aid}-refunds",
        }
        validate_response(ARTICLES_SPEC, "GET", request.url.path, 200, payload)
        return httpx.Response(200, json=payload)

    def search(self, body: dict) -> dict:
        query = body["query"]
        assert (query["field"], query["operator"]) == ("updated_at", ">")
        assert body["sort"] == {"field": "updated_at", "order": "ascending"}
        found = sorted(
            (c for c in self.conversations.values() if c["updated_at"] > int(query["value"])),
            key=lambda c: (c["updated_at"], c["id"]),
        )
        paging = body.get("pagination") or {}
        if paging.get("starting_after"):  # search-after: the token holds the last sort key
            last = tuple(json.loads(base64.b64decode(paging["starting_after"])))
            found = [c for c in found if (c["updated_at"], c["id"]) > last]
        size = paging.get("per_page", 20)
        chunk, rest = found[:size], found[size:]
        pages: dict[str, Any] = {"type": "pages", "page": 1, "per_page": size, "total_pages": 1}
        if rest:
            token = base64.b64encode(json.dumps([chunk[-1]["updated_at"], chunk[-1]["id"]]).encode())
            pages["next"] = {"per_page": size, "starting_after": token.decode()}
        listed = [{k: v for k, v in c.items() if k not in ("conversation_parts", "ai_agent")} for c in chunk]
        return {
            "type": "conversation.list",
            "pages": pages,
            "total_count": len(found),
            "conversations": listed,
        }


class Waits:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def qa(cid: str, ts: int, customer: dict | None = None) -> dict:
    """A customer question answered by Fin at `ts`."""
    customer = customer or user(f"u{cid}0000000000")
    parts = [part(f"{cid}1", FIN_PROFILE, ts, f"<p>Answer {cid}</p>")]
    return conversation(cid, customer, f"Question {cid}", parts)


@pytest.fixture
def fake() -> FakeIntercom:
    fake = FakeIntercom()
    for cid, ts in [("501", NOW - 3000), ("502", NOW - 2000), ("503", NOW - 1000)]:
        fake.add(qa(cid, ts))
    return fake


def client(fake: FakeIntercom, clock: FrozenClock | None = None, **kwargs: Any) -> IntercomClient:
    kwargs.setdefault("start_time", NOW - 3600)
    kwargs.setdefault("sleep", Waits())
    return IntercomClient(
        BASE,
        "tok-123",
        clock=clock or FrozenClock(dt.datetime.fromtimestamp(NOW, dt.UTC)),
        transport=fake.transport(),
        **kwargs,
    )


async def test_paged_window_then_resume_reads_nothing_twice(fake: FakeIntercom) -> None:
    clock = FrozenClock(dt.datetime.fromtimestamp(NOW, dt.UTC))
    intercom = client(fake, clock, per_page=2)

    first = await intercom.fetch(None)
    second = await intercom.fetch(first.cursor)
    assert [r.id for r in first.records] == ["ic-5011", "ic-5021"]
    assert (first.done, second.done) == (False, True)
    assert [r.id for r in second.records] == ["ic-5031"]

    # Later: the customer writes again on 501 and Fin answers; a new conversation starts.
    fake.append("501", part("5012", user("u5010000000000"), NOW + 100, "<p>Not what I asked</p>"))
    fake.append("501", part("5013", FIN_PROFILE, NOW + 150, "<p>Let me fix that</p>"))
    fake.add(qa("504", NOW + 200))
    clock.advance(minutes=10)
    third = await intercom.fetch(second.cursor)

    assert [(r.id, r.customer_message) for r in third.records] == [
        ("ic-5013", "Not what I asked"),
        ("ic-5041", "Question 504"),
    ]
    clock.advance(minutes=10)
    searches = len(fake.requests)
    fourth = await intercom.fetch(third.cursor)
    assert len(fake.requests) > searches  # 501 and 504 are read again...
    assert list(fourth.records) == []  # ...but their answers are not returned again


async def test_record_maps_conversation_customer_and_html(fake: FakeIntercom) -> None:
    fake.conversations.clear()
    answer = "<p>Hi Dana,</p><p>Your <b>Pro</b> plan &amp; refund:<br>see <a href='https://help.acme.test/r'>this</a></p>"
    conv = conversation("600", user("c600", "Dana Lee"), "Can I get a refund?", [])
    fake.add(conv)
    fake.append("600", part("6001", FIN_PROFILE, NOW - 500, answer))

    (record,) = (await client(fake).fetch(None)).records

    assert record.id == "ic-6001"
    assert record.source == "intercom"
    assert record.ticket_id == "600"
    assert record.created_at == dt.datetime.fromtimestamp(NOW - 500, dt.UTC)
    assert record.reply == "Hi Dana,\n\nYour Pro plan & refund:\nsee this (https://help.acme.test/r)"
    assert record.customer_message == "Can I get a refund?"
    assert (record.customer.id, record.customer.name) == ("c600", "Dana Lee")
    assert record.ticket_url == "https://app.intercom.com/a/inbox/_/inbox/conversation/600"
    assert record.channel == "chat"
    assert record.csat == 4
    assert [a.url for a in record.kb_articles] == ["/help/articles/refunds"]
    assert record.metadata["tags"] == ["billing"]


def cite(conv: dict, *urls: str) -> dict:
    sources = [{"content_type": "article", "url": u, "title": "Refunds", "locale": "en"} for u in urls]
    conv["ai_agent"]["content_sources"] = {
        "type": "content_source.list",
        "total_count": len(sources),
        "content_sources": sources,
    }
    return conv


async def test_cited_articles_carry_their_last_update_read_once(fake: FakeIntercom) -> None:
    fake.conversations.clear()
    for cid, ts in [("701", NOW - 900), ("702", NOW - 800)]:
        fake.add(cite(qa(cid, ts), "https://help.acme.test/en/articles/8123-refunds", "/help/old-faq"))
    fake.articles["8123"] = 1_700_000_000  # 2023-11-14

    records = (await client(fake).fetch(None)).records

    assert [[a.updated_at for a in r.kb_articles] for r in records] == [[dt.date(2023, 11, 14), None]] * 2
    assert [a.id for a in records[0].kb_articles] == [
        "https://help.acme.test/en/articles/8123-refunds",
        "/help/old-faq",
    ]
    assert [r.url.path for r in fake.requests].count("/articles/8123") == 1  # cached across replies


async def test_an_unreadable_article_leaves_the_reply_undated_not_lost(fake: FakeIntercom) -> None:
    fake.conversations.clear()
    fake.add(cite(qa("711", NOW - 900), "https://help.acme.test/en/articles/404-gone"))
    fake.add(cite(qa("712", NOW - 800), "https://help.acme.test/en/articles/405-other"))

    missing = (await client(fake).fetch(None)).records  # 404s: deleted articles
    fake.articles_status = 403  # a token without the articles scope: asked once, then not again
    denied = client(fake)
    asked = len(fake.requests)
    forbidden = (await denied.fetch(None)).records

    assert [r.kb_articles[0].updated_at for r in [*missing, *forbidden]] == [None] * 4
    article_calls = [r for r in fake.requests[asked:] if r.url.path.startswith("/articles/")]
    assert len(article_calls) == 1


def test_article_id_is_read_only_from_help_centre_urls() -> None:
    assert article_id("https://intercom.help/acme/en/articles/6213-how-refunds-work") == "6213"
    assert article_id("https://help.acme.test/articles/77") == "77"
    assert article_id("/help/articles/refunds") is None
    assert article_id("https://acme.test/blog/articles-2024") is None
    assert article_id(None) is None


async def test_only_ai_comment_parts_are_replies(fake: FakeIntercom) -> None:
    fake.conversations.clear()
    customer = user("c700")
    ts = NOW - 900
    fin_admin = {"type": "admin", "id": "555", "name": "Fin (bot admin)"}
    parts = [
        part("1", FIN_PROFILE, ts, "<p>First AI answer</p>"),
        part("2", customer, ts + 1, "<p>Thanks, but what about VAT?</p>"),
        part("3", HUMAN, ts + 2, "<p>Human says hi</p>"),
        part("4", {**FIN, "from_ai_agent": True}, ts + 3, "<p>AI internal note</p>", kind="note"),
        part("5", fin_admin, ts + 4, "<p>Bot admin answer</p>"),
        part("6", {**HUMAN, "is_ai_answer": True}, ts + 5, "<p>Suggested AI answer sent</p>"),
        part("7", FIN_PROFILE, ts + 6, None, kind="assignment"),
    ]
    fake.add(conversation("700", customer, "Refund please", parts))

    page = await client(fake, ai_admin_ids=["555"]).fetch(None)

    assert [(r.id, r.customer_message) for r in page.records] == [
        ("ic-1", "Refund please"),
        ("ic-5", "Thanks, but what about VAT?"),
        ("ic-6", "Thanks, but what about VAT?"),
    ]


async def test_every_request_sends_version_token_and_accept(fake: FakeIntercom) -> None:
    intercom = client(fake)
    await intercom.fetch(None)
    await intercom.add_note(ticket_id="501", body="n", tags=[], idempotency_key="k")

    assert len(fake.requests) == 7  # search, 3 conversations, /me, check, reply
    for request in fake.requests:
        assert request.headers["intercom-version"] == "2.14"
        assert request.headers["authorization"] == "Bearer tok-123"
        assert request.headers["accept"] == "application/json"


async def test_rate_limit_waits_for_retry_after(fake: FakeIntercom) -> None:
    fake.queued.append(httpx.Response(429, headers={"Retry-After": "3"}, json={"type": "error"}))
    waits = Waits()

    page = await client(fake, sleep=waits).fetch(None)

    assert waits.seconds == [3.0]
    assert len(page.records) == 3


async def test_unauthorized_raises_auth_error_without_retrying(fake: FakeIntercom) -> None:
    fake.queued.append(httpx.Response(401, json={"type": "error.list", "errors": []}))
    waits = Waits()

    with pytest.raises(AuthError):
        await client(fake, sleep=waits).fetch(None)

    assert len(fake.requests) == 1
    assert waits.seconds == []


async def test_add_note_posts_an_escaped_admin_note_once(fake: FakeIntercom) -> None:
    intercom = client(fake)
    body = "Wrong plan named.\nCustomer wrote: <script>alert(1)</script>"

    ref = await intercom.add_note(ticket_id="502", body=body, tags=["ai_defect"], idempotency_key="d-7")
    again = await intercom.add_note(ticket_id="502", body=body, tags=["ai_defect"], idempotency_key="d-7")

    replies = [r for r in fake.requests if r.url.path.endswith("/reply")]
    assert len(replies) == 1
    sent = json.loads(replies[0].content)
    assert (sent["message_type"], sent["type"], sent["admin_id"]) == ("note", "admin", ME)
    assert "<script>" not in sent["body"]
    assert "&lt;script&gt;" in sent["body"]
    assert "Tags: ai_defect" in sent["body"]
    assert ref == again
    assert ref.note_id is not None
    assert [r.url.path for r in fake.requests].count("/me") == 1  # cached


async def test_add_note_on_a_missing_conversation_is_permanent(fake: FakeIntercom) -> None:
    with pytest.raises(PermanentError):
        await client(fake).add_note(ticket_id="999", body="x", tags=[], idempotency_key="k")


async def test_a_garbled_cursor_is_a_permanent_error(fake: FakeIntercom) -> None:
    with pytest.raises(PermanentError, match="cursor"):
        await client(fake).fetch("not json")
    assert fake.requests == []


def test_html_to_text_keeps_lines_and_lists() -> None:
    text = html_to_text("<p>Steps:</p><ol><li>Open <i>Billing</i></li><li>Click&nbsp;Refund</li></ol>")
    assert text == "Steps:\n\n- Open Billing\n- Click Refund"


def test_from_settings_needs_a_token() -> None:
    config = AuditConfig(sources=SourcesConfig(intercom_ai_admin_ids=["555"]))

    assert IntercomClient.from_settings(Settings(_env_file=None), config) is None
    made = IntercomClient.from_settings(Settings(_env_file=None, intercom_token="t"), config)
    assert isinstance(made, IntercomClient)


def test_validator_rejects_requests_the_spec_does_not_allow() -> None:
    note = {"message_type": "note", "type": "admin", "admin_id": 991267459, "body": "x"}
    with pytest.raises(AssertionError, match=r"\['admin_id'\]: 991267459 is not of type 'string'"):
        validate_request(SPEC, "POST", "/conversations/1/reply", {}, note)
    with pytest.raises(AssertionError, match="Intercom-Version"):
        validate_request(SPEC, "GET", "/me", {}, None, headers={"Intercom-Version": "3.0"})
    with pytest.raises(AssertionError, match="'query' is a required property"):
        validate_request(SPEC, "POST", "/conversations/search", {}, {"pagination": {}})
