"""Tracker status back into Slack: polling and signed webhooks; fixes credited, reopenings reopen."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from bot.core.models import DefectGroup, SeenEvent
from bot.defects.effects import deliver_pending
from bot.defects.status_sync import STALE_AFTER, sync_tracker_status
from bot.web import trackers
from tests.bot.defect_support import make_services, routed
from tests.fakes.blockkit import all_text

SECRETS = {"jira": "jira-hook-secret", "linear": "linear-hook-secret", "github": "github-hook-secret"}


@pytest.fixture
def services(db, clock, config, settings, fake_slack, vendors):
    for name, secret in SECRETS.items():
        setattr(settings, f"{name}_webhook_secret", secret)
    return make_services(db, clock, routed(config), settings, fake_slack.url, vendors)


@pytest.fixture
async def web(services):
    app = Starlette(routes=trackers.routes(services))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://auditbot"
    ) as client:
        yield client


def signed(vendor: str, payload: dict, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new((secret or SECRETS[vendor]).encode(), body, hashlib.sha256).hexdigest()
    header = {
        "jira": ("X-Hub-Signature", f"sha256={digest}"),
        "linear": ("Linear-Signature", digest),
        "github": ("X-Hub-Signature-256", f"sha256={digest}"),
    }[vendor]
    return body, {header[0]: header[1], "Content-Type": "application/json"}


async def the_group(db) -> DefectGroup:
    async with db.session() as session:
        (group,) = (await session.execute(sa.select(DefectGroup))).scalars().all()
        return group


async def filed(services, seed, **kw) -> DefectGroup:
    """Two reviewers catch the same defect; everything is delivered."""
    await seed.defect(services, reviewer="U0REV1", **kw)
    await seed.defect(services, reviewer="U0REV2", **kw)
    await deliver_pending(services)
    return await the_group(services.db)


def assert_fixed_and_credited(fake_slack, group: DefectGroup) -> None:
    card = fake_slack.message(group.channel, group.thread_ts)
    assert "✅ Fixed" in all_text(card["blocks"]) and "edited" in card
    assert not [b for b in card["blocks"] if b["type"] == "actions"]  # no buttons on a closed card
    last = fake_slack.thread(group.channel, group.thread_ts)[-1]
    assert "Fixed on the tracker — thanks <@U0REV1>, <@U0REV2> who caught it" in last["text"]


async def test_polling_sees_the_issue_done(services, seed, vendors, fake_slack, clock):
    group = await filed(services, seed)
    vendors.jira.issues[group.tracker_key]["status"] = "Done"
    clock.advance(days=3)
    report = await sync_tracker_status(services)

    fixed = await the_group(services.db)
    assert (report.checked, report.fixed) == (1, 1)
    assert fixed.status == "fixed" and fixed.fixed_at == clock.now()
    assert (fixed.fixed_at - fixed.created_at).days == 3  # time to fix
    assert_fixed_and_credited(fake_slack, fixed)
    assert len(vendors.jira.issues[group.tracker_key]["comments"]) == 1  # no echo back to the tracker


async def test_github_webhook_closes_and_reopens(services, seed, web, fake_slack):
    group = await filed(services, seed, category="wrong_information", template_id="kb_answer")
    issue = {"number": int(group.tracker_key), "state": "closed"}

    body, headers = signed("github", {"action": "closed", "issue": issue})
    forged = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert (await web.post("/webhooks/github", content=body, headers=forged)).status_code == 401
    assert (await the_group(services.db)).status == "open"

    response = await web.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["change"] == "fixed"
    assert_fixed_and_credited(fake_slack, await the_group(services.db))

    body, headers = signed("github", {"action": "reopened", "issue": {**issue, "state": "open"}})
    assert (await web.post("/webhooks/github", content=body, headers=headers)).json()["change"] == "reopened"
    reopened = await the_group(services.db)
    assert (
        reopened.status == "open" and reopened.open_key == reopened.fingerprint and reopened.fixed_at is None
    )
    card = fake_slack.message(reopened.channel, reopened.thread_ts)
    assert "🔴 Open" in all_text(card["blocks"]) and any(b["type"] == "actions" for b in card["blocks"])


async def test_linear_webhook_marks_fixed(services, seed, web, fake_slack):
    group = await filed(services, seed, category="personalization", template_id="greet")
    payload = {
        "type": "Issue",
        "action": "update",
        "data": {"identifier": group.tracker_key, "state": {"type": "completed"}},
    }
    body, headers = signed("linear", payload)
    assert (await web.post("/webhooks/linear", content=body, headers=headers)).json()["change"] == "fixed"
    assert_fixed_and_credited(fake_slack, await the_group(services.db))


async def test_jira_webhook_does_not_undo_a_fix_made_in_slack(services, seed, web, vendors):
    from bot.defects.groups import fix_group

    group = await filed(services, seed)
    vendors.jira.down = True  # our "done" cannot reach Jira yet
    async with services.db.transaction() as session:
        await fix_group(session=session, group_id=group.id, user="U0ENG", now=services.clock.now())
    await deliver_pending(services)

    still_open = {"key": group.tracker_key, "fields": {"status": {"statusCategory": {"key": "new"}}}}
    body, headers = signed("jira", {"webhookEvent": "jira:issue_updated", "issue": still_open})
    response = await web.post("/webhooks/jira", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["change"] is None
    assert (await the_group(services.db)).status == "fixed"

    vendors.jira.down = False
    services.clock.advance(hours=1)
    await deliver_pending(services)
    assert vendors.jira.issues[group.tracker_key]["status"] == "Done"


async def test_unsigned_or_unconfigured_webhooks_are_refused(services, seed, web):
    await filed(services, seed)
    body, headers = signed("jira", {"webhookEvent": "jira:issue_updated"}, secret="wrong")
    assert (await web.post("/webhooks/jira", content=body, headers=headers)).status_code == 401
    services.settings.linear_webhook_secret = None
    body, headers = signed("linear", {"type": "Issue"})
    assert (await web.post("/webhooks/linear", content=body, headers=headers)).status_code == 401
    body, headers = signed("github", {"zen": "ping"})
    response = await web.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 200 and response.json() == {"ok": True, "ignored": True}


# -- each delivery once, in order ------------------------------------------------------------

ROUTES = {
    "jira": {"category": "template_error", "template_id": "t-jira"},
    "linear": {"category": "personalization", "template_id": "t-linear"},
    "github": {"category": "wrong_information", "template_id": "t-github"},
}


def delivery(vendor: str, key: str, state: str, at: dt.datetime, sent: dt.datetime, delivery_id: str | None):
    """A signed delivery saying issue `key` became `state` ("done"/"open") at `at`, sent at `sent`."""
    ms = lambda moment: int(moment.timestamp() * 1000)  # noqa: E731
    if vendor == "jira":
        category = "done" if state == "done" else "new"
        issue = {"key": key, "fields": {"status": {"statusCategory": {"key": category}}}}
        payload: dict = {"webhookEvent": "jira:issue_updated", "timestamp": ms(at), "issue": issue}
        id_header = "X-Atlassian-Webhook-Identifier"
    elif vendor == "linear":
        data = {"identifier": key, "state": {"type": "completed" if state == "done" else "started"}}
        payload = {"type": "Issue", "action": "update", "createdAt": at.isoformat(), "data": data}
        payload["webhookTimestamp"] = ms(sent)
        id_header = "Linear-Delivery"
    else:
        issue = {"number": int(key), "state": "closed" if state == "done" else "open"}
        issue["updated_at"] = at.isoformat().replace("+00:00", "Z")
        payload = {"action": "closed" if state == "done" else "reopened", "issue": issue}
        id_header = "X-GitHub-Delivery"
    body, headers = signed(vendor, payload)
    if delivery_id:
        headers[id_header] = delivery_id
    return body, headers


async def thread_texts(fake_slack, group: DefectGroup) -> list[str]:
    return [m["text"] for m in fake_slack.thread(group.channel, group.thread_ts)]


@pytest.mark.parametrize("vendor", list(ROUTES))
@pytest.mark.parametrize("with_id", [True, False], ids=["delivery id", "body hash"])
async def test_a_repeated_delivery_changes_nothing(services, seed, web, fake_slack, clock, vendor, with_id):
    group = await filed(services, seed, **ROUTES[vendor])
    now = clock.now()
    body, headers = delivery(vendor, group.tracker_key, "done", now, now, "d-1" if with_id else None)
    first = await web.post(f"/webhooks/{vendor}", content=body, headers=headers)
    await deliver_pending(services)
    fixed = await the_group(services.db)
    posts = await thread_texts(fake_slack, fixed)
    clock.advance(minutes=2)
    again = await web.post(f"/webhooks/{vendor}", content=body, headers=headers)
    await deliver_pending(services)

    assert first.json()["change"] == "fixed"
    assert again.status_code == 200 and again.json()["ignored"] == "duplicate delivery"
    after = await the_group(services.db)
    assert after.status == "fixed" and after.fixed_at == fixed.fixed_at == now
    assert await thread_texts(fake_slack, after) == posts  # no second "Fixed on the tracker"
    assert await count_seen(services.db, f"webhook:{vendor}:") == 1


@pytest.mark.parametrize("vendor", ["jira", "linear"])
async def test_a_stale_delivery_is_refused(services, seed, web, clock, vendor):
    """Jira and Linear send a time (GitHub does not): older than STALE_AFTER is refused."""
    group = await filed(services, seed, **ROUTES[vendor])
    then = clock.now() - STALE_AFTER - dt.timedelta(minutes=1)
    body, headers = delivery(vendor, group.tracker_key, "done", then, then, "d-old")
    response = await web.post(f"/webhooks/{vendor}", content=body, headers=headers)
    assert response.status_code == 400 and response.json()["error"] == "stale delivery"
    assert (await the_group(services.db)).status == "open"
    assert await count_seen(services.db, "webhook:") == 0


@pytest.mark.parametrize("vendor", list(ROUTES))
async def test_an_older_delivery_never_overrides_a_newer_state(
    services, seed, web, fake_slack, clock, vendor
):
    """Reopened at 10:00, done at 10:05; "done" arrives first, then the older "reopened": the
    group stays fixed, fixed_at is written once, and the two deliveries again flip nothing."""
    group = await filed(services, seed, **ROUTES[vendor])
    clock.advance(minutes=10)
    now = clock.now()
    older = delivery(vendor, group.tracker_key, "open", now - dt.timedelta(minutes=2), now, "d-older")
    newer = delivery(vendor, group.tracker_key, "done", now - dt.timedelta(minutes=1), now, "d-newer")
    for body, headers in (newer, older, newer, older):
        assert (await web.post(f"/webhooks/{vendor}", content=body, headers=headers)).status_code == 200
        await deliver_pending(services)
        clock.advance(seconds=30)

    final = await the_group(services.db)
    assert final.status == "fixed" and final.fixed_at == now
    assert final.status_changed_at == now - dt.timedelta(minutes=1)  # the tracker's own time
    texts = await thread_texts(fake_slack, final)
    assert sum("Fixed on the tracker" in t for t in texts) == 1 and not any("Reopened" in t for t in texts)

    # a real reopening after the fix does reopen, and the next fix writes fixed_at again
    later = clock.now()
    for state, n in (("open", 1), ("done", 2)):
        body, headers = delivery(vendor, group.tracker_key, state, clock.now(), clock.now(), f"d-later-{n}")
        await web.post(f"/webhooks/{vendor}", content=body, headers=headers)
        clock.advance(minutes=1)
    final = await the_group(services.db)
    assert final.status == "fixed" and final.fixed_at == later + dt.timedelta(minutes=1)


async def test_a_change_made_in_slack_is_not_undone_by_an_older_tracker_delivery(services, seed, web):
    """Fixed in Slack at 08:00 (delivered to Jira); a Jira delivery from 07:59 saying "open" arrives."""
    from bot.defects.groups import fix_group

    group = await filed(services, seed)
    async with services.db.transaction() as session:
        await fix_group(session=session, group_id=group.id, user="U0ENG", now=services.clock.now())
    await deliver_pending(services)  # our "done" reached Jira: nothing is pending any more
    now = services.clock.now()
    body, headers = delivery("jira", group.tracker_key, "open", now - dt.timedelta(minutes=1), now, "d-x")
    answer = (await web.post("/webhooks/jira", content=body, headers=headers)).json()
    assert answer["ignored"] == "older than the group's last change"
    assert (await the_group(services.db)).status == "fixed"


async def count_seen(db, prefix: str) -> int:
    async with db.session() as session:
        stmt = sa.select(sa.func.count()).select_from(SeenEvent).where(SeenEvent.event_id.like(prefix + "%"))
        return int((await session.execute(stmt)).scalar_one())
