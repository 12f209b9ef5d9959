"""ZendeskClient against a fake Zendesk that checks every request against the Support OAS."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest

from bot.core.config import AuditConfig, SourcesConfig
from bot.core.settings import Settings
from integrations.base import AuthError, PermanentError
from integrations.zendesk import ZendeskClient
from tests.integrations.specs import validate_httpx_request, validate_request, validate_response

SPEC = "zendesk/support-oas.tickets-subset.json"
BASE = "https://acme.zendesk.com"
AI_BOT = 9001  # the AI agent's Zendesk user
AGENT = 9100  # a human agent
START = 1_763_600_000
# Live-only, documented in specs/README.md: the export takes per_page and include sideloads.
EXPORT_EXTRA = {"per_page", "include"}
TAGS_BODY = {  # PUT .../tags has no modeled body; the live API takes {"tags": [...]}
    "type": "object",
    "required": ["tags"],
    "additionalProperties": False,
    "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
}
PLAN_FIELD = 360001


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_ticket(number: int, ts: int, requester: int, **extra: Any) -> dict:
    """A ticket shaped like CursorBasedExportIncrementalTicketsResponseExample."""
    return {
        "id": number,
        "url": f"{BASE}/api/v2/tickets/{number}.json",
        "created_at": iso(ts - 600),
        "updated_at": iso(ts),
        "generated_timestamp": ts,
        "subject": "Refund question",
        "status": "open",
        "requester_id": requester,
        "submitter_id": requester,
        "assignee_id": AI_BOT,
        "tags": ["billing", "ai_answered"],
        "custom_fields": [{"id": 27642, "value": "745"}, {"id": PLAN_FIELD, "value": "Pro"}],
        "via": {"channel": "email", "source": {"from": {}, "rel": None, "to": {}}},
        **extra,
    }


def make_comment(cid: int, author: int, ts: int, text: str, public: bool = True) -> dict:
    return {
        "id": cid,
        "type": "Comment",
        "author_id": author,
        "body": text,
        "html_body": f"<div class='zd-comment'><p>{text}</p></div>",
        "plain_body": text,
        "public": public,
        "audit_id": cid + 1,
        "attachments": [],
        "created_at": iso(ts),
        "metadata": {"system": {}, "via": {"channel": "email", "source": {"rel": None}}},
    }


def make_user(uid: int, name: str, role: str, email: str) -> dict:
    return {"id": uid, "name": name, "email": email, "role": role, "locale": "en-US"}


class FakeZendesk:
    """The vendor: an ordered export stream, comments per ticket, and the requests it got."""

    def __init__(self) -> None:
        self.stream: list[dict] = []
        self.comments: dict[int, list[dict]] = {}
        self.users: dict[int, dict] = {
            AI_BOT: make_user(AI_BOT, "Acme AI", "agent", "ai@acme.test"),
            AGENT: make_user(AGENT, "Sam Agent", "agent", "sam@acme.test"),
        }
        self.comment_page = 2  # small, so that comment pagination is exercised
        self.requests: list[httpx.Request] = []
        self.queued: list[httpx.Response] = []  # served before the normal answer
        self.notes: list[dict] = []
        self.tags: dict[int, list[str]] = {}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add(self, ticket: dict, comments: list[dict], requester: dict) -> None:
        self.stream.append(ticket)
        self.comments[ticket["id"]] = comments
        self.users[requester["id"]] = requester

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        extra = EXPORT_EXTRA if path.startswith("/api/v2/incremental/") else set()
        body_schema = TAGS_BODY if path.endswith("/tags") and request.method == "PUT" else None
        validate_httpx_request(SPEC, request, extra_query=extra, body_schema=body_schema)
        if self.queued:
            return self.queued.pop(0)
        status, payload = self.route(request)
        validate_response(SPEC, request.method, path, status, payload)
        return httpx.Response(status, json=payload)

    def route(self, request: httpx.Request) -> tuple[int, dict]:
        parts = request.url.path.strip("/").split("/")
        params = request.url.params
        if parts[2:] == ["incremental", "tickets", "cursor"]:
            return 200, self.export(params)
        number = int(parts[3])
        if parts[4:] == ["comments"]:
            return 200, self.comment_page_for(number, params)
        if parts[4:] == ["tags"]:
            self.tags.setdefault(number, []).extend(json.loads(request.content)["tags"])
            return 200, {"tags": self.tags[number]}
        comment = json.loads(request.content)["ticket"]["comment"]
        self.notes.append({"ticket": number, **comment, "key": request.headers.get("idempotency-key")})
        event = {"id": 7000 + len(self.notes), "type": "Comment", "body": comment["body"]}
        return 200, {"audit": {"events": [event]}, "ticket": {"id": number, "status": "open"}}

    def export(self, params: httpx.QueryParams) -> dict:
        if "cursor" in params:
            start = int(base64.b64decode(params["cursor"]).decode())
        else:
            since = int(params["start_time"])
            start = next(
                (i for i, t in enumerate(self.stream) if t["generated_timestamp"] >= since),
                len(self.stream),
            )
        end = min(start + int(params.get("per_page", 1000)), len(self.stream))
        tickets = self.stream[start:end]
        after = base64.b64encode(str(end).encode()).decode()
        wanted = {t["requester_id"] for t in tickets}
        return {
            "tickets": tickets,
            "users": [u for uid, u in self.users.items() if uid in wanted],
            "after_cursor": after,
            "after_url": f"{BASE}/api/v2/incremental/tickets/cursor.json?cursor={after}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": end == len(self.stream),
        }

    def comment_page_for(self, number: int, params: httpx.QueryParams) -> dict:
        comments = self.comments[number]
        start = int(params.get("page[after]", "0"))
        size = min(int(params.get("page[size]", "100")), self.comment_page)
        chunk = comments[start : start + size]
        more = start + size < len(comments)
        authors = {c["author_id"] for c in chunk}
        return {
            "comments": chunk,
            "users": [u for uid, u in self.users.items() if uid in authors],
            "meta": {"has_more": more, "after_cursor": str(start + size) if more else None},
        }


class Waits:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def conversation(number: int, ts: int, customer: int) -> list[dict]:
    """Customer asks, the AI answers; ids derived from the ticket number."""
    return [
        make_comment(number * 10 + 1, customer, ts - 300, f"Question on ticket {number}"),
        make_comment(number * 10 + 2, AI_BOT, ts, f"Hi, answer for ticket {number}."),
    ]


@pytest.fixture
def fake() -> FakeZendesk:
    fake = FakeZendesk()
    for number, ts, uid, name in [
        (101, START + 100, 501, "Dana Lee"),
        (102, START + 200, 502, "Ana Núñez"),
        (103, START + 300, 503, "Kim Park"),
    ]:
        requester = make_user(uid, name, "end-user", f"user{uid}@example.com")
        fake.add(make_ticket(number, ts, uid), conversation(number, ts, uid), requester)
    return fake


def client(fake: FakeZendesk, waits: Waits | None = None, **kwargs: Any) -> ZendeskClient:
    kwargs.setdefault("ai_user_ids", [AI_BOT])
    kwargs.setdefault("plan_field_id", PLAN_FIELD)
    return ZendeskClient(
        BASE,
        "bot@acme.test",
        "s3cret-token",
        start_time=START,
        transport=fake.transport(),
        sleep=waits or Waits(),
        **kwargs,
    )


async def test_two_page_export_then_resume_reads_only_new_tickets(fake: FakeZendesk) -> None:
    zendesk = client(fake, per_page=2)

    first = await zendesk.fetch(None)
    assert [r.id for r in first.records] == ["zd-1012", "zd-1022"]
    assert first.done is False
    second = await zendesk.fetch(first.cursor)
    assert [r.id for r in second.records] == ["zd-1032"]
    assert second.done is True

    requester = make_user(504, "Lee Chen", "end-user", "lee@example.com")
    fake.add(make_ticket(104, START + 900, 504), conversation(104, START + 900, 504), requester)
    third = await zendesk.fetch(second.cursor)

    assert [r.id for r in third.records] == ["zd-1042"]
    exports = [r for r in fake.requests if "incremental" in r.url.path]
    assert exports[0].url.params["start_time"] == str(START)
    assert all("start_time" not in r.url.params for r in exports[1:])
    assert [r.url.params["cursor"] for r in exports[1:]] == [first.cursor, second.cursor]


async def test_record_maps_ticket_requester_and_comment(fake: FakeZendesk) -> None:
    page = await client(fake).fetch(None)

    record = page.records[1]
    assert record.source == "zendesk"
    assert record.ticket_id == "102"
    assert record.ticket_url == f"{BASE}/agent/tickets/102"
    assert record.created_at == dt.datetime.fromtimestamp(START + 200, dt.UTC)
    assert record.reply == "Hi, answer for ticket 102."
    assert record.customer_message == "Question on ticket 102"
    assert (record.customer.id, record.customer.name, record.customer.email) == (
        "502",
        "Ana Núñez",
        "user502@example.com",
    )
    assert record.customer.plan == "Pro"
    assert record.channel == "email"
    assert record.metadata["tags"] == ["billing", "ai_answered"]


async def test_only_public_ai_comments_become_replies(fake: FakeZendesk) -> None:
    fake.stream.clear()
    ts = START + 50
    requester = make_user(600, "Jo Smith", "end-user", "jo@example.com")
    fake.add(
        make_ticket(200, ts, 600),
        [
            make_comment(1, 600, ts, "My invoice is wrong"),
            make_comment(2, AI_BOT, ts + 1, "Sorry Jo, here is the fix."),
            make_comment(3, AGENT, ts + 2, "Human agent reply"),
            make_comment(4, AI_BOT, ts + 3, "internal AI summary", public=False),
            make_comment(5, 600, ts + 4, "Still wrong, and I want a refund"),
            make_comment(6, AI_BOT, ts + 5, "I have issued a full refund."),
        ],
        requester,
    )

    page = await client(fake).fetch(None)

    assert [(r.id, r.customer_message) for r in page.records] == [
        ("zd-2", "My invoice is wrong"),
        ("zd-6", "Still wrong, and I want a refund"),
    ]
    comment_calls = [r for r in fake.requests if r.url.path.endswith("/comments")]
    assert len(comment_calls) == 3  # six comments, two per page
    assert comment_calls[1].url.params["page[after]"] == "2"


@pytest.mark.parametrize(
    ("plan_field_id", "fields", "expected"),
    [
        (PLAN_FIELD, [{"id": PLAN_FIELD, "value": "Enterprise"}], "Enterprise"),
        # Live Zendesk sends null for an unset field, which this input-shaped schema forbids.
        (PLAN_FIELD, [{"id": PLAN_FIELD, "value": ""}], None),
        (PLAN_FIELD, [{"id": 27642, "value": "745"}], None),
        (None, [{"id": PLAN_FIELD, "value": "Enterprise"}], None),
    ],
)
async def test_plan_comes_from_the_configured_custom_field(
    fake: FakeZendesk, plan_field_id: int | None, fields: list, expected: str | None
) -> None:
    for ticket in fake.stream:
        ticket["custom_fields"] = fields

    page = await client(fake, plan_field_id=plan_field_id).fetch(None)

    assert {r.customer.plan for r in page.records} == {expected}


async def test_rate_limit_waits_for_retry_after(fake: FakeZendesk) -> None:
    fake.queued.append(httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "x"}))
    waits = Waits()

    page = await client(fake, waits).fetch(None)

    assert waits.seconds == [7.0]
    assert len(page.records) == 3
    exports = [r for r in fake.requests if "incremental" in r.url.path]
    assert len(exports) == 2


async def test_unauthorized_raises_auth_error_without_retrying(fake: FakeZendesk) -> None:
    fake.queued.append(httpx.Response(401, json={"error": "Couldn't authenticate you"}))
    waits = Waits()

    with pytest.raises(AuthError) as caught:
        await client(fake, waits).fetch(None)

    assert caught.value.status == 401
    assert len(fake.requests) == 1
    assert waits.seconds == []


async def test_requests_use_api_token_basic_auth(fake: FakeZendesk) -> None:
    await client(fake).fetch(None)

    expected = base64.b64encode(b"bot@acme.test/token:s3cret-token").decode()
    assert {r.headers["authorization"] for r in fake.requests} == {f"Basic {expected}"}


async def test_add_note_is_private_and_adds_tags(fake: FakeZendesk) -> None:
    ref = await client(fake).add_note(
        ticket_id="101", body="Audit: wrong plan named", tags=["ai_defect"], idempotency_key="k-1"
    )

    assert ref.ticket_id == "101"
    assert ref.note_id == "7001"
    assert fake.notes == [{"ticket": 101, "body": "Audit: wrong plan named", "public": False, "key": "k-1"}]
    assert fake.tags == {101: ["ai_defect"]}
    assert [r.method for r in fake.requests] == ["PUT", "PUT"]


async def test_add_note_without_tags_makes_one_request(fake: FakeZendesk) -> None:
    await client(fake).add_note(ticket_id="102", body="note", tags=[], idempotency_key="k-2")

    assert [r.url.path for r in fake.requests] == ["/api/v2/tickets/102"]


async def test_add_note_rejects_a_non_numeric_ticket_id(fake: FakeZendesk) -> None:
    with pytest.raises(PermanentError):
        await client(fake).add_note(ticket_id="T-1", body="x", tags=[], idempotency_key="k")
    assert fake.requests == []


async def test_fetch_without_ai_user_ids_refuses_to_advance(fake: FakeZendesk) -> None:
    with pytest.raises(PermanentError, match="zendesk_ai_user_ids"):
        await client(fake, ai_user_ids=[]).fetch(None)


def test_from_settings_needs_url_email_and_token() -> None:
    config = AuditConfig(sources=SourcesConfig(zendesk_ai_user_ids=[AI_BOT]))
    partial = Settings(_env_file=None, zendesk_url=BASE, zendesk_email="bot@acme.test")
    full = Settings(_env_file=None, zendesk_url=BASE, zendesk_email="bot@acme.test", zendesk_api_token="t")

    assert ZendeskClient.from_settings(partial, config) is None
    made = ZendeskClient.from_settings(full, config)
    assert isinstance(made, ZendeskClient)
    assert made.base_url == BASE


def test_validator_rejects_requests_the_spec_does_not_allow() -> None:
    note = {"ticket": {"comment": {"body": "x", "public": "no"}}}
    with pytest.raises(AssertionError, match=r"\['public'\]: 'no' is not of type 'boolean'"):
        validate_request(SPEC, "PUT", "/api/v2/tickets/1", {}, note)
    with pytest.raises(AssertionError, match="'ticket_id': 'abc' is not of type 'integer'"):
        validate_request(SPEC, "GET", "/api/v2/tickets/abc/comments", {}, None)
    with pytest.raises(AssertionError, match="not in the spec"):
        validate_request(SPEC, "GET", "/api/v2/incremental/tickets/cursor", {"per_page": 5}, None)
    with pytest.raises(AssertionError, match="takes no body"):
        validate_request(SPEC, "PUT", "/api/v2/tickets/1/tags", {}, {"tags": ["a"]})
    with pytest.raises(AssertionError, match="only allows"):
        validate_request(SPEC, "DELETE", "/api/v2/tickets/1", {}, None)
