"""The end-to-end rig of the handler tests: the real app behind signed requests, the fake Slack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import sqlalchemy as sa

from bot.core.services import build_client
from bot.core.settings import Settings
from bot.views import ids
from tests.bot.seed_reviews import seed_items
from tests.fakes.signing import SlackSigner, block_actions_payload
from tests.fakes.slack_api import FakeSlack

WAIT_SECONDS = 10


@dataclass
class Rig:
    http: httpx.AsyncClient
    signer: SlackSigner
    fake: FakeSlack
    db: object
    setup_calls: int = 0

    def calls(self, method: str | None = None) -> list:  # type: ignore[type-arg]
        """What the app asked of Slack (the test's own set-up posts left out)."""
        return [c for c in self.fake.calls()[self.setup_calls :] if method in (None, c.method)]

    async def click(self, action_id: str, item_id: int, user: str = "U0REV1", **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
        """A click on the item's own message (its stored ts), unless `message_ts` says otherwise."""
        if "message_ts" not in kw:
            kw["message_ts"] = await item_ts(self, item_id) or "1700000000.000100"
        payload = block_actions_payload(action_id, str(item_id), user_id=user, **kw)
        return await self.signer.interaction(payload)

    async def count(self, model, *where) -> int:  # type: ignore[no-untyped-def]
        async with self.db.session() as session:  # type: ignore[attr-defined]
            stmt = sa.select(sa.func.count()).select_from(model).where(*where)
            return (await session.execute(stmt)).scalar_one()


async def until(condition: Callable[[], object], what: str) -> None:
    """Wait (bounded) for a listener that runs after the ack to have done something."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def drain() -> None:
    """Wait (bounded) until every listener task started by the app has finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        if not pending:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{len(pending)} listener tasks still running")
        await asyncio.wait(pending, timeout=deadline - loop.time())


async def posted_items(rig: Rig, count: int = 1, **kw) -> list[int]:  # type: ignore[no-untyped-def]
    """Sample items whose messages exist in the fake's audit channel."""
    client = build_client(
        Settings(_env_file=None, slack_bot_token=rig.fake.token, slack_api_url=rig.fake.url)
    )
    stamps = [
        (await client.chat_postMessage(channel="C0AUDIT", text=f"item {n}"))["ts"] for n in range(count)
    ]
    rig.setup_calls = len(rig.fake.calls())
    return await seed_items(rig.db, count, message_ts=stamps, **kw)  # type: ignore[arg-type]


def defect_state(note: str, category: str = "template_error", severity: str = "high") -> dict:  # type: ignore[type-arg]
    return {
        ids.CATEGORY_BLOCK: {
            ids.CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": category}}
        },
        ids.SEVERITY_BLOCK: {
            ids.SEVERITY_INPUT: {"type": "static_select", "selected_option": {"value": severity}}
        },
        ids.WRONG_BLOCK: {ids.WRONG_INPUT: {"type": "plain_text_input", "value": note}},
        ids.EXPECTED_BLOCK: {ids.EXPECTED_INPUT: {"type": "plain_text_input", "value": None}},
        ids.HELPDESK_NOTE_BLOCK: {
            ids.HELPDESK_NOTE_INPUT: {
                "type": "checkboxes",
                "selected_options": [{"value": ids.HELPDESK_NOTE_VALUE}],
            }
        },
    }


def message_text(rig: Rig, item_ts: str) -> str:
    return json.dumps(rig.fake.message("C0AUDIT", item_ts).get("blocks"), ensure_ascii=False)


async def item_ts(rig: Rig, item_id: int) -> str:
    from bot.core.models import SampleItem

    async with rig.db.session() as session:  # type: ignore[attr-defined]
        item = await session.get(SampleItem, item_id)
        return item.message_ts  # type: ignore[union-attr,return-value]
