"""Jira Cloud (REST v3, ADF bodies) as an IssueTracker, plus its webhook signature check and parser.

Exactly once: every issue carries the group's marker as a label (whitespace becomes "-", since
Jira labels cannot hold spaces). `create_issue` first searches `POST /rest/api/3/search/jql` for
`labels = "<marker>"` in the project and returns a match instead of creating, so a retry after a
lost answer finds the issue it already made.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from integrations.base import (
    Delivery,
    IssueDraft,
    IssueRef,
    IssueState,
    PermanentError,
    Section,
    effect_ref,
    epoch_ms,
    hmac_sha256_matches,
)
from integrations.http import Sleep, make_client, send

VENDOR = "jira"
TEXT_LIMIT = 32767  # Jira's cap on a rich-text field, counted in characters of text
SUMMARY_LIMIT = 255
LABEL_LIMIT = 255
COMMENTS_READ = 100  # newest comments searched for a retried comment's ref
ELLIPSIS = "…"
# Control characters other than tab/newline make Jira reject the whole document.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Node = dict[str, Any]


class JiraTracker:
    """Issues in Jira Cloud, authenticated with an account email and API token."""

    name = "jira"

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        *,
        issue_type: str = "Task",
        done_transition_names: Sequence[str] = ("Done", "Resolved", "Closed"),
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._issue_type = issue_type
        self._done_names = [name.casefold() for name in done_transition_names]
        self._sleep = sleep
        self._client = make_client(
            self._base_url,
            headers={"Accept": "application/json"},
            auth=(email, api_token),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await send(self._client, method, url, vendor=VENDOR, sleep=self._sleep, **kwargs)
        return response.json() if response.content else None

    def _ref(self, key: str, issue_id: Any = None) -> IssueRef:
        return IssueRef(key=key, url=f"{self._base_url}/browse/{key}", id=str(issue_id) if issue_id else None)

    async def find_issue(self, *, marker: str, project: str | None = None) -> IssueRef | None:
        """The issue labelled with `marker` (in `project` when given), whatever its status."""
        jql = f"labels = {_jql_string(_label(marker))}"
        if project:
            jql = f"project = {_jql_string(project)} AND {jql}"
        found = await self._call(
            "POST",
            "/rest/api/3/search/jql",
            json={"jql": f"{jql} ORDER BY created ASC", "maxResults": 1, "fields": ["summary"]},
        )
        issues = (found or {}).get("issues") or []
        return self._ref(issues[0]["key"], issues[0].get("id")) if issues else None

    async def create_issue(self, draft: IssueDraft, *, idempotency_key: str) -> IssueRef:
        """Create the issue unless one with the draft's marker exists (then return that)."""
        if not draft.project:
            raise PermanentError("a Jira issue needs a project key (routing.project)", vendor=VENDOR)
        existing = await self.find_issue(marker=draft.marker, project=draft.project)
        if existing is not None:
            return existing
        labels = [_label(label) for label in draft.labels if label.strip()]
        fields = {
            "project": {"key": draft.project},
            "summary": _summary(draft.title),
            "issuetype": {"name": self._issue_type},
            "labels": list(dict.fromkeys([*labels, _label(draft.marker)])),
            "description": build_adf(draft.sections, draft.links),
        }
        # One attempt only: a create whose answer was lost may have happened, so the retry must
        # be the caller's (the outbox's), which searches for the marker again first.
        created = await self._call("POST", "/rest/api/3/issue", json={"fields": fields}, attempts=1)
        return self._ref(created["key"], created.get("id"))

    async def add_comment(
        self, issue: IssueRef, sections: Sequence[Section], *, key: str | None = None, retry: bool = False
    ) -> None:
        """Comment, ending with the effect's ref; a retry first looks for that ref among the
        issue's newest comments (the answer to the first try may have been lost)."""
        url = f"/rest/api/3/issue/{issue.key}/comment"
        if key is not None:
            ref = effect_ref(key)
            if retry and await self._has_comment(url, ref):
                return
            sections = [*sections, Section("", ref)]
        # One attempt only: a comment whose answer was lost may exist; the outbox retries, looking first.
        await self._call("POST", url, json={"body": build_adf(sections, ())}, attempts=1 if key else 4)

    async def _has_comment(self, url: str, ref: str) -> bool:
        found = await self._call("GET", url, params={"orderBy": "-created", "maxResults": COMMENTS_READ})
        return any(ref in _adf_text(c.get("body")) for c in (found or {}).get("comments") or [])

    async def get_state(self, issue: IssueRef) -> IssueState:
        found = await self._call("GET", f"/rest/api/3/issue/{issue.key}", params={"fields": "status"})
        category = found["fields"]["status"]["statusCategory"]["key"]
        return "done" if category == "done" else "open"

    async def set_state(self, issue: IssueRef, state: IssueState) -> None:
        """Apply a workflow transition into a done (or not-done) status category."""
        if await self.get_state(issue) == state:
            return  # already there: a retried call must not transition twice
        url = f"/rest/api/3/issue/{issue.key}/transitions"
        available = (await self._call("GET", url))["transitions"]
        transition = self._pick(available, state)
        if transition is None:
            raise PermanentError(f"no transition to a {state} status for {issue.key}", vendor=VENDOR)
        await self._call("POST", url, json={"transition": {"id": str(transition["id"])}})

    def _pick(self, transitions: list[dict], state: IssueState) -> dict | None:
        def category(t: dict) -> str:
            return ((t.get("to") or {}).get("statusCategory") or {}).get("key", "")

        if state == "done":
            fitting = [t for t in transitions if category(t) == "done"]
            named = {t.get("name", "").casefold(): t for t in fitting}
            preferred = [named[name] for name in self._done_names if name in named]
            return (preferred or fitting or [None])[0]
        # Reopening: prefer "To Do" ("new") over "In Progress" ("indeterminate").
        fitting = [t for t in transitions if category(t) in ("new", "indeterminate")]
        fitting.sort(key=lambda t: category(t) != "new")
        return fitting[0] if fitting else None


def from_settings(settings: Any) -> JiraTracker | None:
    """A tracker when JIRA_URL, JIRA_EMAIL and JIRA_API_TOKEN are set, else None."""
    if not (settings.jira_url and settings.jira_email and settings.jira_api_token):
        return None
    return JiraTracker(settings.jira_url, settings.jira_email, settings.jira_api_token)


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Check an admin webhook's `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`."""
    return hmac_sha256_matches(secret, body, header, prefix="sha256=")


def parse_webhook(body: dict) -> tuple[str, IssueState] | None:
    """(issue key, state) from a `jira:issue_updated` delivery; None for anything else."""
    if body.get("webhookEvent") != "jira:issue_updated":
        return None
    issue = body.get("issue") or {}
    status = (issue.get("fields") or {}).get("status") or {}
    category = (status.get("statusCategory") or {}).get("key")
    if not issue.get("key") or not category:
        return None
    return str(issue["key"]), "done" if category == "done" else "open"


def webhook_delivery(headers: Mapping[str, str], body: dict) -> Delivery:
    """`X-Atlassian-Webhook-Identifier` (unchanged across Jira's retries) and the event's `timestamp`."""
    at = epoch_ms(body.get("timestamp"))
    return Delivery(id=headers.get("x-atlassian-webhook-identifier"), sent_at=at, event_at=at)


def build_adf(sections: Sequence[Section], links: Sequence[tuple[str, str]]) -> Node:
    """An ADF doc: heading + paragraphs (or a blockquote) per section, then a list of links."""
    budget = [TEXT_LIMIT]
    content: list[Node] = []
    for section in sections:
        heading = _clip(" ".join(section.heading.split()), budget)
        if heading:
            content.append({"type": "heading", "attrs": {"level": 3}, "content": [_text(heading)]})
        paragraphs = [_paragraph(_clip(p, budget)) for p in _paragraphs(section.text)]
        paragraphs = [p for p in paragraphs if p["content"]]
        if paragraphs and section.quote:
            content.append({"type": "blockquote", "content": paragraphs})
        else:
            content.extend(paragraphs)
    items = [_link_item(label, url, budget) for label, url in links]
    items = [item for item in items if item]
    if items:
        content.append({"type": "bulletList", "content": items})
    return {"type": "doc", "version": 1, "content": content}


def _adf_text(node: Any) -> str:
    """All the text of an ADF node, concatenated."""
    if isinstance(node, dict):
        return str(node.get("text") or "") + "".join(_adf_text(c) for c in node.get("content") or [])
    return ""


def _paragraphs(text: str) -> list[str]:
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _paragraph(text: str) -> Node:
    # Single newlines inside a paragraph become hard breaks; empty text nodes are invalid ADF.
    inline: list[Node] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            inline.append({"type": "hardBreak"})
        if line:
            inline.append(_text(line))
    while inline and inline[-1]["type"] == "hardBreak":
        inline.pop()
    return {"type": "paragraph", "content": inline}


def _link_item(label: str, url: str, budget: list[int]) -> Node | None:
    label = _clip(" ".join(_CONTROL.sub("", label).split()) or url.strip(), budget)
    if not label:
        return None
    node = _text(label)
    if re.match(r"https?://\S+$", url.strip()):  # only plain web links become links
        node["marks"] = [{"type": "link", "attrs": {"href": url.strip()}}]
    return {"type": "listItem", "content": [{"type": "paragraph", "content": [node]}]}


def _text(text: str) -> Node:
    return {"type": "text", "text": text}


def _clip(text: str, budget: list[int]) -> str:
    """Spend from the shared character budget; the piece that runs out ends with "…"."""
    if budget[0] <= 0:
        return ""
    if len(text) > budget[0]:
        text = text[: max(budget[0] - len(ELLIPSIS), 0)] + ELLIPSIS
    budget[0] -= len(text)
    return text


def _summary(title: str) -> str:
    title = " ".join(_CONTROL.sub("", title).split()) or "auditbot defect"
    return title if len(title) <= SUMMARY_LIMIT else title[: SUMMARY_LIMIT - 1] + ELLIPSIS


def _label(marker: str) -> str:
    label = "-".join(marker.split())[:LABEL_LIMIT]
    if not label:
        raise PermanentError("an issue marker must not be empty", vendor=VENDOR)
    return label


def _jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
