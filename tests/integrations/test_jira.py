"""JiraTracker against a fake Jira Cloud that checks every request against the v3 spec and ADF."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from typing import Any

import httpx
import jsonschema
import pytest

from integrations import jira
from integrations.base import AuthError, IssueDraft, IssueRef, Section, TransientError
from integrations.jira import JiraTracker
from tests.integrations.specs import SPECS, validate_httpx_request, validate_request

SPEC = "jira/jira-platform-v3.issues-subset.json"
BASE = "https://acme.atlassian.net"
EMAIL, TOKEN = "bot@example.com", "jira-token"
STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done", "Won't Do": "done"}
TRANSITIONS = {"11": "To Do", "21": "In Progress", "31": "Done", "41": "Won't Do"}


@functools.cache
def _adf_validator() -> jsonschema.Draft4Validator:
    schema = json.loads((SPECS / "jira" / "adf-schema.v1.full.json").read_text())
    root = {"$ref": "#/definitions/doc_node", "definitions": schema["definitions"]}
    return jsonschema.Draft4Validator(root)


def validate_adf(doc: Any) -> None:
    """Raise AssertionError unless `doc` is a valid ADF document (draft-04 schema, doc_node)."""
    errors = list(_adf_validator().iter_errors(doc))
    assert not errors, f"invalid ADF: {[e.message[:200] for e in errors[:3]]}"


class FakeJira:
    """Jira Cloud as far as auditbot uses it; validates each request before answering."""

    def __init__(self) -> None:
        self.issues: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.fail_next: list[int] = []  # statuses to answer with before behaving
        self.lose_create_answer = False  # create the issue, then answer 503

    def add(self, project: str, labels: list[str], status: str = "To Do") -> str:
        key = f"{project}-{len(self.issues) + 1}"
        self.issues[key] = {
            "id": str(10000 + len(self.issues)),
            "project": project,
            "labels": labels,
            "status": status,
            "comments": [],
        }
        return key

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        validate_httpx_request(SPEC, request)
        body = json.loads(request.content) if request.content else None
        expected = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, json={"errorMessages": ["Unauthorized"]})
        if self.fail_next:
            return httpx.Response(self.fail_next.pop(0), json={"errorMessages": ["busy"]})
        path, method = request.url.path, request.method
        if (method, path) == ("POST", "/rest/api/3/search/jql"):
            return self._search(body["jql"])
        if (method, path) == ("POST", "/rest/api/3/issue"):
            validate_adf(body["fields"]["description"])
            fields = body["fields"]
            key = self.add(fields["project"]["key"], fields["labels"])
            self.issues[key]["fields"] = fields
            if self.lose_create_answer:
                return httpx.Response(503)
            return httpx.Response(201, json={"id": self.issues[key]["id"], "key": key})
        match = re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)(/\w+)?", path)
        issue = self.issues.get(match.group(1)) if match else None
        if issue is None:
            return httpx.Response(404, json={"errorMessages": ["Issue does not exist"]})
        return self._on_issue(method, match.group(2), issue, body)

    def _search(self, jql: str) -> httpx.Response:
        label = re.search(r'labels = "([^"]*)"', jql).group(1)
        project = re.search(r'project = "([^"]*)"', jql)
        found = [
            {"id": i["id"], "key": k}
            for k, i in self.issues.items()
            if label in i["labels"] and (not project or i["project"] == project.group(1))
        ]
        return httpx.Response(200, json={"issues": found, "isLast": True})

    def _on_issue(self, method: str, sub: str | None, issue: dict, body: Any) -> httpx.Response:
        if method == "GET" and sub is None:
            category = {"key": STATUSES[issue["status"]]}
            status = {"name": issue["status"], "statusCategory": category}
            return httpx.Response(200, json={"id": issue["id"], "fields": {"status": status}})
        if method == "POST" and sub == "/comment":
            validate_adf(body["body"])
            issue["comments"].append(body["body"])
            return httpx.Response(201, json={"id": str(len(issue["comments"]))})
        if method == "GET" and sub == "/transitions":
            offered = [
                {"id": tid, "name": name, "to": {"statusCategory": {"key": STATUSES[name]}}}
                for tid, name in TRANSITIONS.items()
                if name != issue["status"]
            ]
            return httpx.Response(200, json={"transitions": offered})
        if method == "POST" and sub == "/transitions":
            issue["status"] = TRANSITIONS[body["transition"]["id"]]
            return httpx.Response(204)
        return httpx.Response(405)


@pytest.fixture
def fake() -> FakeJira:
    return FakeJira()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def tracker(fake: FakeJira, sleeps: list[float]):
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = JiraTracker(BASE, EMAIL, TOKEN, transport=httpx.MockTransport(fake.handle), sleep=sleep)
    yield client
    await client.aclose()


def draft(**overrides: Any) -> IssueDraft:
    values: dict[str, Any] = {
        "title": "Refund template quotes the wrong plan\nfor @everyone",
        "sections": [
            Section("What is wrong", "The reply says 30 days.\n\nPolicy says 14 days.\nSee KB."),
            Section("Customer reply", "Hi Dana, <b>your Pro plan</b> {{refund}}", quote=True),
            Section("", ""),  # an empty section must not produce an empty text node
        ],
        "marker": "auditbot-g42",
        "project": "SUP",
        "labels": ["ai-audit"],
        "links": [("Ticket T-4821", "https://help.example.com/t/4821"), ("raw", "javascript:x")],
    }
    values.update(overrides)
    return IssueDraft(**values)


async def test_create_searches_then_creates_with_marker_label(tracker, fake):
    ref = await tracker.create_issue(draft(), idempotency_key="defect-group-42")

    assert ref == IssueRef(key="SUP-1", url=f"{BASE}/browse/SUP-1", id="10000")
    search, create = fake.requests
    assert search.url.path == "/rest/api/3/search/jql"
    assert json.loads(search.content)["jql"].startswith('project = "SUP" AND labels = "auditbot-g42"')
    fields = json.loads(create.content)["fields"]
    assert fields["labels"] == ["ai-audit", "auditbot-g42"]
    assert fields["summary"] == "Refund template quotes the wrong plan for @everyone"
    assert fields["issuetype"] == {"name": "Task"} and fields["project"] == {"key": "SUP"}
    kinds = [node["type"] for node in fields["description"]["content"]]
    assert kinds == ["heading", "paragraph", "paragraph", "heading", "blockquote", "bulletList"]
    links = fields["description"]["content"][-1]["content"]
    assert links[0]["content"][0]["content"][0]["marks"][0]["attrs"]["href"].startswith("https://")
    assert "marks" not in links[1]["content"][0]["content"][0]  # javascript: never becomes a link


async def test_existing_marker_issue_is_returned_without_a_second_create(tracker, fake):
    key = fake.add("SUP", ["auditbot-g42"])

    ref = await tracker.create_issue(draft(), idempotency_key="defect-group-42")

    assert ref.key == key
    assert fake.calls("POST", "/rest/api/3/issue") == []
    assert await tracker.find_issue(marker="auditbot-g43", project="SUP") is None


async def test_create_with_lost_answer_is_not_retried_blindly(tracker, fake):
    """A 503 after Jira did create: no second POST now; the caller's retry finds the issue."""
    fake.lose_create_answer = True
    with pytest.raises(TransientError):
        await tracker.create_issue(draft(), idempotency_key="k")
    fake.lose_create_answer = False

    ref = await tracker.create_issue(draft(), idempotency_key="k")

    assert ref.key == "SUP-1" and len(fake.issues) == 1
    assert len(fake.calls("POST", "/rest/api/3/issue")) == 1


async def test_comment_is_an_adf_document(tracker, fake):
    key = fake.add("SUP", ["auditbot-g42"])

    await tracker.add_comment(IssueRef(key, ""), [Section("New occurrence", "R-000124\r\nagain")])

    (comment,) = fake.issues[key]["comments"]
    paragraph = comment["content"][1]
    assert [n["type"] for n in paragraph["content"]] == ["text", "hardBreak", "text"]


async def test_state_get_and_set_through_transitions(tracker, fake):
    ref = IssueRef(fake.add("SUP", []), "")
    assert await tracker.get_state(ref) == "open"

    await tracker.set_state(ref, "done")
    assert fake.issues[ref.key]["status"] == "Done"  # "Done" preferred over "Won't Do"
    assert await tracker.get_state(ref) == "done"

    await tracker.set_state(ref, "done")  # already done: no transition posted
    assert len(fake.calls("POST", f"/rest/api/3/issue/{ref.key}/transitions")) == 1

    await tracker.set_state(ref, "open")
    assert fake.issues[ref.key]["status"] == "To Do"


async def test_server_errors_are_retried_with_the_injected_sleep(tracker, fake, sleeps):
    ref = IssueRef(fake.add("SUP", [], status="Done"), "")
    fake.fail_next = [503, 502]

    assert await tracker.get_state(ref) == "done"
    assert len(sleeps) == 2


async def test_bad_credentials_raise_auth_error(fake):
    bad = JiraTracker(BASE, EMAIL, "wrong", transport=httpx.MockTransport(fake.handle))
    with pytest.raises(AuthError) as caught:
        await bad.find_issue(marker="auditbot-g42")
    assert caught.value.status == 401
    await bad.aclose()


def test_adf_keeps_within_the_size_limit_and_drops_control_characters():
    doc = jira.build_adf([Section("h", "x\x00" + "y" * 40000)], [("l", "https://e.com")])

    validate_adf(doc)
    text = json.dumps(doc)
    assert "\\u0000" not in text
    assert doc["content"][1]["content"][0]["text"].endswith("…")
    assert len(doc["content"]) == 2  # the budget ran out before the links


def test_validators_reject_what_jira_would_reject():
    with pytest.raises(AssertionError, match="invalid ADF"):
        validate_adf({"type": "doc", "version": 1, "content": [{"type": "paragraph",
                      "content": [{"type": "text", "text": ""}]}]})  # fmt: skip
    with pytest.raises(AssertionError, match="invalid ADF"):
        validate_adf({"type": "doc", "content": []})  # no version
    with pytest.raises(AssertionError):
        validate_request(SPEC, "POST", "/rest/api/3/search/jql", {}, {"jql": "x", "limit": 1})


def test_webhook_signature_and_parser():
    body = b'{"webhookEvent":"jira:issue_updated"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert jira.verify_signature("s3cret", body, good)
    assert not jira.verify_signature("s3cret", body + b" ", good)
    assert not jira.verify_signature("other", body, good)
    assert not jira.verify_signature("s3cret", body, None)

    event = {
        "webhookEvent": "jira:issue_updated",
        "issue": {"key": "SUP-7", "fields": {"status": {"statusCategory": {"key": "done"}}}},
    }
    assert jira.parse_webhook(event) == ("SUP-7", "done")
    event["issue"]["fields"]["status"]["statusCategory"]["key"] = "indeterminate"
    assert jira.parse_webhook(event) == ("SUP-7", "open")
    assert jira.parse_webhook({"webhookEvent": "comment_created"}) is None


def test_from_settings_needs_all_three_variables():
    from bot.core.settings import Settings

    assert jira.from_settings(Settings(_env_file=None, jira_url=BASE, jira_email=EMAIL)) is None
    full = Settings(_env_file=None, jira_url=BASE, jira_email=EMAIL, jira_api_token=TOKEN)
    assert isinstance(jira.from_settings(full), JiraTracker)
