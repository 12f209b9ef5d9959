"""A fake OpenAI-compatible chat-completions server on a real loopback port, in its own thread.

Every request body is checked against ../shared/specs/openai/chat-completions-subset.json (a body
that breaks it gets a 400 and is listed in `problems`), and every answer against the spec's
response schema. By default it answers like a model with structured outputs: one verdict per
criterion the request asks for, "fail" where the AI reply holds the marker `judge-fail:<id>`,
"unsure" for `judge-unsure:<id>`. `script()` queues misbehaviour for the next calls (or a reply
holding `judge-behave:<behaviour>` gets it whatever the order): 429 then
success, 500, a slow answer (held until the client gives up), malformed or schema-breaking
content, a refusal, a cut answer. Latency comes from the server (`latency`, asyncio.sleep here),
never from sleeping in a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer
from tests.integrations.specs import validate_request, validate_response

SPEC = "openai/chat-completions-subset.json"
API_KEY = "sk-test-judge"
_CRITERION_LINE = re.compile(r"^- ([a-z][a-z0-9_]*): ", re.M)
_BEHAVE = re.compile(r"judge-behave:([a-z0-9_]+)")  # in a reply: this call behaves so, whatever the script
BEHAVIOURS = ("ok", "429", "500", "slow", "malformed", "schema", "refusal", "length", "extra_text")

Decide = Callable[[str, str], str]


def marker_decision(criterion: str, user_text: str) -> str:
    if f"judge-fail:{criterion}" in user_text:
        return "fail"
    if f"judge-unsure:{criterion}" in user_text:
        return "unsure"
    return "pass"


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    status: int
    behaviour: str

    @property
    def user_text(self) -> str:
        return "\n".join(
            m.get("content", "") for m in self.body.get("messages", []) if m.get("role") == "user"
        )

    @property
    def system_text(self) -> str:
        return "\n".join(
            m.get("content", "") for m in self.body.get("messages", []) if m.get("role") == "system"
        )


class FakeOpenAI(LoopbackServer):
    """`url` is the OpenAI base URL (…/v1); `azure_endpoint` serves the Azure path shape."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        latency: float = 0.0,
        decide: Decide = marker_decision,
        json_schema_supported: bool = True,
    ) -> None:
        super().__init__()
        self.api_key, self.latency, self.decide = api_key, latency, decide
        self.json_schema_supported = json_schema_supported
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._script: list[str] = []
        self.problems: list[str] = []
        self.in_flight = self.max_in_flight = 0
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def azure_endpoint(self) -> str:
        return self.base_url

    def script(self, *behaviours: str) -> None:
        """The next calls behave like this, in order; then "ok" again."""
        unknown = [b for b in behaviours if b not in BEHAVIOURS]
        assert not unknown, f"unknown behaviours {unknown}; use {BEHAVIOURS}"
        with self._lock:
            self._script.extend(behaviours)

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._calls)

    # -- server -----------------------------------------------------------------------------

    thread_name = "fake-openai"
    runner_options = {"handler_cancellation": True}  # a client that gave up ends its held answer

    def _app(self) -> web.Application:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._handle)
        return app

    async def _closing(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = dict(request.headers)
        key = headers.get("api-key") or headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        shown = {
            k: ("[redacted]" if k.lower() in ("authorization", "api-key") else v) for k, v in headers.items()
        }
        with self._lock:
            behaviour = self._script.pop(0) if self._script else "ok"
            marked = _BEHAVE.search(raw.decode(errors="replace"))
            behaviour = marked.group(1) if marked else behaviour
            call = Call(request.path, shown, body, raw, 0, behaviour)  # status 0: no answer (yet)
            self._calls.append(call)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            status, answer, extra = await self._answer(request, body, key, behaviour)
        finally:
            with self._lock:
                self.in_flight -= 1
        call.status = status
        return web.json_response(answer, status=status, headers=extra)

    async def _answer(
        self, request: web.Request, body: dict[str, Any], key: str, behaviour: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            validate_request(SPEC, "POST", "/chat/completions", {}, body)
        except AssertionError as exc:
            with self._lock:
                self.problems.append(str(exc))
            return 400, _error("invalid_request_error", str(exc)[:500]), {}
        if key != self.api_key:
            return 401, _error("invalid_api_key", "Incorrect API key provided."), {}
        fmt = (body.get("response_format") or {}).get("type")
        if fmt == "json_schema" and not self.json_schema_supported:
            message = "response_format type 'json_schema' is not supported by this server"
            return 400, _error("invalid_request_error", message), {}
        if self.latency:
            await self._wait(self.latency)
        if behaviour == "429":
            return 429, _error("rate_limit_exceeded", "Rate limit reached"), {"retry-after-ms": "1"}
        if behaviour == "500":
            return 500, _error("server_error", "The server had an error"), {"retry-after-ms": "1"}
        if behaviour == "slow":
            await self._wait(3600)  # until the client gives up (or the fake stops)
        answer = self._completion(body, behaviour)
        validate_response(SPEC, "POST", "/chat/completions", 200, answer)
        return 200, answer, {}

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)  # type: ignore[union-attr]

    def _completion(self, body: dict[str, Any], behaviour: str) -> dict[str, Any]:
        user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
        system = "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")
        ids = requested_criteria(body, system)
        verdicts = {
            name: {
                "verdict": (verdict := self.decide(name, user)),
                "rationale": f"The reply {'meets' if verdict == 'pass' else 'misses'} {name}.",
                "evidence": "",
            }
            for name in ids
        }
        content: str | None = json.dumps({"criteria": verdicts})
        refusal, finish = None, "stop"
        if behaviour == "malformed":
            content = '{"criteria": {"answers_question": {"verdict": "pa'
        elif behaviour == "schema":
            content = json.dumps({"criteria": {"made_up": {"verdict": "maybe", "rationale": 1}}})
        elif behaviour == "refusal":
            content, refusal = None, "I can't help with that."
        elif behaviour == "length":
            content, finish = content[:40], "length"
        elif behaviour == "extra_text":
            content = "Sure! Here is the audit:\n" + content
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1764000000,
            "model": body.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": refusal,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": len(json.dumps(body["messages"])) // 4,
                "completion_tokens": len(content or "") // 4,
                "total_tokens": len(json.dumps(body["messages"])) // 4 + len(content or "") // 4,
            },
        }


def requested_criteria(body: dict[str, Any], system: str) -> list[str]:
    """The criterion ids a request asks for: from its JSON schema, else from the prompt's list."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = copy.deepcopy(fmt["json_schema"]["schema"])
        return list(schema["properties"]["criteria"]["properties"])
    return _CRITERION_LINE.findall(system)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "param": None, "code": code}}
