"""Bounded waits for work the app does after the ack or in the background (never fixed sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

WAIT_SECONDS = 30
POLL_SECONDS = 0.01


async def until(condition: Callable[[], object], what: str, timeout: float = WAIT_SECONDS) -> None:
    """Return as soon as `condition()` holds; fail naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


async def drain(timeout: float = WAIT_SECONDS) -> None:
    """Wait until every other task on the loop (listeners started after an ack) has finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending := [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]:
        if loop.time() > deadline:
            raise AssertionError(f"{len(pending)} listener tasks still running")
        await asyncio.wait(pending, timeout=deadline - loop.time())
