"""The Socket Mode side of the fake Slack: the WebSocket that `apps.connections.open` points at.

Like Slack's, it sends `hello` on each new connection, delivers envelopes (`events_api`,
`interactive`, `slash_commands`), and expects each one acknowledged with its `envelope_id`
within 3 s. It can drop the connection the three ways Slack's does: a close frame, a
`disconnect` envelope (`refresh_requested`), and a TCP reset. Runs on the fake's own loop and
thread; the `async` methods here are called from the test's loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

ACK_DEADLINE_S = 3.0
APP_ID = "A0FAKEAPP"


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float  # from sending the envelope to its ack


@dataclass
class _Connection:
    number: int
    ws: web.WebSocketResponse
    transport: Any
    # envelope id -> futures waiting for its acks, oldest first (Slack may deliver one id again)
    acks: dict[str, list[asyncio.Future]] = field(default_factory=dict)  # type: ignore[type-arg]


class SocketModeServer:
    """The WebSocket end of Socket Mode; `FakeSlack.socket` is one of these."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._numbers = itertools.count(1)
        self._envelopes = itertools.count(1)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.base_url = ""
        self.unacked: list[str] = []  # envelopes sent and never acknowledged in time
        self.late: list[Ack] = []  # acknowledged, but after ACK_DEADLINE_S

    def url(self) -> str:
        """What apps.connections.open hands out (a fresh ticket each time, as Slack's does)."""
        return f"{self.base_url.replace('http', 'ws', 1)}/link/?ticket={next(self._numbers)}&app_id={APP_ID}"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/link/", self._handle)

    # -- the test's side (called from another loop) -----------------------------------------

    @property
    def opened(self) -> int:
        """How many connections the app has opened so far."""
        with self._lock:
            return len(self._connections)

    def live(self) -> int:
        """How many connections are open now."""
        with self._lock:
            return sum(not c.ws.closed for c in self._connections)

    async def wait_connected(self, count: int = 1, timeout: float = 30) -> None:
        """Until the app has opened `count` connections (in all) and one of them is open."""
        deadline = time.monotonic() + timeout
        while not (self.opened >= count and self.live()):
            if time.monotonic() > deadline:
                raise AssertionError(f"the app opened {self.opened} connection(s), not {count}")
            await asyncio.sleep(0.02)

    async def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
    ) -> Ack:
        """Send one envelope on the newest open connection; its ack, within 3 s or fail."""
        envelope = {
            "envelope_id": envelope_id or f"env-{next(self._envelopes):06d}",
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason="timeout" if retry_attempt else "")
        return await self._call(self._send(envelope))

    async def drop(self, how: str) -> None:
        """End the newest connection: "close" (a close frame), "disconnect" (Slack's envelope
        asking the app to reconnect), or "reset" (the TCP connection aborted with an RST)."""
        await self._call(self._drop(how))

    async def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self.loop is not None, "the fake is not running"
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    # -- the fake's side (its own loop) -----------------------------------------------------

    def _newest(self) -> _Connection:
        with self._lock:
            open_ = [c for c in self._connections if not c.ws.closed]
        if not open_:
            raise AssertionError("no Socket Mode connection is open")
        return open_[-1]

    async def _send(self, envelope: dict[str, Any]) -> Ack:
        connection = self._newest()
        envelope_id = envelope["envelope_id"]
        waiting = asyncio.get_running_loop().create_future()
        connection.acks.setdefault(envelope_id, []).append(waiting)
        started = time.monotonic()
        await connection.ws.send_str(json.dumps(envelope))
        try:
            payload = await asyncio.wait_for(asyncio.shield(waiting), ACK_DEADLINE_S * 3)
        except TimeoutError:
            self.unacked.append(envelope_id)
            raise AssertionError(
                f"envelope {envelope_id} ({envelope['type']}) was never acknowledged"
            ) from None
        finally:
            if waiting in connection.acks.get(envelope_id, []):
                connection.acks[envelope_id].remove(waiting)
        ack = Ack(envelope_id, payload, time.monotonic() - started)
        if ack.seconds > ACK_DEADLINE_S:
            self.late.append(ack)
        return ack

    async def _drop(self, how: str) -> None:
        connection = self._newest()
        if how == "close":
            await connection.ws.close(code=1001, message=b"going away")
        elif how == "disconnect":
            message = {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}}
            await connection.ws.send_str(json.dumps(message))
        elif how == "reset":
            raw = connection.transport.get_extra_info("socket")
            if raw is not None:  # linger 0: close() sends an RST instead of a FIN
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.transport.abort()
        else:
            raise ValueError(how)

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._lock:
            connection = _Connection(len(self._connections) + 1, ws, request.transport)
            self._connections.append(connection)
        hello = {
            "type": "hello",
            "num_connections": self.live(),
            "debug_info": {"host": "fake-socket", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        await ws.send_str(json.dumps(hello))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            ack = json.loads(message.data)
            waiters = [w for w in connection.acks.get(ack.get("envelope_id"), []) if not w.done()]
            if waiters:
                waiters[0].set_result(ack.get("payload"))
        return ws
