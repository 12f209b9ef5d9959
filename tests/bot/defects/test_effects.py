"""Effects end to end: defects filed → outbox → fake Slack, fake trackers and helpdesks (specs checked)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from bot.core.models import DefectGroup, OutboxItem
from bot.defects.effects import deliver_pending
from tests.fakes.blockkit import all_text


async def groups(db) -> list[DefectGroup]:
    async with db.session() as session:
        return list((await session.execute(sa.select(DefectGroup).order_by(DefectGroup.id))).scalars())


def card_of(fake_slack, channel: str) -> dict:
    (card,) = fake_slack.messages(channel)
    return card


async def test_three_defects_on_one_template_make_one_issue_two_comments_one_thread(
    services, seed, vendors, fake_slack
):
    for reviewer in ("U0REV1", "U0REV2", "U0REV1"):
        await seed.defect(services, reviewer=reviewer)
        await deliver_pending(services)

    (group,) = await groups(services.db)
    assert group.occurrences == 3 and group.tracker_key == "SUP-1"
    (issue,) = vendors.jira.issues.values()
    assert len(issue["comments"]) == 2
    assert "auditbot-defect-" in " ".join(issue["labels"]) and "ai-audit" in issue["labels"]
    description = json.dumps(issue["fields"]["description"])
    assert "dana@example.com" not in description  # redacted before it reaches the tracker
    assert "Refunds are possible within 30 days." in description
    assert "https://slack.com/archives/C0CONTENT/p" in description  # links back to the thread

    card = card_of(fake_slack, "C0CONTENT")
    assert group.thread_ts == card["ts"]
    text = all_text(card["blocks"])
    assert "*Occurrences*\n3" in text and "SUP-1" in text and "<!subteam^S0CONTENT>" in text
    assert "<@U0REV1>, <@U0REV2>" in text
    thread = fake_slack.thread("C0CONTENT", card["ts"])
    assert [m["text"].split(" ·")[0] for m in thread] == [
        "*Occurrence 1*",
        "*Occurrence 2*",
        "*Occurrence 3*",
    ]
    assert "<!channel>" not in json.dumps(thread)  # the reviewer's text is made inert
    # Each sample item links to the defect thread, in the item's own thread.
    links = [m for m in fake_slack.messages("C0AUDIT", include_replies=True) if m.get("thread_ts")]
    assert len(links) == 3 and all(f"p{card['ts'].replace('.', '')}" in m["text"] for m in links)
    # helpdesk_note = true on the route: an internal note + tag on each source ticket, once each.
    assert len(vendors.zendesk.notes) == 3 and all(n["public"] is False for n in vendors.zendesk.notes)
    assert vendors.zendesk.tags["4821"] == ["auditbot"] * 3
    # the reviewer's expected answer, redacted, as the corrected reply in its own paragraph
    body = vendors.zendesk.notes[0]["body"]
    assert "\n\nCorrected reply (what the reviewer says the AI should have answered):\n" in body
    assert body.endswith("Refunds are possible within 30 days.") and "dana@example.com" not in body
    assert all(r.headers.get("idempotency-key") for r in vendors.zendesk.requests if "tags" not in r.url.path)


async def test_linear_issue_is_created_under_a_client_chosen_id(services, seed, vendors, fake_slack):
    await seed.defect(services, category="personalization", template_id="greeting_v1")
    await seed.defect(services, category="personalization", template_id="greeting_v1", reviewer="U0REV2")
    await deliver_pending(services)

    (issue,) = vendors.linear.issues.values()
    assert issue["input"]["id"] == issue["id"] and issue["input"]["labelIds"] == ["label-1"]
    assert len(vendors.linear.comments) == 1 and vendors.linear.comments[0]["issueId"] == "ENG-1"
    (group,) = await groups(services.db)
    assert (group.tracker, group.tracker_key, group.channel) == ("linear", "ENG-1", "C0DEFECTS")
    assert "ENG-1" in all_text(card_of(fake_slack, "C0DEFECTS")["blocks"])


async def test_github_issue_and_intercom_note(services, seed, vendors):
    await seed.defect(
        services,
        category="wrong_information",
        template_id=None,
        source="intercom",
        ticket_id="215",
        helpdesk_note=True,
    )
    await deliver_pending(services)

    (issue,) = vendors.github.issues.values()
    assert {lb["name"] for lb in issue["labels"]} >= {"ai-audit"} and "dana@example.com" not in issue["body"]
    (note,) = [p for p in vendors.intercom.parts["215"] if p["part_type"] == "note"]
    assert "auditbot" in note["body"]
    assert "dana@example.com" not in note["body"]
    # the corrected reply is its own paragraph of the note's HTML (escaped text, no markup from it)
    assert "<p>Corrected reply (what the reviewer says the AI should have answered):<br>" in note["body"]
    assert "Refunds are possible within 30 days." in note["body"]


async def test_unrouted_category_posts_a_thread_and_touches_no_tracker(services, seed, vendors, fake_slack):
    await seed.defect(services, category="tone")
    report = await deliver_pending(services)

    assert report.dead == 0
    assert all(not f.requests for f in (vendors.jira, vendors.linear, vendors.github, vendors.zendesk))
    card = card_of(fake_slack, "C0DEFECTS")
    assert "Tracker*\n—" in all_text(card["blocks"])
    assert len(fake_slack.thread("C0DEFECTS", card["ts"])) == 1


async def test_thread_posts_wait_for_the_card(services, seed, fake_slack):
    fake_slack.server_error("chat.postMessage", status=503, times=1)  # the card post fails once
    await seed.defect(services, category="tone")
    first = await deliver_pending(services)
    assert (first.delivered, first.retried) == (0, 3)  # the card failed; thread post and item link wait

    services.clock.advance(hours=1)
    await deliver_pending(services)
    card = card_of(fake_slack, "C0DEFECTS")
    assert len(fake_slack.thread("C0DEFECTS", card["ts"])) == 1
    async with services.db.session() as session:
        statuses = (await session.execute(sa.select(OutboxItem.status))).scalars().all()
    assert set(statuses) == {"done"}


async def test_slack_channel_not_found_is_dead_at_once(services, seed, fake_slack):
    fake_slack.add_channel("C0AUDIT")  # only the audit channel exists: C0DEFECTS is unknown
    await seed.defect(services, category="tone")
    report = await deliver_pending(services)

    assert report.dead >= 1
    async with services.db.session() as session:
        card = (
            await session.execute(sa.select(OutboxItem).where(OutboxItem.kind == "slack.group_card"))
        ).scalar_one()
    assert card.status == "dead" and card.attempts == 1 and "channel_not_found" in card.last_error
