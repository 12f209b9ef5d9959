"""Linear (GraphQL) as an IssueTracker, plus its webhook signature check and parser.

Exactly once: Linear lets the client choose an issue's id, so the id is derived from the group's
marker: `_issue_id(marker)` = uuid5(NAMESPACE, marker) with its version bits set to 4, because
Linear asks for "UUID v4 format". The same marker always gives the same id, so `find_issue` looks
that id up (`issues(filter: {id: {eq}})`, archived included, which answers "none" rather than an
error), and a `create_issue` retried after a lost answer either creates the issue or is refused
because the id exists, and then returns the existing issue. `idempotency_key` is not sent: the
marker already names the defect group, and one group has one issue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from integrations.base import (
    AuthError,
    Delivery,
    IntegrationError,
    IssueDraft,
    IssueRef,
    IssueState,
    PermanentError,
    Section,
    TransientError,
    epoch_ms,
    hmac_sha256_matches,
    iso_time,
)
from integrations.github import render_markdown
from integrations.http import RETRY_STATUSES, Sleep, make_client, retry_after, send

VENDOR = "linear"
NAMESPACE = uuid.UUID("6f1c2a4e-5b7d-4c1e-9a3f-2d8e0b6c4a10")  # auditbot's own; never change it
DESCRIPTION_LIMIT = 100_000  # Linear documents no cap; keep bodies far below request limits
TITLE_LIMIT = 255
DONE_TYPES = ("completed", "canceled")
OPEN_TYPES = ("unstarted", "backlog", "started")  # preference order when reopening

ISSUE_FIELDS = "id identifier url state { type } team { id }"
FIND = (
    "query FindIssue($id: ID!) { issues(filter: {id: {eq: $id}}, includeArchived: true, first: 1)"
    f" {{ nodes {{ {ISSUE_FIELDS} }} }} }}"
)
GET = f"query GetIssue($id: String!) {{ issue(id: $id) {{ {ISSUE_FIELDS} }} }}"
TEAM = "query TeamByKey($key: String!) { teams(filter: {key: {eq: $key}}) { nodes { id key } } }"
LABELS = (
    "query LabelsByName($names: [String!]!) { issueLabels(filter: {name: {in: $names}}, first: 250)"
    " { nodes { id name team { id } } } }"
)
CREATE = (
    "mutation CreateIssue($input: IssueCreateInput!) { issueCreate(input: $input)"
    f" {{ success issue {{ {ISSUE_FIELDS} }} }} }}"
)
COMMENT = "mutation AddComment($input: CommentCreateInput!) { commentCreate(input: $input) { success } }"
GET_COMMENT = "query GetComment($id: String!) { comment(id: $id) { id } }"
STATES = (
    "query TeamStates($teamId: ID!, $types: [String!]!) { workflowStates(filter:"
    " {team: {id: {eq: $teamId}}, type: {in: $types}}) { nodes { id type position } } }"
)
UPDATE = (
    "mutation SetState($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id,"
    " input: $input) { success } }"
)


def _issue_id(marker: str) -> str:
    """The issue id auditbot gives the group with this marker (deterministic, v4-shaped)."""
    return _derived_id(" ".join(marker.split()))


def _derived_id(name: str) -> str:
    """A deterministic id in UUID v4 format (what Linear asks of client-chosen ids)."""
    derived = uuid.uuid5(NAMESPACE, name)
    return str(uuid.UUID(bytes=derived.bytes, version=4))


class LinearTracker:
    """Issues in Linear, authenticated with a personal API key (sent as-is, no "Bearer")."""

    name = "linear"

    def __init__(
        self,
        api_url: str = "https://api.linear.app/graphql",
        api_key: str = "",
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._api_url = api_url
        self._sleep = sleep
        self._client = make_client(api_url, headers={"Authorization": api_key}, transport=transport)
        # GraphQL errors often come with HTTP 200 or 400; classify them inside the request so
        # `send` retries the rate-limited ones like any other transient failure.
        self._client.event_hooks = {"response": [_raise_graphql_errors]}
        self._teams: dict[str, str] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await send(
            self._client,
            "POST",
            self._api_url,
            vendor=VENDOR,
            sleep=self._sleep,
            json={"query": query, "variables": variables},
        )
        return response.json()["data"]

    async def find_issue(self, *, marker: str, project: str | None = None) -> IssueRef | None:
        """The issue whose id was derived from `marker` (`project` is implied by the id)."""
        nodes = (await self._graphql(FIND, {"id": _issue_id(marker)}))["issues"]["nodes"]
        return _ref(nodes[0]) if nodes else None

    async def create_issue(self, draft: IssueDraft, *, idempotency_key: str) -> IssueRef:
        """Create the issue under the marker's id; if that id exists, return that issue."""
        if not draft.project:
            raise PermanentError("a Linear issue needs a team key (routing.project)", vendor=VENDOR)
        wanted = _issue_id(draft.marker)
        team_id = await self._team_id(draft.project)
        issue_input: dict[str, Any] = {
            "id": wanted,
            "teamId": team_id,
            "title": _title(draft.title),
            "description": render_markdown(draft.sections, draft.links, limit=DESCRIPTION_LIMIT),
        }
        label_ids = await self._label_ids(draft.labels, team_id)
        if label_ids:
            issue_input["labelIds"] = label_ids
        try:
            created = await self._graphql(CREATE, {"input": issue_input})
        except AuthError:
            raise
        except PermanentError:
            # Most likely an earlier attempt succeeded and the id is taken: return that issue.
            existing = await self.find_issue(marker=draft.marker)
            if existing is None:
                raise
            return existing
        issue = created["issueCreate"].get("issue")
        if not created["issueCreate"]["success"] or not issue:
            raise PermanentError("Linear did not create the issue", vendor=VENDOR)
        return _ref(issue)

    async def add_comment(
        self, issue: IssueRef, sections: Sequence[Section], *, key: str | None = None, retry: bool = False
    ) -> None:
        """Comment; with `key`, under an id derived from it, so a retried comment is refused as
        existing (then confirmed) instead of posted twice."""
        body = render_markdown(sections, (), limit=DESCRIPTION_LIMIT)
        comment: dict[str, Any] = {"issueId": issue.id or issue.key, "body": body}
        if key is not None:
            comment["id"] = _derived_id(key)
        try:
            await self._graphql(COMMENT, {"input": comment})
        except AuthError:
            raise
        except PermanentError:
            if key is None or not await self._comment_exists(comment["id"]):
                raise

    async def _comment_exists(self, comment_id: str) -> bool:
        try:
            found = await self._graphql(GET_COMMENT, {"id": comment_id})
        except PermanentError:  # Linear answers "not found" as an error
            return False
        return bool((found.get("comment") or {}).get("id"))

    async def get_state(self, issue: IssueRef) -> IssueState:
        found = await self._issue(issue)
        return "done" if found["state"]["type"] in DONE_TYPES else "open"

    async def set_state(self, issue: IssueRef, state: IssueState) -> None:
        """Move the issue to its team's first completed (or unstarted) workflow state."""
        found = await self._issue(issue)
        if ("done" if found["state"]["type"] in DONE_TYPES else "open") == state:
            return
        types = ["completed"] if state == "done" else list(OPEN_TYPES)
        nodes = (await self._graphql(STATES, {"teamId": found["team"]["id"], "types": types}))[
            "workflowStates"
        ]["nodes"]
        if not nodes:
            raise PermanentError(f"no {types[0]} workflow state for {issue.key}", vendor=VENDOR)
        target = min(nodes, key=lambda n: (types.index(n["type"]), n.get("position") or 0))
        await self._graphql(UPDATE, {"id": found["id"], "input": {"stateId": target["id"]}})

    async def _issue(self, issue: IssueRef) -> dict[str, Any]:
        found = (await self._graphql(GET, {"id": issue.id or issue.key}))["issue"]
        if not found:
            raise PermanentError(f"Linear has no issue {issue.key}", vendor=VENDOR)
        return found

    async def _team_id(self, key: str) -> str:
        if key not in self._teams:
            nodes = (await self._graphql(TEAM, {"key": key}))["teams"]["nodes"]
            if not nodes:
                raise PermanentError(f"Linear has no team with key {key!r}", vendor=VENDOR)
            self._teams[key] = nodes[0]["id"]
        return self._teams[key]

    async def _label_ids(self, names: Sequence[str], team_id: str) -> list[str]:
        """Ids of existing workspace or team labels with these names; unknown names are skipped."""
        names = [name for name in dict.fromkeys(names) if name.strip()]
        if not names:
            return []
        nodes = (await self._graphql(LABELS, {"names": names}))["issueLabels"]["nodes"]
        usable = [n for n in nodes if not n.get("team") or n["team"]["id"] == team_id]
        by_name = {n["name"]: n["id"] for n in usable}
        return [by_name[name] for name in names if name in by_name]


async def _raise_graphql_errors(response: httpx.Response) -> None:
    """Turn a GraphQL `errors` answer into TransientError (rate limited) or PermanentError."""
    if response.status_code in (401, 403) or response.status_code in RETRY_STATUSES:
        return  # `send` maps these by status (and retries the transient ones)
    if "json" not in response.headers.get("content-type", ""):
        return
    await response.aread()
    try:
        errors = response.json().get("errors")
    except ValueError:
        return
    if errors:
        raise _classify(errors, response)


def _classify(errors: list[dict], response: httpx.Response) -> IntegrationError:
    kinds = {
        str(value).lower()
        for error in errors
        for value in ((error.get("extensions") or {}).get(k) for k in ("type", "code"))
        if value
    }
    message = "; ".join(str(e.get("message", ""))[:200] for e in errors[:3])
    detail = f"linear answered: {message}"
    if "ratelimited" in kinds:
        return TransientError(
            detail, vendor=VENDOR, status=response.status_code, retry_after=retry_after(response)
        )
    if kinds & {"authentication error", "authentication_error", "forbidden"}:
        return AuthError(detail, vendor=VENDOR, status=response.status_code)
    return PermanentError(detail, vendor=VENDOR, status=response.status_code)


def from_settings(settings: Any) -> LinearTracker | None:
    """A tracker when LINEAR_API_KEY is set, else None."""
    if not settings.linear_api_key:
        return None
    return LinearTracker(settings.linear_api_url, settings.linear_api_key)


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Check `Linear-Signature: <hex HMAC-SHA256 of the raw body>`."""
    return hmac_sha256_matches(secret, body, header)


def parse_webhook(body: dict) -> tuple[str, IssueState] | None:
    """(identifier, state) from an `Issue` delivery that carries a state; None otherwise."""
    if body.get("type") != "Issue" or body.get("action") == "remove":
        return None
    data = body.get("data") or {}
    state_type = (data.get("state") or {}).get("type")
    identifier = data.get("identifier")
    if not identifier and data.get("number") is not None and (data.get("team") or {}).get("key"):
        identifier = f"{data['team']['key']}-{data['number']}"
    if not identifier or not state_type:
        return None
    return str(identifier), "done" if state_type in DONE_TYPES else "open"


def webhook_delivery(headers: Mapping[str, str], body: dict) -> Delivery:
    """`Linear-Delivery`, the `webhookTimestamp` it was sent at, and the action's `createdAt`."""
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    event_at = iso_time(body.get("createdAt")) or iso_time(data.get("updatedAt"))
    return Delivery(
        id=headers.get("linear-delivery"), sent_at=epoch_ms(body.get("webhookTimestamp")), event_at=event_at
    )


def _title(title: str) -> str:
    title = " ".join(title.split()) or "auditbot defect"
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"


def _ref(issue: dict[str, Any]) -> IssueRef:
    return IssueRef(key=issue["identifier"], url=issue["url"], id=issue["id"])
