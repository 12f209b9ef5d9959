"""Fix verification against a real database and the vendor fakes: the census's matching rule, the
reopening through Linear and GitHub (each request checked against its contract), races, the export."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json

import sqlalchemy as sa

from bot.core.models import DefectGroup, Finding, FixVerification, OutboxItem, Reply
from bot.defects.effects import deliver_pending
from bot.defects.groups import fix_group, reopen_group
from bot.defects.verification import check_fixes
from bot.export.tables import COLUMNS, VERIFICATION_COLUMNS, write


async def fixed(services, seed, **kw) -> DefectGroup:  # type: ignore[no-untyped-def]
    """A defect filed (its reply with a leaked placeholder), delivered, then fixed in Slack."""
    defect = await seed.defect(services, **kw)
    async with services.db.transaction() as session:
        session.add(
            Finding(reply_id=defect.reply_id, kind="placeholder_leak", evidence={}, created_at=seed.now)
        )
    await deliver_pending(services)
    async with services.db.transaction() as session:
        group = await fix_group(
            session=session,
            group_id=defect.group_id,
            user="U0ENG",
            now=services.clock.now(),
            config=services.config,
        )
    await deliver_pending(services)
    return group


async def reply(
    services, n: int, created: dt.datetime, *, template: str | None, kinds: tuple[str, ...] = ()
) -> int:  # type: ignore[no-untyped-def]
    async with services.db.transaction() as session:
        row = Reply(
            source="zendesk", external_id=f"N-{n}", ticket_id=f"T-{n}", created_at=created,
            reply="Hi {{first_name}}, call +1 415 555 0100", template_id=template, ingested_at=created,
            flagged=bool(kinds),
        )  # fmt: skip
        session.add(row)
        await session.flush()
        for kind in kinds:
            session.add(
                Finding(reply_id=row.id, kind=kind, evidence={"article_id": "kb-1"}, created_at=created)
            )
        return int(row.id)  # type: ignore[arg-type]


async def window(services) -> FixVerification:  # type: ignore[no-untyped-def]
    async with services.db.session() as session:
        return (
            (await session.execute(sa.select(FixVerification).order_by(FixVerification.id.desc())))
            .scalars()
            .first()
        )


async def test_the_census_counts_only_replies_with_the_groups_finding_fingerprint(
    services, seed, clock, vendors
):  # type: ignore[no-untyped-def]
    group = await fixed(services, seed)  # template_error in refund_policy_v3: Jira
    before = clock.now() - dt.timedelta(hours=1)
    clock.advance(hours=2)
    after = clock.now() - dt.timedelta(hours=1)
    await reply(services, 1, after, template="refund_policy_v3", kinds=("stale_kb",))  # another kind
    await reply(
        services, 2, after, template="other_template", kinds=("placeholder_leak",)
    )  # another template
    await reply(services, 3, after, template="refund_policy_v3")  # the segment, nothing found
    await reply(
        services, 4, before, template="refund_policy_v3", kinds=("placeholder_leak",)
    )  # before the fix
    report = await check_fixes(services)
    found = await window(services)
    assert (report.checked, report.recurred) == (1, 0)
    assert (found.status, found.traffic, found.matches, found.kinds) == (
        "verifying",
        2,
        0,
        ["placeholder_leak"],
    )

    match = await reply(
        services, 5, after, template="refund_policy_v3", kinds=("placeholder_leak", "stale_kb")
    )
    assert (await check_fixes(services)).recurred == 1
    found = await window(services)
    assert (found.status, found.matches, found.cases) == ("recurred", 1, [match])
    comment = vendors.jira.issues[group.tracker_key]["comments"][-1]
    text = json.dumps(comment)
    assert "N-5" in text and "[phone]" in text and "555 0100" not in text


async def test_linear_and_github_issues_are_reopened_once(services, seed, clock, vendors):  # type: ignore[no-untyped-def]
    linear = await fixed(services, seed, category="personalization", template_id="greet")
    github = await fixed(services, seed, category="wrong_information", template_id="kb_answer")
    assert vendors.github.issues[1]["state"] == "closed"
    clock.advance(hours=3)
    seed.now = clock.now() - dt.timedelta(hours=1)  # reviewers find both again, in replies after the fixes
    await seed.defect(services, category="personalization", template_id="greet", reviewer="U0REV2")
    await seed.defect(services, category="wrong_information", template_id="kb_answer", reviewer="U0REV2")
    await deliver_pending(services)
    await check_fixes(services)
    await deliver_pending(services)

    set_state = [r for r in vendors.linear.requests if b"SetState" in r.content]
    reopened = [json.loads(r.content)["variables"]["input"]["stateId"] for r in set_state]
    assert reopened == ["state-completed", "state-unstarted"]  # the fix, then the one reopening
    patches = [json.loads(r.content) for r in vendors.github.requests if r.method == "PATCH"]
    assert patches == [
        {"state": "closed", "state_reason": "completed"},
        {"state": "open", "state_reason": "reopened"},
    ]
    async with services.db.session() as session:
        groups = {g.id: g for g in (await session.execute(sa.select(DefectGroup))).scalars()}
        windows = list((await session.execute(sa.select(FixVerification))).scalars())
    assert [groups[linear.id].status, groups[github.id].status] == ["open", "open"]
    assert [groups[linear.id].occurrences, groups[github.id].occurrences] == [2, 2]  # the new ones joined
    assert sorted(w.status for w in windows) == ["recurred", "recurred"]


async def test_two_checks_at_once_reopen_the_issue_once(services, seed, clock, vendors):  # type: ignore[no-untyped-def]
    group = await fixed(services, seed)
    clock.advance(hours=1)
    await reply(services, 1, clock.now(), template="refund_policy_v3", kinds=("placeholder_leak",))
    reports = await asyncio.gather(check_fixes(services), check_fixes(services))
    assert sum(r.recurred for r in reports) == 1
    async with services.db.session() as session:
        keys = list((await session.execute(sa.select(OutboxItem.idempotency_key))).scalars())
    assert sum(":recurred:" in k for k in keys) == 3  # one thread post, one reopening, one comment
    await deliver_pending(services)
    transitions = [
        r for r in vendors.jira.requests if r.method == "POST" and r.url.path.endswith("/transitions")
    ]
    assert [json.loads(r.content)["transition"]["id"] for r in transitions] == ["31", "11"]  # done, reopened
    assert vendors.jira.issues[group.tracker_key]["status"] == "To Do"


async def test_a_group_reopened_by_hand_ends_its_window_without_an_outcome(services, seed, clock):  # type: ignore[no-untyped-def]
    group = await fixed(services, seed)
    async with services.db.transaction() as session:
        await reopen_group(session=session, group_id=group.id, now=clock.now(), user="U0ENG")
    found = await window(services)
    assert (found.status, found.active_group_id) == ("cancelled", None)
    assert (await check_fixes(services)).checked == 0


async def test_export_groups_shows_the_latest_verification(services, seed, clock):  # type: ignore[no-untyped-def]
    await fixed(services, seed)
    out = io.StringIO()
    await write(services.db, "groups", out, "csv")
    header, row = out.getvalue().splitlines()
    assert (
        header.split(",") == list(COLUMNS["groups"])
        and COLUMNS["groups"][-len(VERIFICATION_COLUMNS) :] == VERIFICATION_COLUMNS
    )
    assert header.startswith(
        "id,title,category,severity,status,occurrences,tracker,tracker_url,owner,created_at,fixed_at,"
    )
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert (
        values["verification"] == "verifying"
        and values["verification_segment"] == "template:refund_policy_v3"
    )
    assert values["verification_ends_at"] == (clock.now() + dt.timedelta(days=7)).isoformat().replace(
        "+00:00", "Z"
    )
    out = io.StringIO()
    await write(services.db, "groups", out, "jsonl")
    assert json.loads(out.getvalue())["verification_matches"] == 0
