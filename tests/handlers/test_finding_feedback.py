"""End to end: a reviewer judges automatic findings on the sample card (fake Slack, signed
requests, real database); the digest and `auditbot checks` show the kind's precision move; a
muted kind stops raising findings on the real /ingest path."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import httpx
import sqlalchemy as sa

from bot.app import build_app
from bot.core.config import AuditConfig
from bot.core.models import Finding, FindingFeedback, SampleItem
from bot.core.settings import Settings
from bot.digest.post import compose
from bot.views import ids
from bot.web.app import build_web
from bot.web.ingest import sign
from tests.conftest import REPO
from tests.fakes.signing import view_submission_payload
from tests.handlers.rig import Rig, drain, posted_items, until


async def finding_of(on: Rig, item_id: int) -> int:
    async with on.db.session() as session:  # type: ignore[attr-defined]
        item = await session.get(SampleItem, item_id)
        stmt = sa.select(Finding.id).where(Finding.reply_id == item.reply_id)  # type: ignore[union-attr]
        return (await session.execute(stmt)).scalar_one()


async def checks_command(url: str) -> dict[str, dict]:
    """`auditbot checks --format jsonl`, run as a process against the test's database."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    env.pop("AUDITBOT_CONFIG", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "checks", "--format", "jsonl",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return {row["kind"]: row for row in map(json.loads, out.decode().splitlines())}


def digest_line(blocks: list, kind: str) -> str:  # type: ignore[type-arg]
    text = json.dumps([b.to_dict() for b in blocks], ensure_ascii=False)
    start = text.index(f"*{kind}*")
    return text[start : text.index("\\n", start) if "\\n" in text[start:] else None]


async def test_a_reviewer_marks_a_false_alarm_and_precision_moves(
    rig: Rig,
    database_url: str,
    review_config: AuditConfig,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    confirmed_item, false_item = await posted_items(
        rig, 2, findings={0: "placeholder_leak", 1: "placeholder_leak"}
    )
    first, second = await finding_of(rig, confirmed_item), await finding_of(rig, false_item)

    # someone who is neither reviewer nor admin is told so, and nothing is stored
    await rig.click(ids.FINDING_FALSE_ALARM, first, user="U0STRANGER")
    await until(lambda: rig.calls("chat.postEphemeral"), "the refusal")
    assert await rig.count(FindingFeedback) == 0

    await rig.click(ids.FINDING_CONFIRMED, first)
    await until(lambda: rig.calls("chat.update"), "the item edited")
    update = rig.calls("chat.update")[-1]
    assert update.ok, update.response  # the fake checks Block Kit limits
    shown = json.dumps(update.args["blocks"], ensure_ascii=False)
    assert "✅ confirmed by <@U0REV1>" in shown
    assert {"finding_confirmed", "finding_false_alarm"} <= {
        e["action_id"] for b in update.args["blocks"] if b["type"] == "actions" for e in b["elements"]
    }
    before = await checks_command(database_url)
    assert (before["placeholder_leak"]["judged"], before["placeholder_leak"]["precision"]) == (1, 1.0)
    week = "2026-W48"
    digest = await compose(rig.db, review_config, week, clock.now())  # type: ignore[arg-type]
    assert "precision 100% (1 of 1 judged" in digest_line(digest.blocks, "placeholder leak")

    # the admin marks the other one a false alarm: the reason modal opens, the reason is kept
    await rig.click(ids.FINDING_FALSE_ALARM, second, user="U0ADMIN")
    await until(lambda: rig.calls("views.open"), "the reason modal")
    opened = rig.calls("views.open")[-1]
    assert opened.ok, opened.response
    view = opened.response["view"]
    assert json.loads(view["private_metadata"]) == {"finding_id": second}
    state = {
        ids.FALSE_ALARM_BLOCK: {ids.FALSE_ALARM_INPUT: {"type": "plain_text_input", "value": "our own tag"}}
    }
    submitted = await rig.signer.interaction(
        view_submission_payload(ids.FALSE_ALARM_MODAL, view["private_metadata"], state, user_id="U0ADMIN")
    )
    assert submitted.status_code == 200
    await drain()
    async with rig.db.session() as session:  # type: ignore[attr-defined]
        judged = (
            (await session.execute(sa.select(FindingFeedback).order_by(FindingFeedback.id))).scalars().all()
        )
    assert [(j.finding_id, j.verdict, j.reviewer, j.reason) for j in judged] == [
        (first, "confirmed", "U0REV1", None),
        (second, "false_alarm", "U0ADMIN", "our own tag"),
    ]
    edited = json.dumps(rig.calls("chat.update")[-1].args["blocks"], ensure_ascii=False)
    assert "🚫 false alarm by <@U0ADMIN>: our own tag" in edited

    after = await checks_command(database_url)
    assert (after["placeholder_leak"]["judged"], after["placeholder_leak"]["confirmed"]) == (2, 1)
    assert after["placeholder_leak"]["precision"] == 0.5
    assert after["placeholder_leak"]["low"] < 0.5 < after["placeholder_leak"]["high"]
    digest = await compose(rig.db, review_config, week, clock.now())  # type: ignore[arg-type]
    assert "precision 50% (1 of 2 judged" in digest_line(digest.blocks, "placeholder leak")


async def test_a_muted_kind_stops_raising_findings(
    db, settings: Settings, config: AuditConfig, clock
) -> None:  # type: ignore[no-untyped-def]
    record = {
        "id": "R-1",
        "ticket_id": "T-1",
        "created_at": "2026-11-26T10:00:00Z",
        "reply": "Hi {{first_name}}, your reference is {{ref}}.",
        "customer": {"name": "Dana Lee"},
    }

    async def post(cfg: AuditConfig, rid: str) -> int:
        web = build_web(build_app(settings, cfg, db, clock=clock))
        body = json.dumps({**record, "id": rid, "ticket_id": rid}).encode()
        ts = int(clock.now().timestamp())
        headers = {
            "X-Auditbot-Timestamp": str(ts),
            "X-Auditbot-Signature": sign(body, "test-ingest-secret", ts),
        }
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://a.test"
        ) as http:
            return (await http.post("/ingest", content=body, headers=headers)).status_code

    muted = AuditConfig.model_validate({**config.model_dump(), "detectors": {"mute": ["placeholder_leak"]}})
    assert await post(config, "R-1") == 202
    assert await post(muted, "R-2") == 202
    async with db.session() as session:
        rows = await session.execute(
            sa.text("SELECT r.external_id, f.kind FROM findings f JOIN replies r ON r.id = f.reply_id")
        )
        found = set(rows.all())
    assert found == {("R-1", "placeholder_leak")}
