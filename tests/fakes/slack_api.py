"""A fake Slack Web API on a real loopback port, run in its own thread and event loop."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.socket_mode import SocketModeServer
from tests.fakes.workspace import SlackError, Workspace

DEFAULT_TOKEN = "xoxb-test-token"  # same as tests/conftest.py BOT_TOKEN
APP_TOKEN = "xapp-1-A0FAKEAPP-1-test"  # the app-level token apps.connections.open accepts
JSON_ARGS = ("blocks", "view", "attachments", "metadata", "files")
REDACTED = "[redacted]"


@dataclass
class Call:
    """One request the fake received: what was asked and what it answered."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


@dataclass
class _Fault:
    status: int
    error: str
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    performed: bool = False  # the call takes effect, only the answer is an error
    hang_up: bool = False  # no answer at all: the connection is cut (after performing, if performed)


class FakeSlack(LoopbackServer):
    """Loopback Slack: `url` is the `SLACK_API_URL`; helpers read what the app did."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = "T0FAKETEAM",
        bot_user_id: str = "U0AUDITBOT",
        bot_id: str = "B0AUDITBOT",
        users: Iterable[Mapping[str, str]] = (),
        usergroups: Mapping[str, Iterable[str]] | None = None,
        channels: Iterable[str] = (),
        single_use_triggers: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.app_token = app_token
        self.socket = SocketModeServer()  # the WebSocket apps.connections.open points at
        self._lock = threading.RLock()
        self.workspace = Workspace(
            team_id=team_id,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            channels=set(channels),
            single_use_triggers=single_use_triggers,
        )
        for user in users:
            self.add_user(**user)
        for group, members in (usergroups or {}).items():
            self.add_usergroup(group, members)
        self._calls: list[Call] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._latency: dict[str, float] = {}
        self._held: dict[str, float] = {}  # a message's text -> seconds its post is held

    @property
    def url(self) -> str:
        """Web API base URL, e.g. `http://127.0.0.1:PORT/api/`."""
        return f"{self.base_url}/api/"

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    # -- configuration ----------------------------------------------------------------------

    def add_user(self, id: str, name: str, real_name: str = "", tz: str = "UTC") -> None:
        """Make users.info know a user."""
        with self._lock:
            self.workspace.add_user(id, name, real_name, tz)

    def add_usergroup(self, usergroup: str, user_ids: Iterable[str]) -> None:
        """Make usergroups.users.list answer `user_ids` for `usergroup`."""
        with self._lock:
            self.workspace.usergroups[usergroup] = list(user_ids)

    def add_channel(self, channel: str) -> None:
        """Know `channel`; once any is added, every other channel is channel_not_found."""
        with self._lock:
            self.workspace.channels.add(channel)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` ("*" = any) with 429 and Retry-After."""
        fault = _Fault(429, "ratelimited", times, {"Retry-After": str(retry_after)})
        self._add_fault(method, fault)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `ok: false` and `error`."""
        self._add_fault(method, _Fault(200, error, times))

    def server_error(self, method: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with an HTTP 5xx."""
        self._add_fault(method, _Fault(status, "internal_error", times))

    def lose_answer(self, method: str, times: int = 1) -> None:
        """Carry out the next `times` calls of `method`, but answer HTTP 500 as if it had failed.

        The ambiguous case a sender must survive: Slack did post the message, the caller never
        learnt its ts."""
        self._add_fault(method, _Fault(500, "internal_error", times, performed=True))

    def hang_up(self, method: str, times: int = 1, *, performed: bool = True) -> None:
        """Carry out the next `times` calls of `method` (unless `performed=False`), then cut the
        connection without answering: the caller cannot know whether it happened."""
        self._add_fault(method, _Fault(0, "", times, performed=performed, hang_up=True))

    def slow_down(self, method: str, seconds: float) -> None:
        """Answer every call of `method` only after `seconds` (a slow Slack; 0 to undo)."""
        with self._lock:
            self._latency[method] = seconds

    def hold(self, text: str, seconds: float) -> None:
        """Answer (and carry out) a call whose `text` argument is `text` only after `seconds`: one
        slow post, which a post sent after it may overtake."""
        with self._lock:
            self._held[text] = seconds

    def use_clock(self, now: Callable[[], dt.datetime]) -> None:
        """Hand out message ts from `now` (Slack's ts is the time of posting), still unique."""
        with self._lock:
            self.workspace.now = now

    def limit_history(self, cap: int) -> None:
        """Cap conversations.history's `limit`, as Slack does (15 for non-Marketplace apps)."""
        with self._lock:
            self.workspace.history_cap = cap

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    # -- what happened ----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Every call received (oldest first), optionally only of `method`."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method in (None, c.method)]

    def last(self, method: str) -> Call:
        """The latest call of `method`; LookupError if there was none."""
        found = self.calls(method)
        if not found:
            raise LookupError(f"fake Slack received no {method} call")
        return found[-1]

    def messages(self, channel: str, include_replies: bool = False) -> list[dict[str, Any]]:
        """Messages in `channel` as they are now (after updates), oldest first."""
        with self._lock:
            posted = self.workspace.messages.get(channel, [])
            return copy.deepcopy(
                [m for m in posted if include_replies or m.get("thread_ts") in (None, m["ts"])]
            )

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """One message by (channel, ts); LookupError if absent."""
        with self._lock:
            found = self.workspace.find(channel, ts)
            if found is None:
                raise LookupError(f"no message {ts} in {channel}")
            return copy.deepcopy(found)

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The replies under the message `ts` in `channel`, oldest first (parent excluded)."""
        with self._lock:
            return copy.deepcopy(self.workspace.replies(channel, ts))

    def ephemerals(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages (each with `channel` and `user`), optionally in one channel."""
        with self._lock:
            posted = self.workspace.ephemerals
            return copy.deepcopy([m for m in posted if channel in (None, m["channel"])])

    def views(self) -> list[dict[str, Any]]:
        """Every modal/home view opened, updated or published, as currently stored."""
        with self._lock:
            return copy.deepcopy(list(self.workspace.views.values()))

    def view(self, view_id: str) -> dict[str, Any]:
        """One stored view by id."""
        with self._lock:
            return copy.deepcopy(self.workspace.views[view_id])

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab last published for `user_id`, if any."""
        with self._lock:
            view_id = self.workspace.homes.get(user_id)
            return copy.deepcopy(self.workspace.views[view_id]) if view_id else None

    def files(self) -> list[dict[str, Any]]:
        """Files announced with files.getUploadURLExternal; `content` holds the uploaded bytes."""
        with self._lock:
            return copy.deepcopy(list(self.workspace.files.values()))

    def reset(self) -> None:
        """Forget calls, messages, views, files and pending faults; keep users and config."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self.workspace.clear()

    # -- server -----------------------------------------------------------------------------

    thread_name = "fake-slack"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        self.socket.routes(app)
        return app

    async def _serve(self) -> None:
        await super()._serve()
        self.socket.base_url, self.socket.loop = self.base_url, asyncio.get_running_loop()

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, bad_json = await _read_args(request)
        if self._latency.get(method):
            await asyncio.sleep(self._latency[method])
        if self._held.get(str(args.get("text"))):
            await asyncio.sleep(self._held[str(args.get("text"))])
        headers = {k: (REDACTED if k.lower() == "authorization" else v) for k, v in request.headers.items()}
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or str(args.pop("token", ""))
        args.pop("token", None)
        status, extra, body = 200, {}, {"ok": False}
        with self._lock:
            fault = self._next_fault(method) if token in (self.token, self.app_token) else None
            if method == "apps.connections.open":  # the only method that takes the app token
                body = self._connections_open(token)
            elif not token:
                body["error"] = "not_authed"
            elif token != self.token:
                body["error"] = "not_allowed_token_type" if token == self.app_token else "invalid_auth"
            elif fault is not None and fault.hang_up and not fault.performed:
                pass
            elif fault is not None and not fault.performed:
                status, extra, body["error"] = fault.status, fault.headers, fault.error
            elif bad_json:
                body["error"] = "invalid_blocks_format" if "blocks" in bad_json else "invalid_json"
            else:
                try:
                    body = self.workspace.call(method, args, self.base_url)
                except SlackError as error:
                    body["error"] = error.error
                    if error.messages:
                        body["response_metadata"] = {"messages": error.messages}
                if fault is not None and not fault.hang_up:  # done, but the caller hears of a failure
                    status, extra, body = fault.status, fault.headers, {"ok": False, "error": fault.error}
            if fault is not None and fault.hang_up:
                self._calls.append(Call(method, args, headers, 0, {"hung_up": True, **body}))
            else:
                self._calls.append(Call(method, args, headers, status, copy.deepcopy(body)))
        if fault is not None and fault.hang_up:
            assert request.transport is not None
            request.transport.abort()  # the client reads a closed connection; this answer goes nowhere
        return web.json_response(body, status=status, headers=extra)

    def _connections_open(self, token: str) -> dict[str, Any]:
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token == self.token:
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, "url": self.socket.url()}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        with self._lock:
            stored = self.workspace.files.get(request.match_info["file_id"])
            if stored is None:
                return web.Response(status=404, text="file not found")
            stored["content"] = data
        return web.Response(text=f"OK - {len(data)}")

    def _next_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
                return fault
        return None


async def _read_args(request: web.Request) -> tuple[dict[str, Any], list[str]]:
    """Arguments from query, form or JSON body; JSON-in-form fields decoded."""
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json" and request.can_read_body:
        body = await request.json()
        if isinstance(body, dict):
            args.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    bad_json = []
    for key in JSON_ARGS:
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                bad_json.append(key)
    return args, bad_json
