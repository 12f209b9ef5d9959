"""End to end: a fix is verified — or not — on the fake Slack and a fake Jira.

The real Bolt app behind signed requests (slash commands, clicks, the defect modal), replies pushed
through the signed `POST /ingest`, the scheduler's own jobs run on the injectable clock, Jira's
fake checking every request against its OpenAPI contract and the ADF schema:

- a group is fixed with `/audit fixed`, then a reply with its finding fingerprint arrives: the fix
  recurred — the issue is reopened (one transition request), told the new case (redacted), and the
  owner is called in the group's thread, once; running everything again changes nothing;
- no recurrence over the window, the segment's replies oversampled and reviewed: verified;
- too little traffic to review: unverified.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from bot.app import build_app, services_of
from bot.core.config import AuditConfig
from bot.core.models import DefectGroup, FixVerification, FrameCell, Reply, SampleItem
from bot.core.services import Services
from bot.defects.effects import deliver_pending
from bot.defects.status_sync import sync_tracker_status
from bot.digest.post import post_weekly_digest
from bot.sample.posting import run_daily_sample
from bot.scheduler import jobs_for, run_job
from bot.views import ids
from bot.web.app import build_web
from bot.web.ingest import sign
from tests.bot.defect_support import Vendors
from tests.bot.vendor_fakes import validate_adf
from tests.fakes.blockkit import all_text, check_blocks
from tests.fakes.signing import (
    SlackSigner,
    block_actions_payload,
    slash_command_form,
    view_submission_payload,
)
from tests.fakes.slack_api import FakeSlack
from tests.handlers.rig import defect_state
from tests.waiting import drain, until

BERLIN = ZoneInfo("Europe/Berlin")
TEMPLATE = "refund_policy_v3"
LEAK = "Hi {{first_name}}, your refund for order 7731 is on its way. Write to dana@example.com."
CLEAN = "Hi Dana, your refund for order 7731 is on its way."


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).astimezone(dt.UTC)


def verify_config(config: AuditConfig, **verify: Any) -> AuditConfig:
    return AuditConfig.model_validate(
        {
            **config.model_dump(),
            "routing": [
                {
                    "categories": ["template_error"],
                    "tracker": "jira",
                    "project": "SUP",
                    "owner": "S0CONTENT",
                    "channel": "C0CONTENT",
                }
            ],
            "verify": verify,
        }
    )


@dataclass
class Rig:
    http: httpx.AsyncClient
    signer: SlackSigner
    fake: FakeSlack
    services: Services
    vendors: Vendors
    serial: int = 0

    async def ingest(self, *replies: tuple[str, dt.datetime]) -> None:
        """Signed `POST /ingest` of replies (text, created_at) of the template."""
        records = []
        for text, created in replies:
            self.serial += 1
            records.append(
                {
                    "id": f"R-{self.serial}",
                    "ticket_id": f"T-{self.serial}",
                    "created_at": created.isoformat().replace("+00:00", "Z"),
                    "reply": text,
                    "customer_message": "Where is my refund?",
                    "customer": {"name": "Dana Lee", "email": "dana@example.com"},
                    "template_id": TEMPLATE,
                    "intent": "billing",
                }
            )
        body = json.dumps(records).encode()
        stamp = int(self.services.clock.now().timestamp())
        headers = {
            "X-Auditbot-Timestamp": str(stamp),
            "X-Auditbot-Signature": sign(body, "test-ingest-secret", stamp),
            "Content-Type": "application/json",
        }
        response = await self.http.post("/ingest", content=body, headers=headers)
        assert response.status_code == 202, response.text

    async def command(self, text: str, user: str) -> httpx.Response:
        response = await self.signer.command(slash_command_form("/audit", text, user_id=user))
        await drain()
        return response

    async def items(self, **where: Any) -> list[tuple[int, str, str, str]]:
        """Posted sample items: (item id, message ts, stratum, reply's external id)."""
        stmt = (
            sa.select(SampleItem.id, SampleItem.message_ts, SampleItem.stratum, Reply.external_id)
            .join(Reply, Reply.id == SampleItem.reply_id)
            .order_by(SampleItem.id)
        )
        async with self.services.db.session() as session:
            rows = (await session.execute(stmt)).all()
        return [tuple(r) for r in rows if all(getattr(r, k) == v for k, v in where.items())]  # type: ignore[misc]

    async def click(self, action_id: str, item_id: int, ts: str, user: str = "U0REV1") -> None:
        payload = block_actions_payload(action_id, str(item_id), user_id=user, message_ts=ts)
        assert (await self.signer.interaction(payload)).status_code == 200
        await drain()

    async def file_defect(self, external_id: str) -> DefectGroup:
        """A reviewer reports the posted item of this reply as a template error (the real modal)."""
        [(item, ts, _, _)] = await self.items(external_id=external_id)
        await self.click(ids.OPEN_DEFECT_MODAL, item, ts)
        view = self.fake.last("views.open").response["view"]
        state = defect_state("The greeting leaks {{first_name}}")
        payload = view_submission_payload(ids.DEFECT_MODAL, view["private_metadata"], state)
        assert (await self.signer.interaction(payload)).status_code == 200
        await drain()
        await deliver_pending(self.services)
        return await self.group()

    async def group(self) -> DefectGroup:
        async with self.services.db.session() as session:
            (group,) = (await session.execute(sa.select(DefectGroup))).scalars().all()
            return group

    async def window(self) -> FixVerification:
        async with self.services.db.session() as session:
            stmt = sa.select(FixVerification).order_by(FixVerification.id.desc()).limit(1)
            return (await session.execute(stmt)).scalar_one()

    async def job(self, name: str) -> None:
        """Run one of the scheduler's jobs, as the leader does."""
        job = {j.name: j for j in jobs_for(self.services)}[name]
        assert await run_job(self.services, job)

    def thread(self, group: DefectGroup) -> list[str]:
        return [m["text"] for m in self.fake.thread(group.channel or "", group.thread_ts or "")]

    def card(self, group: DefectGroup) -> str:
        return all_text(self.fake.message(group.channel or "", group.thread_ts or "").get("blocks"))

    def transitions(self, to: str) -> list[httpx.Request]:
        return [
            r
            for r in self.vendors.jira.requests
            if r.method == "POST"
            and r.url.path.endswith("/transitions")
            and json.loads(r.content)["transition"]["id"] == to
        ]


async def make_rig(db, settings, config, clock, fake_slack) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"slack_api_url": fake_slack.url})
    fake_slack.add_usergroup("S0CONTENT", ["U0ENG"])  # the content team owns template errors
    app = build_app(settings, config, db, clock=clock)
    services = services_of(app)
    vendors = Vendors()
    services.extras["integrations"] = vendors.integrations(config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://app"
    ) as http:
        yield Rig(http, SlackSigner(http), fake_slack, services, vendors)
        await drain()


@pytest.fixture
async def rig(db, settings, config, clock, fake_slack) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    async for made in make_rig(db, settings, verify_config(config), clock, fake_slack):
        yield made


@pytest.fixture
async def short_rig(db, settings, config, clock, fake_slack) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    """A four days' window, three extra items a day from the segment, five reviews needed."""
    short = verify_config(config, days=4, sample_size=3, min_reviews=5)
    async for made in make_rig(db, settings, short, clock, fake_slack):
        yield made


THURSDAY = dt.date(2026, 11, 26)


async def fixed_group(rig: Rig, clock) -> DefectGroup:  # type: ignore[no-untyped-def]
    """Thursday's replies sampled on Friday 09:30; a reviewer files the leak; the owner fixes it."""
    clock.set(local(THURSDAY, 18))
    await rig.ingest((LEAK, local(THURSDAY, 10)), (CLEAN, local(THURSDAY, 11)))
    clock.set(local(THURSDAY + dt.timedelta(days=1), 9, 30))
    await run_daily_sample(rig.services)
    group = await rig.file_defect("R-1")
    assert group.tracker_key == "SUP-1" and group.thread_ts
    response = await rig.command("fixed SUP-1", "U0ENG")  # the owner (a member of S0CONTENT)
    assert response.status_code == 200
    await until(lambda: rig.fake.ephemerals(), "the answer to /audit fixed")
    assert "✅ Marked" in rig.fake.ephemerals()[-1]["text"]
    assert rig.vendors.jira.issues["SUP-1"]["status"] == "Done" and len(rig.transitions("31")) == 1
    group = await rig.group()
    assert group.status == "fixed"
    window = await rig.window()
    assert (window.status, window.segment, window.kinds) == (
        "verifying",
        f"template:{TEMPLATE}",
        ["placeholder_leak"],
    )
    await until(lambda: "🔎 Verifying the fix until" in rig.card(group), "the card's verification line")
    return group


async def test_a_matching_reply_after_the_fix_reopens_the_issue_and_calls_the_owner_once(
    rig: Rig, clock
) -> None:
    group = await fixed_group(rig, clock)
    posts_before = len(rig.thread(group))
    comments_before = len(rig.vendors.jira.issues["SUP-1"]["comments"])

    clock.advance(hours=20)  # Saturday: the same leak again
    await rig.ingest(
        (LEAK, clock.now() - dt.timedelta(hours=1)), (CLEAN, clock.now() - dt.timedelta(hours=1))
    )
    await rig.job("verify")

    window = await rig.window()
    assert (window.status, window.matches, window.traffic) == ("recurred", 1, 2)
    group = await rig.group()
    assert group.status == "open" and group.open_key == group.fingerprint and group.fixed_at is None
    # the issue reopened by one transition, valid against Jira's contract (the fake checks each request)
    assert len(rig.transitions("11")) == 1 and rig.vendors.jira.issues["SUP-1"]["status"] == "To Do"
    comments = rig.vendors.jira.issues["SUP-1"]["comments"]
    assert len(comments) == comments_before + 1
    validate_adf(comments[-1])
    said = all_text(comments[-1])
    assert (
        "The fix did not hold" in said
        and "R-3" in said
        and "[email]" in said
        and "dana@example.com" not in said
    )
    # one post in the group's thread, calling its owner; the card is open again and says why
    new_posts = rig.thread(group)[posts_before:]
    [post] = [t for t in new_posts if "did not hold" in t]
    assert "<!subteam^S0CONTENT>" in post and "`R-3`" in post and "dana@example.com" not in post
    assert "🔴 Open" in rig.card(group) and "The fix did not hold" in rig.card(group)

    # everything again: the check, the outbox, the tracker poll — nothing happens twice
    requests, posts = len(rig.vendors.jira.requests), len(rig.fake.calls("chat.postMessage"))
    await rig.job("verify")
    await deliver_pending(rig.services)
    await sync_tracker_status(rig.services)
    assert len(rig.transitions("11")) == 1 and len(rig.vendors.jira.issues["SUP-1"]["comments"]) == len(
        comments
    )
    assert len(rig.fake.calls("chat.postMessage")) == posts
    assert all(r.method == "GET" for r in rig.vendors.jira.requests[requests:])  # the poll reads only
    assert (await rig.group()).status == "open"


async def test_a_reviewer_finding_it_again_reopens_it_too(rig: Rig, clock) -> None:
    group = await fixed_group(rig, clock)
    clock.advance(days=3)  # Monday 09:30: the weekend's replies, one of them bad but not flagged by a check
    await rig.ingest((CLEAN.replace("Dana", "Sam"), local(THURSDAY + dt.timedelta(days=2), 12)))
    await rig.job("verify")  # the census sees no matching finding: still verifying
    assert (await rig.window()).status == "verifying"
    await run_daily_sample(rig.services)
    [(item, ts, stratum, _)] = await rig.items(external_id="R-3")
    assert stratum == f"verify:{group.id}"  # oversampled: its segment is being verified
    await rig.click(ids.OPEN_DEFECT_MODAL, item, ts, user="U0REV2")
    view = rig.fake.last("views.open").response["view"]
    payload = view_submission_payload(
        ids.DEFECT_MODAL, view["private_metadata"], defect_state("Same bug"), user_id="U0REV2"
    )
    assert (await rig.signer.interaction(payload)).status_code == 200
    await drain()
    await deliver_pending(rig.services)
    group = await rig.group()  # the same group: reopened, with its second occurrence
    assert (group.status, group.occurrences) == ("open", 2)
    assert (await rig.window()).status == "recurred" and len(rig.transitions("11")) == 1
    assert sum("did not hold" in t for t in rig.thread(group)) == 1


async def test_no_recurrence_and_enough_reviews_verify_the_fix(short_rig: Rig, clock) -> None:
    rig = short_rig
    group = await fixed_group(rig, clock)
    friday = THURSDAY + dt.timedelta(days=1)
    stratum = f"verify:{group.id}"
    reviewed: set[int] = set()
    # Friday to Monday (the window: Friday 09:30 to Tuesday 09:30): five replies of the segment a
    # day, all fine; the weekday samples draw three of them each, reviewers find them correct
    for offset, sample in ((0, False), (1, False), (2, False), (3, True), (4, True)):
        day = friday + dt.timedelta(days=offset)
        if sample:
            clock.set(local(day, 9, 30))
            batch = await run_daily_sample(rig.services)
            async with rig.services.db.session() as session:
                cell = (
                    await session.execute(
                        sa.select(FrameCell).where(
                            FrameCell.batch_id == batch.id, FrameCell.stratum == stratum
                        )
                    )
                ).scalar_one()
                probs = await session.execute(
                    sa.select(SampleItem.inclusion_prob).where(SampleItem.cell_id == cell.id)
                )
                # Monday's frame holds Friday to Sunday (15 of the segment), Tuesday's Monday (5)
                assert (cell.population, cell.drawn) == ((15, 3) if offset == 3 else (5, 3))
                assert set(probs.scalars()) == {3 / cell.population}
            headers = [all_text(m) for m in rig.fake.messages("C0AUDIT") if "Daily audit" in all_text(m)]
            assert "3 checking that a fix held" in headers[-1]  # reviewers see why these are there
            for item, ts, _, _ in await rig.items(stratum=stratum):
                if item not in reviewed:
                    reviewed.add(item)
                    await rig.click(ids.VERDICT_CORRECT, item, ts)
        if offset < 4:
            clock.set(local(day, 20))
            await rig.ingest(*((CLEAN, local(day, 10 + n)) for n in range(5)))
    assert len(reviewed) == 6
    await rig.job("verify")  # Tuesday 09:30: the window is over, with six reviews of the segment
    window = await rig.window()
    assert (window.status, window.reviewed, window.matches, window.traffic) == ("verified", 6, 0, 20)
    assert rig.transitions("11") == []  # nothing reopened
    group = await rig.group()
    assert group.status == "fixed"
    await until(lambda: "✔️ Fix verified" in rig.card(group), "the card says verified")
    assert sum("Fix verified" in t for t in rig.thread(group)) == 1
    await rig.job("verify")
    await deliver_pending(rig.services)
    assert sum("Fix verified" in t for t in rig.thread(group)) == 1

    # the week's digest says so, within Block Kit's limits, posted once
    clock.set(local(friday + dt.timedelta(days=10), 9, 0))  # the Monday after the week of the decision
    await post_weekly_digest(rig.services)
    await post_weekly_digest(rig.services)
    [digest] = [m for m in rig.fake.messages("C0DIGEST") if m.get("blocks")]  # (the chart is a file)
    assert check_blocks(digest["blocks"], "message") == []
    assert "Fixes verified* — 1 verified · 0 recurred · 0 unverified · 0 in window" in all_text(
        digest["blocks"]
    )


async def test_too_little_traffic_leaves_the_fix_unverified(short_rig: Rig, clock) -> None:
    rig = short_rig
    group = await fixed_group(rig, clock)
    clock.advance(hours=6)
    await rig.ingest((CLEAN, clock.now() - dt.timedelta(hours=1)))  # one reply of the segment, that's all
    window = await rig.window()
    clock.set(window.ends_at + dt.timedelta(hours=1))
    await rig.job("verify")
    assert (await rig.window()).status == "verifying"  # its last replies may still be reviewed
    clock.set(window.ends_at + dt.timedelta(days=2, minutes=1))
    await rig.job("verify")
    window = await rig.window()
    assert (window.status, window.traffic, window.reviewed) == ("unverified", 1, 0)
    group = await rig.group()
    assert group.status == "fixed" and rig.transitions("11") == []
    await until(lambda: "❔ Fix unverified" in rig.card(group), "the card says unverified")
    assert sum("Fix unverified" in t for t in rig.thread(group)) == 1
