"""LinearTracker against a fake Linear that executes every request on Linear's real schema."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from graphql import GraphQLError, graphql_sync

from integrations import linear
from integrations.base import AuthError, IssueDraft, IssueRef, PermanentError, Section, TransientError
from integrations.linear import LinearTracker
from tests.integrations.graphql_spec import linear_schema, validate_graphql

API = "https://api.linear.app/graphql"
KEY = "lin_api_test"
TEAM = "team-sup"
STATES = [
    {"id": "st-backlog", "type": "backlog", "position": 0},
    {"id": "st-todo", "type": "unstarted", "position": 1},
    {"id": "st-doing", "type": "started", "position": 2},
    {"id": "st-done", "type": "completed", "position": 3},
    {"id": "st-dropped", "type": "canceled", "position": 4},
]


class FakeLinear:
    """Linear's GraphQL API: validates each document and its variables, then executes it."""

    def __init__(self) -> None:
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.bodies: list[dict[str, Any]] = []
        self.ratelimited_next = 0
        self.fail_next: list[int] = []  # HTTP statuses to answer with before behaving
        self.lose_create_answer = False
        self.labels = [
            {"id": "lab-ws", "name": "ai-audit", "team": None},
            {"id": "lab-other", "name": "billing", "team": {"id": "team-other"}},
        ]
        self.root = {
            "teams": self._teams,
            "issueLabels": self._labels,
            "issues": self._issues,
            "issue": self._issue,
            "workflowStates": self._states,
        }
        self.mutations = {
            "issueCreate": self._create,
            "commentCreate": self._comment,
            "issueUpdate": self._update,
        }

    def roots(self, name: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies if f"{name}(" in b["query"]]

    def handle(self, request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        self.bodies.append(payload)
        validate_graphql(payload["query"], payload.get("variables"))
        if request.headers.get("authorization") != KEY:  # personal keys go bare, no "Bearer"
            error = {"message": "Authentication required", "extensions": {"type": "authentication error"}}
            return httpx.Response(400, json={"errors": [error]})
        if self.fail_next:
            return httpx.Response(self.fail_next.pop(0))
        if self.ratelimited_next:
            self.ratelimited_next -= 1
            error = {
                "message": "Rate limit exceeded",
                "extensions": {"type": "ratelimited", "code": "RATELIMITED"},
            }
            return httpx.Response(400, json={"errors": [error]})
        result = graphql_sync(
            linear_schema(),
            payload["query"],
            root_value={**self.root, **self.mutations},
            variable_values=payload.get("variables"),
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        if self.lose_create_answer and "issueCreate(" in payload["query"]:
            self.lose_create_answer = False
            return httpx.Response(502)
        return httpx.Response(200, json=body)

    def _teams(self, info, filter: dict, **_: Any) -> dict:
        return {"nodes": [{"id": TEAM, "key": "SUP"}] if filter["key"]["eq"] == "SUP" else []}

    def _labels(self, info, filter: dict, **_: Any) -> dict:
        return {"nodes": [lb for lb in self.labels if lb["name"] in filter["name"]["in"]]}

    def _issues(self, info, filter: dict, **_: Any) -> dict:
        found = self.issues.get(filter["id"]["eq"])
        return {"nodes": [found] if found else []}

    def _issue(self, info, id: str) -> dict:
        for issue in self.issues.values():
            if id in (issue["id"], issue["identifier"]):
                return issue
        raise GraphQLError("Entity not found: Issue", extensions={"type": "invalid input"})

    def _states(self, info, filter: dict, **_: Any) -> dict:
        assert filter["team"]["id"]["eq"] == TEAM
        return {"nodes": [s for s in STATES if s["type"] in filter["type"]["in"]]}

    def _create(self, info, input: dict) -> dict:
        if input["id"] in self.issues:
            raise GraphQLError("Entity already exists", extensions={"type": "invalid input"})
        number = len(self.issues) + 1
        issue = {
            "id": input["id"],
            "identifier": f"SUP-{number}",
            "url": f"https://linear.app/acme/issue/SUP-{number}",
            "state": STATES[0],
            "team": {"id": input["teamId"]},
            "input": input,
        }
        self.issues[input["id"]] = issue
        return {"success": True, "issue": issue}

    def _comment(self, info, input: dict) -> dict:
        self.comments.append(input)
        return {"success": True, "comment": {"id": "c1"}}

    def _update(self, info, id: str, input: dict) -> dict:
        issue = self._issue(info, id)
        issue["state"] = next(s for s in STATES if s["id"] == input["stateId"])
        return {"success": True, "issue": issue}


@pytest.fixture
def fake() -> FakeLinear:
    return FakeLinear()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def tracker(fake: FakeLinear, sleeps: list[float]):
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = LinearTracker(API, KEY, transport=httpx.MockTransport(fake.handle), sleep=sleep)
    yield client
    await client.aclose()


def draft(**overrides: Any) -> IssueDraft:
    values: dict[str, Any] = {
        "title": "Stale KB article cited",
        "sections": [Section("What is wrong", "Cites kb-12 from <2025> @here")],
        "marker": "auditbot-g9",
        "project": "SUP",
        "labels": ["ai-audit", "billing", "missing"],
        "links": [("KB", "https://help.example.com/kb/12")],
    }
    values.update(overrides)
    return IssueDraft(**values)


async def test_create_uses_the_id_derived_from_the_marker(tracker, fake):
    ref = await tracker.create_issue(draft(), idempotency_key="defect-group-9")

    (issue,) = fake.issues.values()
    assert ref == IssueRef("SUP-1", "https://linear.app/acme/issue/SUP-1", issue["id"])
    sent = issue["input"]
    assert sent["teamId"] == TEAM
    assert sent["labelIds"] == ["lab-ws"]  # other teams' and unknown labels are left out
    assert "\\<2025\\>" in sent["description"] and "@\u200dhere" in sent["description"]
    again = LinearTracker(API, KEY, transport=httpx.MockTransport(fake.handle))
    assert (await again.find_issue(marker="auditbot-g9")) == ref  # same marker, same id
    assert await again.find_issue(marker="auditbot-g10") is None
    await again.aclose()


async def test_lost_answer_is_retried_and_the_existing_issue_returned(tracker, fake, sleeps):
    fake.lose_create_answer = True  # created, then a 502: the retry hits "already exists"

    ref = await tracker.create_issue(draft(), idempotency_key="defect-group-9")

    assert ref.key == "SUP-1" and len(fake.issues) == 1
    assert len(fake.roots("issueCreate")) == 2 and len(sleeps) == 1


async def test_create_for_an_existing_marker_returns_it(tracker, fake):
    first = await tracker.create_issue(draft(), idempotency_key="a")
    second = await tracker.create_issue(draft(title="reworded"), idempotency_key="b")

    assert first == second and len(fake.issues) == 1


async def test_comment_and_state(tracker, fake):
    ref = await tracker.create_issue(draft(), idempotency_key="k")

    await tracker.add_comment(ref, [Section("New occurrence", "R-2")])
    assert fake.comments == [{"issueId": ref.id, "body": "### New occurrence\n\nR\\-2"}]

    assert await tracker.get_state(ref) == "open"
    await tracker.set_state(ref, "done")
    assert fake.issues[ref.id]["state"]["id"] == "st-done"
    assert await tracker.get_state(IssueRef(ref.key, ref.url)) == "done"  # by identifier too
    await tracker.set_state(ref, "open")
    assert fake.issues[ref.id]["state"]["id"] == "st-todo"  # unstarted preferred over backlog


async def test_rate_limited_graphql_error_is_retried_then_transient(tracker, fake, sleeps):
    fake.ratelimited_next = 1
    assert await tracker.find_issue(marker="auditbot-g9") is None
    assert len(sleeps) == 1

    fake.ratelimited_next = 10
    with pytest.raises(TransientError, match="Rate limit"):
        await tracker.find_issue(marker="auditbot-g9")


async def test_server_error_then_success(tracker, fake, sleeps):
    ref = await tracker.create_issue(draft(), idempotency_key="k")
    fake.fail_next = [503, 500]

    assert await tracker.get_state(ref) == "open"
    assert len(sleeps) == 2


async def test_errors_map_to_auth_and_permanent(fake):
    bad = LinearTracker(API, "Bearer " + KEY, transport=httpx.MockTransport(fake.handle))
    with pytest.raises(AuthError):
        await bad.find_issue(marker="auditbot-g9")
    await bad.aclose()

    unauthorized = httpx.MockTransport(lambda r: httpx.Response(401, json={"errors": []}))
    with pytest.raises(AuthError):
        await LinearTracker(API, KEY, transport=unauthorized).find_issue(marker="m")

    good = LinearTracker(API, KEY, transport=httpx.MockTransport(fake.handle))
    with pytest.raises(PermanentError, match="Entity not found"):
        await good.get_state(IssueRef("SUP-404", ""))
    with pytest.raises(PermanentError, match="team"):
        await good.create_issue(draft(project="NOPE"), idempotency_key="k")
    await good.aclose()


def test_graphql_validator_rejects_bad_documents_and_variables():
    with pytest.raises(AssertionError, match="Cannot query field"):
        validate_graphql('query { issue(id: "x") { statusName } }')
    create = "mutation($input: IssueCreateInput!) { issueCreate(input: $input) { success } }"
    with pytest.raises(AssertionError, match="teamId"):
        validate_graphql(create, {"input": {"title": "no team"}})
    with pytest.raises(AssertionError, match="labels"):
        validate_graphql(create, {"input": {"teamId": "t", "labels": ["x"]}})


def test_webhook_signature_and_parser():
    body = b'{"type":"Issue","action":"update"}'
    good = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert linear.verify_signature("s3cret", body, good)
    assert not linear.verify_signature("s3cret", body, "sha256=" + good)
    assert not linear.verify_signature("s3cret", body + b"\n", good)
    assert not linear.verify_signature("s3cret", body, None)

    event = {
        "type": "Issue",
        "action": "update",
        "data": {"identifier": "SUP-3", "state": {"type": "canceled"}},
    }
    assert linear.parse_webhook(event) == ("SUP-3", "done")
    event["data"] = {"number": 3, "team": {"key": "SUP"}, "state": {"type": "started"}}
    assert linear.parse_webhook(event) == ("SUP-3", "open")
    assert linear.parse_webhook({"type": "Comment", "data": {}}) is None


def test_from_settings_needs_the_api_key():
    from bot.core.settings import Settings

    assert linear.from_settings(Settings(_env_file=None)) is None
    assert isinstance(linear.from_settings(Settings(_env_file=None, linear_api_key=KEY)), LinearTracker)
