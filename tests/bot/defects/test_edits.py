"""Editing a defect regroups and re-routes it; lifecycle actions check the group's state
(SQLite and PostgreSQL; two reviewers editing at once on two engines).

Issue #20: an edit from tone/low to wrong_information/critical changed the defect row only: its
group kept the old category, severity, title and routing (no tracker issue for what was now
critical), and the card was not refreshed. A merged group could be closed again.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from bot.core.db import Database
from bot.core.models import Defect, DefectGroup, OutboxItem, Review
from bot.defects import groups as defects
from bot.defects import regroup
from bot.defects.effects import deliver_pending
from bot.review import verdicts as reviews
from tests.bot.defect_support import Seed  # the services and vendors fixtures: tests/bot/conftest.py
from tests.fakes.blockkit import all_text

NOW = dt.datetime(2026, 11, 27, 8, tzinfo=dt.UTC)


async def file(db: Database, services, item: int, reviewer: str, category: str, severity: str) -> Defect:  # type: ignore[no-untyped-def]
    """A defect verdict (or its edit) through the reviews flow, in one write transaction."""
    found = reviews.DefectInput(category, severity, "Quotes the old refund window", None, False)
    async with db.transaction() as session:
        await reviews.record_defect(
            session=session, item_id=item, reviewer=reviewer, defect=found, config=services.config, now=NOW
        )
        return (
            await session.execute(
                sa.select(Defect)
                .join(Review, Review.id == Defect.review_id)
                .where(Review.item_id == item, Review.reviewer == reviewer)
            )
        ).scalar_one()


async def groups_of(db: Database) -> dict[int, DefectGroup]:
    async with db.session() as session:
        return {g.id: g for g in (await session.execute(sa.select(DefectGroup))).scalars()}  # type: ignore[misc]


async def outbox(db: Database, kind: str, after: int = 0) -> list[dict]:  # type: ignore[type-arg]
    async with db.session() as session:
        stmt = sa.select(OutboxItem.payload).where(OutboxItem.kind == kind, OutboxItem.id > after)
        return [dict(p or {}) for p in (await session.execute(stmt.order_by(OutboxItem.id))).scalars()]


async def last_outbox(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(sa.select(sa.func.max(OutboxItem.id))) or 0)


async def test_a_new_category_moves_the_defect_to_its_own_routed_group(
    db, services, vendors, fake_slack
) -> None:  # type: ignore[no-untyped-def]
    seed = Seed(db, NOW)
    item = await seed.item(template_id="refund_policy_v3")
    first = await file(db, services, item, "U0REV1", "tone", "low")
    await deliver_pending(services)
    mark = await last_outbox(db)

    edited = await file(db, services, item, "U0REV1", "wrong_information", "critical")
    assert edited.id == first.id and (edited.category, edited.severity) == ("wrong_information", "critical")
    groups = await groups_of(db)
    old, new = groups[first.group_id], groups[edited.group_id]
    assert new.id != old.id
    assert (new.category, new.severity, new.tracker, new.occurrences) == (
        "wrong_information",
        "critical",
        "github",
        1,
    )
    assert new.title == "Wrong information in template refund_policy_v3" and new.status == "open"
    # nothing left in the old group: closed as merged into the new one, its fingerprint free again
    assert (old.status, old.merged_into_id, old.occurrences, old.open_key) == ("merged", new.id, 0, None)
    # the routed category gets its tracker issue; both cards are refreshed
    assert await outbox(db, "tracker.create_issue", mark) == [
        {"group_id": new.id, "project": None, "labels": ["ai-audit"]}
    ]
    assert {p["group_id"] for p in await outbox(db, "slack.group_card", mark)} == {old.id, new.id}
    report = await deliver_pending(services)
    assert report.dead == 0
    (issue,) = vendors.github.issues.values()
    assert issue["title"] == "[auditbot] Wrong information in template refund_policy_v3"
    cards = [all_text(m.get("blocks")) for m in fake_slack.messages("C0DEFECTS")]
    assert len(cards) == 2  # both cards, each edited in place
    assert any("Merged into" in card for card in cards)
    assert any("Wrong information in template" in card and "critical" in card for card in cards)


async def test_a_new_severity_re_ranks_the_group_and_refreshes_its_card(db, services) -> None:  # type: ignore[no-untyped-def]
    seed = Seed(db, NOW)
    items = [await seed.item(template_id="t1") for _ in range(2)]
    await file(db, services, items[0], "U0REV1", "tone", "low")
    await file(db, services, items[1], "U0REV2", "tone", "medium")
    mark = await last_outbox(db)
    edited = await file(db, services, items[1], "U0REV2", "tone", "critical")
    (group,) = (await groups_of(db)).values()
    assert (group.id, group.severity, group.occurrences) == (edited.group_id, "critical", 2)
    assert [p["group_id"] for p in await outbox(db, "slack.group_card", mark)] == [group.id]
    posts = [p["text"] for p in await outbox(db, "slack.thread_post", mark)]
    assert posts == ["✏️ <@U0REV2> changed an occurrence from tone · medium to *tone · critical*."]
    await file(db, services, items[1], "U0REV2", "tone", "low")  # and back down: the highest left
    (group,) = (await groups_of(db)).values()
    assert group.severity == "low"


async def test_two_reviewers_recategorising_at_once_end_in_one_new_group(
    database_url: str, db, services
) -> None:  # type: ignore[no-untyped-def]
    seed = Seed(db, NOW)
    items = [await seed.item(template_id="t1") for _ in range(2)]
    old = await file(db, services, items[0], "U0REV1", "tone", "low")
    await file(db, services, items[1], "U0REV2", "tone", "low")
    mark = await last_outbox(db)
    engines = [Database(database_url), Database(database_url)]
    try:
        await asyncio.gather(
            file(engines[0], services, items[0], "U0REV1", "wrong_information", "high"),
            file(engines[1], services, items[1], "U0REV2", "wrong_information", "high"),
        )
    finally:
        for engine in engines:
            await engine.dispose()
    groups = await groups_of(db)
    assert len(groups) == 2
    new = next(g for g in groups.values() if g.id != old.group_id)
    assert (new.category, new.occurrences, new.status) == ("wrong_information", 2, "open")
    assert (groups[old.group_id].status, groups[old.group_id].occurrences) == ("merged", 0)
    assert len(await outbox(db, "tracker.create_issue", mark)) == 1  # one issue for the new group
    closing = [p for p in await outbox(db, "slack.thread_post", mark) if "closed as merged" in p["text"]]
    assert len(closing) == 1


async def test_lifecycle_actions_refuse_a_closed_group_and_say_why(db, services) -> None:  # type: ignore[no-untyped-def]
    seed = Seed(db, NOW)
    source = await seed.defect(services, category="tone", template_id="t1")
    target = await seed.defect(services, category="tone", template_id="t2")
    async with db.transaction() as session:
        await regroup.merge_group(
            session=session, group_id=source.group_id, into_id=target.group_id, user="U0ENG", now=NOW
        )
    mark = await last_outbox(db)
    attempts = {
        "fixed": lambda s: defects.fix_group(session=s, group_id=source.group_id, now=NOW, user="U0ENG"),
        "take": lambda s: defects.take_group(session=s, group_id=source.group_id, user="U0ENG", now=NOW),
        "won't fix": lambda s: defects.wont_fix_group(
            session=s, group_id=source.group_id, user="U0ENG", reason="dup", now=NOW
        ),
        "merge": lambda s: regroup.merge_group(
            session=s, group_id=source.group_id, into_id=target.group_id, user="U0ENG", now=NOW
        ),
    }
    for name, attempt in attempts.items():
        with pytest.raises(defects.DefectError, match=r"merged into “.*”; to .* use that group's card"):
            async with db.transaction() as session:
                await attempt(session)
                pytest.fail(f"{name} went through on a merged group")
    assert await last_outbox(db) == mark  # nothing queued
    (source_group,) = [g for g in (await groups_of(db)).values() if g.id == source.group_id]
    assert source_group.status == "merged" and source_group.owner != "U0ENG"
    async with db.transaction() as session:
        await defects.fix_group(session=session, group_id=target.group_id, now=NOW, user="U0ENG")
    with pytest.raises(defects.DefectError, match="already fixed"):
        async with db.transaction() as session:
            await defects.fix_group(session=session, group_id=target.group_id, now=NOW, user="U0ENG")
    other = await seed.defect(services, category="tone", template_id="t3")
    for move in (
        lambda s: regroup.move_defect(
            session=s, defect_id=source.id, to_group_id=other.group_id, user="U0ENG", now=NOW
        ),
        lambda s: regroup.split_defect(
            session=s, defect_id=source.id, user="U0ENG", config=services.config, now=NOW
        ),
    ):  # the merged defects live in the fixed group now: it keeps them
        with pytest.raises(defects.DefectError, match="already fixed, so there is nothing to"):
            async with db.transaction() as session:
                await move(session)
    async with db.transaction() as session:  # the tracker saying "done" again is no error
        again = await defects.fix_group(session=session, group_id=target.group_id, now=NOW, via_tracker=True)
    assert again.status == "fixed"
