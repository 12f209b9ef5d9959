"""Work this process has acknowledged and not finished yet, so that a stop finishes it first.

Listener bodies that run after Slack's ack, background deliveries they start and scheduled job
runs each register their task here. On SIGTERM the server sets `stopping` (no new work is taken),
then `drain`s: it waits for every registered task, including tasks registered while it waits,
until none is left or the deadline passes, and only then cancels what is still running.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("auditbot.inflight")

CANCEL_GRACE = 2.0  # seconds a cancelled task gets to run its `finally` (lease releases)


class Inflight:
    """The set of running tasks that hold acknowledged work."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()  # type: ignore[type-arg]
        self.stopping = False

    def add(self, task: asyncio.Task | None = None) -> None:  # type: ignore[type-arg]
        """Register `task` (default: the running one) until it is done."""
        task = task or asyncio.current_task()
        if task is None or task.done():
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> int:
        """Wait for every registered task (new ones too) up to `timeout` s; cancel the rest.

        Returns how many had to be cancelled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        me = asyncio.current_task()
        while pending := {t for t in self._tasks if t is not me and not t.done()}:
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.wait(pending, timeout=left)
        late = {t for t in self._tasks if t is not me and not t.done()}
        for task in late:
            task.cancel()
        if late:
            log.error("stop deadline passed: cancelled %d unfinished task(s)", len(late))
            await asyncio.wait(late, timeout=CANCEL_GRACE)
        return len(late)
