"""The Socket Mode adapter: Bolt's aiohttp handler, which stops taking envelopes on a stop.

The SDK's client reconnects by itself after a close frame, a `disconnect` envelope or a dead
connection (it pings every `PING_SECONDS` and reconnects when the answers stop). On a stop, an
envelope that arrives is not dispatched and not acknowledged (Slack delivers an event again;
the person who clicked sees Slack's error), while envelopes already being dispatched send their
ack; the listeners they started are tracked by `services.inflight` and finished by the server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.core.inflight import Inflight

log = logging.getLogger("auditbot")

PING_SECONDS = 5.0  # the SDK's own default; Bolt's handler would make it 10


class SocketMode(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler that can stop taking envelopes and let those in flight ack."""

    def __init__(self, app: AsyncApp, app_token: str, inflight: Inflight) -> None:
        super().__init__(app, app_token, ping_interval=PING_SECONDS)
        self.inflight = inflight
        self._dispatching: set[asyncio.Task] = set()  # type: ignore[type-arg]

    async def handle(self, client: Any, req: Any) -> None:
        if self.inflight.stopping:
            log.info("stopping: envelope %s (%s) not taken", req.envelope_id, req.type)
            return
        task = asyncio.current_task()
        if task is not None:
            self._dispatching.add(task)
        try:
            await super().handle(client, req)
        finally:
            self._dispatching.discard(task)  # type: ignore[arg-type]

    async def finish_acks(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until every envelope being dispatched has been acknowledged."""
        pending = {t for t in self._dispatching if not t.done()}
        if pending:
            await asyncio.wait(pending, timeout=timeout)
