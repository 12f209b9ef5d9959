"""GitHub Issues as an IssueTracker (REST v3), plus its webhook signature check and parser.

Exactly once: every issue carries the group's marker as a label. `create_issue` first lists
`GET /repos/{o}/{r}/issues?labels=<marker>&state=all` and returns a match instead of creating,
so a retry after a lost answer finds the issue it already made.
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
    hmac_sha256_matches,
    iso_time,
)
from integrations.http import Sleep, make_client, send

VENDOR = "github"
BODY_LIMIT = 65536  # GitHub rejects issue and comment bodies longer than this
TITLE_LIMIT = 256
PER_PAGE = 100
COMMENT_PAGES = 10  # a retried comment's ref is looked for in the first 1,000 comments
ELLIPSIS = "…"
ZWJ = "\u200d"

# Every ASCII character CommonMark/GFM may read as markup; a backslash makes it literal.
_MARKUP = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~&^=$])")
_ORDERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)
_MENTION = re.compile(r"@(?=\w)")


class GitHubTracker:
    """Issues in one repository, authenticated with a token."""

    name = "github"

    def __init__(
        self,
        api_url: str = "https://api.github.com",
        token: str = "",
        repo: str = "",
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"GITHUB_REPO must look like 'owner/name', got {repo!r}")
        self._path = f"/repos/{owner}/{name}/issues"
        self._sleep = sleep
        self._client = make_client(
            api_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await send(self._client, method, url, vendor=VENDOR, sleep=self._sleep, **kwargs)
        return response.json()

    async def find_issue(self, *, marker: str, project: str | None = None) -> IssueRef | None:
        """The issue labelled with `marker`, open or closed (`project` is unused on GitHub)."""
        items = await self._call(
            "GET", self._path, params={"labels": _label(marker), "state": "all", "per_page": 10}
        )
        for item in items:
            if "pull_request" not in item:  # this endpoint also lists pull requests
                return _ref(item)
        return None

    async def create_issue(self, draft: IssueDraft, *, idempotency_key: str) -> IssueRef:
        """Create the issue unless one with the draft's marker exists (then return that)."""
        existing = await self.find_issue(marker=draft.marker)
        if existing is not None:
            return existing
        labels = list(dict.fromkeys([*draft.labels, _label(draft.marker)]))
        body = {
            "title": _title(draft.title),
            "body": render_markdown(draft.sections, draft.links, limit=BODY_LIMIT),
            "labels": labels,
        }
        # One attempt only: a create whose answer was lost may have happened, so the retry must
        # be the caller's (the outbox's), which searches for the marker again first.
        return _ref(await self._call("POST", self._path, json=body, attempts=1))

    async def add_comment(
        self, issue: IssueRef, sections: Sequence[Section], *, key: str | None = None, retry: bool = False
    ) -> None:
        """Comment, ending with the effect's ref in an HTML comment (invisible); a retry first
        looks for that ref among the issue's comments (the answer to the first try may be lost)."""
        url = f"{self._path}/{issue.key}/comments"
        body = render_markdown(sections, (), limit=BODY_LIMIT - 64)
        if key is not None:
            ref = effect_ref(key)
            if retry and await self._has_comment(url, ref):
                return
            body += f"\n\n<!-- {ref} -->"
        # One attempt only when marked: a comment whose answer was lost may exist (see above).
        await self._call("POST", url, json={"body": body}, attempts=1 if key else 4)

    async def _has_comment(self, url: str, ref: str) -> bool:
        for page in range(1, COMMENT_PAGES + 1):
            found = await self._call("GET", url, params={"per_page": PER_PAGE, "page": page})
            if any(ref in (c.get("body") or "") for c in found):
                return True
            if len(found) < PER_PAGE:
                return False
        return False

    async def get_state(self, issue: IssueRef) -> IssueState:
        item = await self._call("GET", f"{self._path}/{issue.key}")
        return "done" if item.get("state") == "closed" else "open"

    async def set_state(self, issue: IssueRef, state: IssueState) -> None:
        if state == "done":
            body = {"state": "closed", "state_reason": "completed"}
        else:
            body = {"state": "open", "state_reason": "reopened"}
        await self._call("PATCH", f"{self._path}/{issue.key}", json=body)


def from_settings(settings: Any) -> GitHubTracker | None:
    """A tracker when GITHUB_TOKEN and GITHUB_REPO are set, else None."""
    if not (settings.github_token and settings.github_repo):
        return None
    return GitHubTracker(settings.github_api_url, settings.github_token, settings.github_repo)


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Check `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`."""
    return hmac_sha256_matches(secret, body, header, prefix="sha256=")


def parse_webhook(body: dict) -> tuple[str, IssueState] | None:
    """(issue number, state) from an `issues` closed/reopened delivery; None for anything else."""
    issue = body.get("issue")
    action = body.get("action")
    if not isinstance(issue, dict) or action not in ("closed", "reopened"):
        return None
    if "pull_request" in issue or issue.get("number") is None:
        return None
    return str(issue["number"]), "done" if action == "closed" else "open"


def webhook_delivery(headers: Mapping[str, str], body: dict) -> Delivery:
    """`X-GitHub-Delivery` (the same when redelivered) and the issue's `updated_at`; GitHub sends
    no time of sending."""
    issue = body.get("issue") if isinstance(body.get("issue"), dict) else {}
    return Delivery(id=headers.get("x-github-delivery"), event_at=iso_time(issue.get("updated_at")))


def render_markdown(sections: Sequence[Section], links: Sequence[tuple[str, str]], *, limit: int) -> str:
    """Markdown for untrusted section text: markup, HTML and @mentions made inert; capped at `limit`."""
    parts: list[str] = []
    for section in sections:
        if section.heading.strip():
            parts.append(f"### {_escape(_one_line(section.heading))}")
        text = _escape(section.text.strip())
        if text and section.quote:
            text = "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))
        if text:
            parts.append(text)
    items = [_link(label, url) for label, url in links]
    if any(items):
        parts.append("\n".join(f"- {item}" for item in items if item))
    return _truncate("\n\n".join(parts), limit)


def _escape(text: str) -> str:
    text = _MARKUP.sub(r"\\\1", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _ORDERED.sub(r"\1\\\2", text)  # "1." at a line start would start a list
    return _MENTION.sub("@" + ZWJ, text)  # "@\u200dname" renders as @name but pings no one


def _link(label: str, url: str) -> str:
    url = url.strip()
    if not re.match(r"https?://[^\s<>]+$", url):
        return _escape(_one_line(label))  # only plain web links become links
    return f"[{_escape(_one_line(label)) or 'link'}](<{url}>)"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    if (len(cut) - len(cut.rstrip("\\"))) % 2:  # never leave a dangling escape
        cut = cut[:-1]
    return cut + ELLIPSIS


def _title(title: str) -> str:
    title = _MENTION.sub("@" + ZWJ, _one_line(title)) or "auditbot defect"
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + ELLIPSIS


def _label(marker: str) -> str:
    label = _one_line(marker).replace(",", "-")  # a comma would split the `labels` filter
    if not label:
        raise PermanentError("an issue marker must not be empty", vendor=VENDOR)
    return label


def _ref(item: dict) -> IssueRef:
    return IssueRef(key=str(item["number"]), url=item["html_url"], id=str(item["id"]))
