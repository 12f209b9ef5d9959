"""Grouping, routing and the group changes (take, fixed, won't fix, merge, move, split, reopen)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from bot.core.db import Database, writing
from bot.core.models import Defect, DefectGroup, Finding, OutboxItem, Reply
from bot.defects import filing, regroup
from bot.defects import groups as defects
from tests.bot.defect_support import Seed, Vendors, make_services, routed

NOW = dt.datetime(2026, 11, 27, 8, tzinfo=dt.UTC)


@pytest.fixture
def services(db, clock, config, settings):
    return make_services(db, clock, routed(config), settings, "http://127.0.0.1:9/api/", Vendors())


@pytest.fixture
def seed(db, clock) -> Seed:
    return Seed(db, clock.now())


async def kinds(db) -> list[str]:
    async with db.session() as session:
        return list((await session.execute(sa.select(OutboxItem.kind).order_by(OutboxItem.id))).scalars())


async def thread_posts(db) -> list[str]:
    """The texts of the thread posts queued so far, in order."""
    stmt = sa.select(OutboxItem.payload).where(OutboxItem.kind == "slack.thread_post").order_by(OutboxItem.id)
    async with db.session() as session:
        return [payload["text"] for payload in (await session.execute(stmt)).scalars()]


async def group(db, group_id: int) -> DefectGroup:
    async with db.session() as session:
        found = await session.get(DefectGroup, group_id)
        assert found is not None
        return found


def reply(**kw) -> Reply:
    values = {
        "source": "s",
        "external_id": "R1",
        "ticket_id": "T1",
        "created_at": NOW,
        "reply": "Hi  Dana!",
        "ingested_at": NOW,
    }
    return Reply(**{**values, **kw})


def test_fingerprint_prefers_template_then_stale_article_then_detector_then_text():
    stale = Finding(reply_id=1, kind="stale_kb", evidence={"article_id": "kb-12"}, created_at=NOW)
    leak = Finding(reply_id=1, kind="placeholder_leak", evidence={}, created_at=NOW)
    assert (
        filing.fingerprint(category="template_error", reply=reply(template_id="t1"), findings=[])
        == "tpl:template_error:t1"
    )
    assert (
        filing.fingerprint(category="outdated_kb", reply=reply(template_id="t1"), findings=[stale])
        == "kb:kb-12"
    )
    assert filing.fingerprint(category="tone", reply=reply(), findings=[leak]) == "det:placeholder_leak:tone"
    same = filing.fingerprint(category="tone", reply=reply(reply="hi dana"), findings=[])
    assert same == filing.fingerprint(category="tone", reply=reply(), findings=[]) and same.startswith(
        "txt:tone:"
    )


async def test_defects_with_one_root_cause_share_an_open_group_and_queue_their_effects(services, seed, db):
    for reviewer in ("U0REV1", "U0REV2", "U0REV1"):
        await seed.defect(services, reviewer=reviewer, severity="medium")
    await seed.defect(services, reviewer="U0REV2", severity="critical")

    async with db.session() as session:
        (only,) = (await session.execute(sa.select(DefectGroup))).scalars().all()
        assert await defects.reviewers(session, only.id) == ["U0REV1", "U0REV2"]
    assert (only.occurrences, only.severity, only.tracker, only.channel) == (
        4,
        "critical",
        "jira",
        "C0CONTENT",
    )
    assert only.open_key == only.fingerprint == "tpl:template_error:refund_policy_v3"
    queued = await kinds(db)
    assert queued.count("tracker.create_issue") == 1 and queued.count("tracker.comment") == 3
    assert queued.count("slack.thread_post") == 4 and queued.count("slack.item_link") == 4
    assert queued.count("helpdesk.note") == 4  # the route asks for a helpdesk note


async def test_routing_picks_the_first_matching_rule(services, seed, db):
    await seed.defect(services, category="personalization", template_id="g1")
    await seed.defect(services, category="tone", template_id="g1")
    async with db.session() as session:
        linear, none = (
            (await session.execute(sa.select(DefectGroup).order_by(DefectGroup.id))).scalars().all()
        )
    assert (linear.tracker, linear.channel, linear.owner) == ("linear", "C0DEFECTS", None)
    assert (none.tracker, none.channel) == ("none", "C0DEFECTS")
    assert (await kinds(db)).count("tracker.create_issue") == 1


async def test_concurrent_filings_of_one_root_cause_make_one_group(services, seed, db):
    items = [await seed.item() for _ in range(4)]
    filed = await asyncio.gather(
        *(seed.defect(services, item_id=i, reviewer=f"U0REV{n}") for n, i in enumerate(items))
    )
    assert len({d.group_id for d in filed}) == 1
    only = await group(db, filed[0].group_id)
    assert only.occurrences == 4
    assert (await kinds(db)).count("tracker.create_issue") == 1


async def test_refiling_the_same_review_changes_nothing(services, seed, db):
    first = await seed.defect(services)
    async with db.transaction() as session:
        from bot.core.models import Review

        review = await session.get(Review, first.review_id)
        again = await filing.file_defect(session=session, review=review, config=services.config, now=NOW)
    assert again.id == first.id
    assert (await group(db, first.group_id)).occurrences == 1


async def test_take_fix_and_reopen(services, seed, db, clock):
    defect = await seed.defect(services, reviewer="U0REV2")
    async with db.transaction() as session:
        await defects.take_group(session=session, group_id=defect.group_id, user="U0ENG", now=NOW)
    assert (await group(db, defect.group_id)).owner == "U0ENG"

    later = NOW + dt.timedelta(days=2)
    async with db.transaction() as session:
        await defects.fix_group(session=session, group_id=defect.group_id, user="U0ENG", now=later)
    fixed = await group(db, defect.group_id)
    assert (fixed.status, fixed.fixed_at, fixed.open_key) == ("fixed", later, None)
    assert (await thread_posts(db))[-1] == "✅ Fixed by <@U0ENG> — thanks <@U0REV2> who caught it"
    assert (await kinds(db))[-1] == "tracker.set_state"

    # A new occurrence meanwhile opens a new group with the same fingerprint ...
    newer = await seed.defect(services)
    assert newer.group_id != defect.group_id
    async with db.transaction() as session:
        await defects.reopen_group(session=session, group_id=defect.group_id, now=later, via_tracker=True)
    reopened = await group(db, defect.group_id)
    assert reopened.status == "open" and reopened.open_key is None  # ... which keeps the key
    async with db.transaction() as session:
        await defects.fix_group(session=session, group_id=newer.group_id, now=later, via_tracker=True)
        await defects.fix_group(session=session, group_id=defect.group_id, now=later, via_tracker=True)
        await defects.reopen_group(session=session, group_id=defect.group_id, now=later, via_tracker=True)
    assert (await group(db, defect.group_id)).open_key == reopened.fingerprint


async def test_taking_a_group_one_owns_already_changes_nothing(services, seed, db):
    defect = await seed.defect(services)
    for user in ("U0ENG", "U0ENG", "U0ENG2"):
        async with db.transaction() as session:
            await defects.take_group(session=session, group_id=defect.group_id, user=user, now=NOW)
    took = [text for text in await thread_posts(db) if "took this" in text]
    assert took == ["🙋 <@U0ENG> took this.", "🙋 <@U0ENG2> took this."]
    assert (await group(db, defect.group_id)).owner == "U0ENG2"


@pytest.mark.parametrize("close", ["fixed", "wont_fix"])
async def test_a_close_whose_commit_answer_was_lost_is_found_done_when_run_again(
    services, seed, db, database_url, close
):
    """The click's first run commits but its answer is lost (the connection drops during COMMIT):
    `patiently` runs it again, which finds the group closed as asked, says so once, and fails not."""
    defect = await seed.defect(services)
    patient = Database(database_url, patience=60)
    runs: list[int] = []

    async def click(session) -> None:  # type: ignore[no-untyped-def]
        runs.append(1)
        async with writing(session):
            if close == "fixed":
                await defects.fix_group(session=session, group_id=defect.group_id, user="U0ENG", now=NOW)
            else:
                await defects.wont_fix_group(
                    session=session, group_id=defect.group_id, user="U0ENG", reason="Legacy", now=NOW
                )
        if len(runs) == 1:
            raise ConnectionResetError("the answer to COMMIT never came")

    try:
        await patient.patiently(click)
    finally:
        await patient.dispose()
    assert len(runs) == 2
    assert (await group(db, defect.group_id)).status == close
    said = [t for t in await thread_posts(db) if t.startswith(("✅ Fixed", "🚫 Won't fix"))]
    assert len(said) == 1  # announced by the run that landed, not again


async def test_wont_fix_keeps_the_reason_and_tells_the_reviewers(services, seed, db):
    defect = await seed.defect(services, category="tone")
    async with db.transaction() as session:
        await defects.wont_fix_group(
            session=session, group_id=defect.group_id, user="U0ENG", reason="Legacy <b>", now=NOW
        )
    closed = await group(db, defect.group_id)
    assert (closed.status, closed.reason, closed.open_key) == ("wont_fix", "Legacy <b>", None)
    last = (await thread_posts(db))[-1]
    assert "Legacy &lt;b&gt;" in last and "cc <@U0REV1>" in last
    assert "tracker.set_state" not in await kinds(db)  # tracker = "none": nothing to tell


async def test_merge_moves_every_defect_and_closes_the_source(services, seed, db):
    a = await seed.defect(services, template_id="t1")
    await seed.defect(services, template_id="t1", reviewer="U0REV2")
    b = await seed.defect(services, template_id="t2")
    async with db.transaction() as session:
        await regroup.merge_group(
            session=session, group_id=a.group_id, into_id=b.group_id, user="U0ENG", now=NOW
        )
    source, target = await group(db, a.group_id), await group(db, b.group_id)
    assert (source.status, source.merged_into_id, source.open_key) == ("merged", b.group_id, None)
    assert target.occurrences == 3
    with pytest.raises(defects.DefectError):
        async with db.transaction() as session:
            await regroup.merge_group(
                session=session, group_id=b.group_id, into_id=a.group_id, user="U0ENG", now=NOW
            )
    with pytest.raises(defects.DefectError):
        async with db.transaction() as session:
            await regroup.merge_group(
                session=session, group_id=b.group_id, into_id=b.group_id, user="U0ENG", now=NOW
            )


async def test_move_and_split_one_defect(services, seed, db):
    a = await seed.defect(services, template_id="t1")
    a2 = await seed.defect(services, template_id="t1", reviewer="U0REV2")
    b = await seed.defect(services, template_id="t2")
    async with db.transaction() as session:
        await regroup.move_defect(
            session=session, defect_id=a2.id, to_group_id=b.group_id, user="U0REV1", now=NOW
        )
    assert ((await group(db, a.group_id)).occurrences, (await group(db, b.group_id)).occurrences) == (1, 2)

    async with db.transaction() as session:
        split = await regroup.split_defect(
            session=session, defect_id=a2.id, user="U0REV1", config=services.config, now=NOW
        )
    async with db.session() as session:
        moved = await session.get(Defect, a2.id)
    assert moved.group_id == split.id and split.occurrences == 1 and split.status == "open"
    assert (await group(db, b.group_id)).occurrences == 1
    assert split.tracker == "jira" and (await kinds(db)).count("tracker.create_issue") == 3


async def test_a_withdrawn_defect_stops_counting_and_counts_again_when_refiled(services, seed, db):
    first = await seed.defect(services)
    await seed.defect(services, reviewer="U0REV2")
    async with db.transaction() as session:
        await filing.withdraw_defect(session=session, review_id=first.review_id, now=NOW)
    assert (await group(db, first.group_id)).occurrences == 1
    async with db.transaction() as session:
        from bot.core.models import Review

        review = await session.get(Review, first.review_id)
        await filing.file_defect(session=session, review=review, config=services.config, now=NOW)
    assert (await group(db, first.group_id)).occurrences == 2
