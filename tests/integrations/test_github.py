"""GitHubTracker against a fake GitHub REST API that checks every request against the spec."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any

import httpx
import pytest

from integrations import github
from integrations.base import AuthError, IssueDraft, IssueRef, Section, TransientError
from integrations.github import GitHubTracker
from tests.integrations.specs import validate_httpx_request, validate_request

SPEC = "github/api.github.com.issues-subset.json"
API = "https://api.github.com"
TOKEN = "ghp_test"
ISSUES = "/repos/acme/support/issues"


class FakeGitHub:
    """GitHub Issues for one repository; validates each request before answering."""

    def __init__(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.fail_next: list[httpx.Response] = []

    def add(self, labels: list[str], *, pull_request: bool = False) -> dict[str, Any]:
        number = len(self.issues) + 1
        item = {
            "id": 900 + number,
            "number": number,
            "html_url": f"https://github.com/acme/support/issues/{number}",
            "state": "open",
            "labels": [{"name": name} for name in labels],
            "comments": [],
        }
        if pull_request:
            item["pull_request"] = {"url": "https://api.github.com/pulls/1"}
        self.issues[number] = item
        return item

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        validate_httpx_request(SPEC, request)
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"message": "Bad credentials"})
        if self.fail_next:
            return self.fail_next.pop(0)
        body = json.loads(request.content) if request.content else None
        if request.url.path == ISSUES:
            return self._collection(request, body)
        match = re.fullmatch(rf"{ISSUES}/(\d+)(/comments)?", request.url.path)
        item = self.issues.get(int(match.group(1))) if match else None
        if item is None:
            return httpx.Response(404, json={"message": "Not Found"})
        if request.method == "POST" and match.group(2):
            assert len(body["body"]) <= 65536
            item["comments"].append(body["body"])
            return httpx.Response(201, json={"id": 1, "body": body["body"]})
        if request.method == "PATCH":
            item["state"], item["state_reason"] = body["state"], body.get("state_reason")
        return httpx.Response(200, json=item)

    def _collection(self, request: httpx.Request, body: Any) -> httpx.Response:
        if request.method == "POST":
            assert len(body["body"]) <= 65536
            item = self.add(body.get("labels", []))
            item.update(title=body["title"], body=body["body"])
            return httpx.Response(201, json=item)
        wanted = set(request.url.params["labels"].split(","))
        assert request.url.params["state"] == "all"
        found = [i for i in self.issues.values() if wanted <= {lb["name"] for lb in i["labels"]}]
        return httpx.Response(200, json=found)


@pytest.fixture
def fake() -> FakeGitHub:
    return FakeGitHub()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def tracker(fake: FakeGitHub, sleeps: list[float]):
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = GitHubTracker(
        API, TOKEN, "acme/support", transport=httpx.MockTransport(fake.handle), sleep=sleep
    )
    yield client
    await client.aclose()


def draft(**overrides: Any) -> IssueDraft:
    values: dict[str, Any] = {
        "title": "Greeting uses another customer's name",
        "sections": [
            Section("What is wrong", "Hi @octocat, see #12 <img src=x onerror=alert(1)>"),
            Section("Reply", "1. refund\n# not a heading\n[x](javascript:alert(1))", quote=True),
        ],
        "marker": "auditbot-g7",
        "labels": ["ai-audit"],
        "links": [("Ticket", "https://help.example.com/t/1")],
    }
    values.update(overrides)
    return IssueDraft(**values)


async def test_create_lists_by_marker_then_creates_with_the_label(tracker, fake):
    ref = await tracker.create_issue(draft(), idempotency_key="defect-group-7")

    assert ref == IssueRef("1", "https://github.com/acme/support/issues/1", "901")
    listing, create = fake.requests
    assert listing.method == "GET" and listing.url.params["labels"] == "auditbot-g7"
    sent = json.loads(create.content)
    assert sent["labels"] == ["ai-audit", "auditbot-g7"]
    body = sent["body"]
    assert "@octocat" not in body and "@\u200doctocat" in body
    assert re.search(r"(?<!\\)<img", body) is None and "\\<img" in body
    assert "\\#12" in body and "\n> 1\\. refund\n> \\# not a heading" in body
    assert "[x](javascript" not in body
    assert body.endswith("- [Ticket](<https://help.example.com/t/1>)")


async def test_existing_marker_issue_is_returned_without_a_second_create(tracker, fake):
    fake.add(["auditbot-g7"], pull_request=True)  # a pull request with the label is not it
    existing = fake.add(["auditbot-g7", "ai-audit"])

    ref = await tracker.create_issue(draft(), idempotency_key="defect-group-7")

    assert ref.key == str(existing["number"])
    assert fake.calls("POST", ISSUES) == []


async def test_body_is_truncated_to_githubs_limit(tracker, fake):
    long = draft(sections=[Section("Reply", "a*" * 40000)])

    ref = await tracker.create_issue(long, idempotency_key="k")

    body = fake.issues[int(ref.key)]["body"]
    assert len(body) == 65536 and body.endswith("…") and not body.endswith("\\…")


async def test_comment_and_state(tracker, fake):
    ref = await tracker.create_issue(draft(), idempotency_key="k")

    await tracker.add_comment(ref, [Section("New occurrence", "@team R-2")])
    assert fake.issues[1]["comments"] == ["### New occurrence\n\n@\u200dteam R\\-2"]

    assert await tracker.get_state(ref) == "open"
    await tracker.set_state(ref, "done")
    assert fake.issues[1]["state_reason"] == "completed"
    assert await tracker.get_state(ref) == "done"
    await tracker.set_state(ref, "open")
    assert (fake.issues[1]["state"], fake.issues[1]["state_reason"]) == ("open", "reopened")


async def test_server_error_then_rate_limit_then_success(tracker, fake, sleeps):
    ref = IssueRef(str(fake.add([])["number"]), "")
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()))}
    fake.fail_next = [httpx.Response(502), httpx.Response(403, headers=limited)]

    assert await tracker.get_state(ref) == "open"
    assert len(sleeps) == 2 and sleeps[1] <= 1.0


async def test_rate_limit_that_does_not_lift_is_transient(tracker, fake, sleeps):
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 60)}
    fake.fail_next = [httpx.Response(403, headers=limited) for _ in range(4)]

    with pytest.raises(TransientError):
        await tracker.find_issue(marker="auditbot-g7")
    assert len(sleeps) == 3


async def test_bad_token_raises_auth_error(fake):
    bad = GitHubTracker(API, "wrong", "acme/support", transport=httpx.MockTransport(fake.handle))
    with pytest.raises(AuthError):
        await bad.get_state(IssueRef("1", ""))
    await bad.aclose()


def test_spec_validator_rejects_a_bad_request():
    with pytest.raises(AssertionError):
        validate_request(SPEC, "PATCH", f"{ISSUES}/1", {}, {"state": "resolved"})
    with pytest.raises(AssertionError):
        validate_request(SPEC, "POST", f"{ISSUES}/1/comments", {}, {"text": "no body"})


def test_webhook_signature_and_parser():
    body = b'{"action":"closed"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert github.verify_signature("s3cret", body, good)
    assert not github.verify_signature("s3cret", body, good.replace("sha256=", "sha1="))
    assert not github.verify_signature("s3cret", b'{"action":"opened"}', good)
    assert not github.verify_signature("", body, good)

    assert github.parse_webhook({"action": "closed", "issue": {"number": 5}}) == ("5", "done")
    assert github.parse_webhook({"action": "reopened", "issue": {"number": 5}}) == ("5", "open")
    assert github.parse_webhook({"action": "labeled", "issue": {"number": 5}}) is None
    assert github.parse_webhook({"action": "closed", "pull_request": {"number": 5}}) is None


def test_from_settings_needs_token_and_repo():
    from bot.core.settings import Settings

    assert github.from_settings(Settings(_env_file=None, github_token=TOKEN)) is None
    full = Settings(_env_file=None, github_token=TOKEN, github_repo="acme/support")
    assert isinstance(github.from_settings(full), GitHubTracker)
    with pytest.raises(ValueError, match="owner/name"):
        GitHubTracker(API, TOKEN, "not-a-repo")
