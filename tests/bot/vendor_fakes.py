"""Fake Jira, Linear, GitHub, Zendesk and Intercom as httpx transports.

Each validates every request against the vendor contract in ../shared/specs (OpenAPI request
schemas, the ADF JSON Schema, Linear's GraphQL SDL) before answering, keeps what was created,
and can be switched `down` (503 or timeouts), `lose_answers` (create the issue, then answer
503: the answer is lost) or made to answer a fixed `status` (e.g. 401). `kill_after(test)`
is the fault hook for a worker dying between the vendor's answer and our commit: the next
request `test` accepts is carried out, then SimulatedKill is raised in the caller instead of
the answer (a BaseException: nothing in the worker catches it, as nothing runs after a kill).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema

from tests.integrations.graphql_spec import validate_graphql
from tests.integrations.specs import SPECS, validate_httpx_request

TAGS_BODY = {  # Zendesk's PUT …/tags has no modeled body; the live API takes {"tags": [...]}
    "type": "object",
    "required": ["tags"],
    "additionalProperties": False,
    "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
}


@functools.cache
def _adf_validator() -> jsonschema.Draft4Validator:
    schema = json.loads((SPECS / "jira" / "adf-schema.v1.full.json").read_text())
    return jsonschema.Draft4Validator(
        {"$ref": "#/definitions/doc_node", "definitions": schema["definitions"]}
    )


def validate_adf(doc: Any) -> None:
    errors = list(_adf_validator().iter_errors(doc))
    assert not errors, f"invalid ADF: {[e.message[:200] for e in errors[:3]]}"


async def no_sleep(_: float) -> None:
    """The clients' in-call retry pause; tests never wait."""


class SimulatedKill(BaseException):
    """The worker process dies here: nothing after this point runs (not even `except Exception`)."""


class VendorFake:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.down = False
        self.timeouts = False
        self.lose_answers = False
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self._kill: Callable[[httpx.Request], bool] | None = None

    def kill_after(self, test: Callable[[httpx.Request], bool]) -> None:
        """Carry out the next request `test` accepts, then kill the caller instead of answering."""
        self._kill = test

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.validate(request)
        if self.status is not None:
            return httpx.Response(self.status, headers=self.headers, json={"message": "refused"})
        if self.down:
            if self.timeouts:
                raise httpx.ConnectTimeout("vendor down", request=request)
            return httpx.Response(503, json={"message": "down"})
        body = json.loads(request.content) if request.content else None
        response = self.route(request, body)
        if self._kill is not None and self._kill(request):
            self._kill = None
            raise SimulatedKill(f"killed after {request.method} {request.url.path}")
        if self.lose_answers and self.creates(request, body):
            return httpx.Response(503, json={"message": "lost"})
        return response

    def creates(self, request: httpx.Request, body: Any) -> bool:
        return False

    def validate(self, request: httpx.Request) -> None:
        raise NotImplementedError

    def route(self, request: httpx.Request, body: Any) -> httpx.Response:
        raise NotImplementedError


class FakeJira(VendorFake):
    SPEC = "jira/jira-platform-v3.issues-subset.json"
    CATEGORY = {"To Do": "new", "Done": "done"}

    def __init__(self) -> None:
        super().__init__()
        self.issues: dict[str, dict[str, Any]] = {}

    def creates(self, request: httpx.Request, body: Any) -> bool:
        return request.url.path == "/rest/api/3/issue"

    def validate(self, request: httpx.Request) -> None:
        validate_httpx_request(self.SPEC, request)
        body = json.loads(request.content) if request.content else {}
        if request.url.path == "/rest/api/3/issue":
            validate_adf(body["fields"]["description"])
        if request.url.path.endswith("/comment") and request.method == "POST":
            validate_adf(body["body"])

    def route(self, request: httpx.Request, body: Any) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/rest/api/3/search/jql":
            label = re.search(r'labels = "([^"]*)"', body["jql"]).group(1)  # type: ignore[union-attr]
            found = [{"id": i["id"], "key": k} for k, i in self.issues.items() if label in i["labels"]]
            return httpx.Response(200, json={"issues": found, "isLast": True})
        if path == "/rest/api/3/issue":
            fields = body["fields"]
            key = f"{fields['project']['key']}-{len(self.issues) + 1}"
            self.issues[key] = {
                "id": str(10000 + len(self.issues)),
                "labels": fields["labels"],
                "status": "To Do",
                "fields": fields,
                "comments": [],
            }
            return httpx.Response(201, json={"id": self.issues[key]["id"], "key": key})
        match = re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)(/\w+)?", path)
        issue = self.issues.get(match.group(1)) if match else None
        if issue is None or match is None:
            return httpx.Response(404, json={"errorMessages": ["Issue does not exist"]})
        sub = match.group(2)
        if sub is None and method == "GET":
            status = {"name": issue["status"], "statusCategory": {"key": self.CATEGORY[issue["status"]]}}
            return httpx.Response(200, json={"id": issue["id"], "fields": {"status": status}})
        if sub == "/comment" and method == "GET":
            newest = list(enumerate(issue["comments"], 1))[::-1][: int(request.url.params["maxResults"])]
            listed = [{"id": str(n), "body": b} for n, b in newest]
            return httpx.Response(200, json={"comments": listed, "total": len(issue["comments"])})
        if sub == "/comment":
            issue["comments"].append(body["body"])
            return httpx.Response(201, json={"id": str(len(issue["comments"]))})
        if sub == "/transitions" and method == "GET":
            offered = [
                {"id": tid, "name": name, "to": {"statusCategory": {"key": self.CATEGORY[name]}}}
                for tid, name in (("11", "To Do"), ("31", "Done"))
            ]
            return httpx.Response(200, json={"transitions": offered})
        if sub == "/transitions":
            issue["status"] = {"11": "To Do", "31": "Done"}[body["transition"]["id"]]
            return httpx.Response(204)
        return httpx.Response(405)


class FakeGitHub(VendorFake):
    SPEC = "github/api.github.com.issues-subset.json"
    ISSUES = "/repos/acme/support/issues"

    def __init__(self) -> None:
        super().__init__()
        self.issues: dict[int, dict[str, Any]] = {}

    def validate(self, request: httpx.Request) -> None:
        validate_httpx_request(self.SPEC, request)

    def route(self, request: httpx.Request, body: Any) -> httpx.Response:
        if request.url.path == self.ISSUES and request.method == "POST":
            number = len(self.issues) + 1
            self.issues[number] = {
                "id": 900 + number,
                "number": number,
                "html_url": f"https://github.com/acme/support/issues/{number}",
                "state": "open",
                "title": body["title"],
                "body": body["body"],
                "labels": [{"name": name} for name in body.get("labels", [])],
                "comments": [],
            }
            return httpx.Response(201, json=self.issues[number])
        if request.url.path == self.ISSUES:
            wanted = set(request.url.params["labels"].split(","))
            found = [i for i in self.issues.values() if wanted <= {lb["name"] for lb in i["labels"]}]
            return httpx.Response(200, json=found)
        match = re.fullmatch(rf"{self.ISSUES}/(\d+)(/comments)?", request.url.path)
        item = self.issues.get(int(match.group(1))) if match else None
        if item is None or match is None:
            return httpx.Response(404, json={"message": "Not Found"})
        if match.group(2) and request.method == "GET":
            size, page = int(request.url.params["per_page"]), int(request.url.params["page"])
            listed = [{"id": n, "body": b} for n, b in enumerate(item["comments"], 1)]
            return httpx.Response(200, json=listed[(page - 1) * size : page * size])
        if match.group(2):
            item["comments"].append(body["body"])
            return httpx.Response(201, json={"id": len(item["comments"]), "body": body["body"]})
        if request.method == "PATCH":
            item["state"] = body["state"]
        return httpx.Response(200, json=item)


class FakeLinear(VendorFake):
    """Linear's GraphQL endpoint: every document and its variables checked against the SDL."""

    def __init__(self) -> None:
        super().__init__()
        self.issues: dict[str, dict[str, Any]] = {}  # by id
        self.comments: list[dict[str, Any]] = []

    def validate(self, request: httpx.Request) -> None:
        payload = json.loads(request.content)
        validate_graphql(payload["query"], payload.get("variables"))

    def _find(self, ref: str) -> dict[str, Any] | None:
        return self.issues.get(ref) or next((i for i in self.issues.values() if i["identifier"] == ref), None)

    def route(self, request: httpx.Request, body: Any) -> httpx.Response:
        operation = re.match(r"\s*(?:query|mutation)\s+(\w+)", body["query"]).group(1)  # type: ignore[union-attr]
        v = body.get("variables") or {}
        if operation == "TeamByKey":
            data: dict[str, Any] = {"teams": {"nodes": [{"id": "team-eng", "key": v["key"]}]}}
        elif operation == "LabelsByName":
            data = {"issueLabels": {"nodes": [{"id": "label-1", "name": "ai-audit", "team": None}]}}
        elif operation == "FindIssue":
            data = {"issues": {"nodes": [self.issues[v["id"]]] if v["id"] in self.issues else []}}
        elif operation == "CreateIssue":
            wanted = v["input"]["id"]
            if wanted in self.issues:
                errors = [{"message": "Entity already exists", "extensions": {"type": "invalid input"}}]
                return httpx.Response(400, json={"errors": errors})
            number = len(self.issues) + 1
            self.issues[wanted] = {
                "id": wanted,
                "identifier": f"ENG-{number}",
                "url": f"https://linear.app/acme/issue/ENG-{number}",
                "state": {"type": "unstarted"},
                "team": {"id": v["input"]["teamId"]},
                "input": v["input"],
            }
            data = {"issueCreate": {"success": True, "issue": self.issues[wanted]}}
        elif operation == "AddComment":
            wanted = v["input"].get("id")
            if wanted and any(c.get("id") == wanted for c in self.comments):
                errors = [{"message": "Entity already exists", "extensions": {"type": "invalid input"}}]
                return httpx.Response(400, json={"errors": errors})
            self.comments.append(v["input"])
            data = {"commentCreate": {"success": True}}
        elif operation == "GetComment":
            if not any(c.get("id") == v["id"] for c in self.comments):
                errors = [{"message": "Entity not found", "extensions": {"type": "invalid input"}}]
                return httpx.Response(400, json={"errors": errors})
            data = {"comment": {"id": v["id"]}}
        elif operation == "GetIssue":
            data = {"issue": self._find(v["id"])}
        elif operation == "TeamStates":
            nodes = [{"id": f"state-{t}", "type": t, "position": 1} for t in v["types"]]
            data = {"workflowStates": {"nodes": nodes}}
        elif operation == "SetState":
            issue = self._find(v["id"])
            assert issue is not None
            issue["state"] = {"type": v["input"]["stateId"].removeprefix("state-")}
            data = {"issueUpdate": {"success": True}}
        else:  # pragma: no cover - a new operation needs a fake answer
            raise AssertionError(f"unexpected Linear operation {operation}")
        return httpx.Response(200, json={"data": data})


class FakeZendesk(VendorFake):
    SPEC = "zendesk/support-oas.tickets-subset.json"

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[dict[str, Any]] = []
        self.tags: dict[str, list[str]] = {}
        self.seen_keys: dict[str, dict[str, Any]] = {}

    def validate(self, request: httpx.Request) -> None:
        tags = request.url.path.endswith("/tags") and request.method == "PUT"
        validate_httpx_request(self.SPEC, request, body_schema=TAGS_BODY if tags else None)

    def route(self, request: httpx.Request, body: Any) -> httpx.Response:
        number = request.url.path.split("/")[4]
        if request.url.path.endswith("/tags"):
            self.tags.setdefault(number, []).extend(body["tags"])
            return httpx.Response(200, json={"tags": self.tags[number]})
        key = request.headers.get("idempotency-key")
        if key in self.seen_keys:  # Zendesk replays the first answer for a repeated key
            return httpx.Response(200, json=self.seen_keys[key])
        self.notes.append({"ticket": number, **body["ticket"]["comment"]})
        answer = {
            "ticket": {"id": int(number)},
            "audit": {"events": [{"type": "Comment", "id": len(self.notes)}]},
        }
        if key:
            self.seen_keys[key] = answer
        return httpx.Response(200, json=answer)


class FakeIntercom(VendorFake):
    SPEC = "intercom/api.intercom.io.v2.14.conversations-subset.json"

    def __init__(self) -> None:
        super().__init__()
        self.parts: dict[str, list[dict[str, Any]]] = {}

    def validate(self, request: httpx.Request) -> None:
        validate_httpx_request(self.SPEC, request)

    def route(self, request: httpx.Request, body: Any) -> httpx.Response:
        path = request.url.path
        if path == "/me":
            return httpx.Response(200, json={"type": "admin", "id": "991", "name": "Audit Bot"})
        conversation_id = path.split("/")[2]
        parts = self.parts.setdefault(conversation_id, [])
        if path.endswith("/reply"):
            author = {"type": "admin", "id": body["admin_id"]}
            parts.append(
                {
                    "type": "conversation_part",
                    "id": str(len(parts) + 1),
                    "part_type": "note",
                    "body": body["body"],
                    "author": author,
                }
            )
        listing = {"type": "conversation_part.list", "conversation_parts": parts, "total_count": len(parts)}
        return httpx.Response(
            200, json={"type": "conversation", "id": conversation_id, "conversation_parts": listing}
        )
