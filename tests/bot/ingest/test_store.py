"""Storing batches: idempotent on (source, id), detectors with earlier replies from the database."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.core.config import DetectorsConfig
from bot.core.db import Database
from bot.core.models import Finding, Reply
from bot.ingest.store import Checks, ingest
from tests.bot.replies import T0, record, stale_article

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
CHECKS = Checks.from_config(DetectorsConfig())


async def replies(db: Database) -> dict[str, Reply]:
    async with db.session() as session:
        rows = (await session.execute(sa.select(Reply))).scalars().all()
    return {f"{r.source}/{r.external_id}": r for r in rows}


async def findings(db: Database) -> dict[tuple[str, str], dict]:
    async with db.session() as session:
        rows = await session.execute(
            sa.select(Reply.external_id, Finding.kind, Finding.evidence).join(
                Reply, Reply.id == Finding.reply_id
            )
        )
        return {(rid, kind): evidence for rid, kind, evidence in rows}


async def test_stores_every_field_and_counts(db: Database) -> None:
    first = record("R-1", csat=4, metadata={"model": "v7"}, kb_articles=stale_article(10))
    result = await ingest(db, [first, record("R-2", ticket="T-2")], checks=CHECKS, now=NOW)
    assert (result.received, result.imported, result.already_present) == (2, 2, 0)
    stored = (await replies(db))["import/R-1"]
    assert stored.ticket_id == "T-1"
    assert stored.created_at == T0
    assert stored.customer_name == "Dana Lee" and stored.customer_plan == "Plus"
    assert stored.kb_articles == [
        {"id": "kb-9", "url": "https://help.example/kb-9", "updated_at": "2026-11-10"}
    ]
    assert stored.extra == {"model": "v7"}
    assert stored.csat == 4
    assert stored.flagged is False
    assert stored.text_key is None  # duplicate checks key stored replies from `reply`
    assert stored.ingested_at == NOW


async def test_importing_again_changes_nothing(db: Database) -> None:
    batch = [record("R-1", reply="Hi {{first_name}}, done."), record("R-2", ticket="T-2")]
    await ingest(db, batch, checks=CHECKS, now=NOW)
    before = (await replies(db), await findings(db))
    again = await ingest(db, batch, checks=CHECKS, now=NOW + dt.timedelta(hours=1))
    assert (again.imported, again.already_present, again.findings) == (0, 2, 0)
    after = (await replies(db), await findings(db))
    assert {k: (r.id, r.ingested_at) for k, r in after[0].items()} == {
        k: (r.id, r.ingested_at) for k, r in before[0].items()
    }
    assert after[1] == before[1]


async def test_new_replies_beside_stored_ones_get_their_own_findings(db: Database) -> None:
    await ingest(db, [record("R-1", reply="Hi {{first_name}}, done.")], checks=CHECKS, now=NOW)
    batch = [
        record("R-1", reply="Hi {{first_name}}, done."),  # stored already: its finding too
        record("R-2", ticket="T-2"),
        record("R-3", ticket="T-3", reply="Hi [Customer Name], done."),
    ]
    result = await ingest(db, batch, checks=CHECKS, now=NOW)
    assert (result.imported, result.already_present, result.findings) == (2, 1, 1)
    assert set(await findings(db)) == {("R-1", "placeholder_leak"), ("R-3", "placeholder_leak")}
    assert (await findings(db))[("R-3", "placeholder_leak")]["placeholder"] == "[Customer Name]"


async def test_same_id_from_another_source_is_another_reply(db: Database) -> None:
    result = await ingest(
        db, [record("R-1"), record("R-1", source="zendesk"), record("R-1")], checks=CHECKS, now=NOW
    )
    assert (result.imported, result.already_present) == (2, 1)
    assert set(await replies(db)) == {"import/R-1", "zendesk/R-1"}


async def test_findings_stored_with_evidence_and_flag(db: Database) -> None:
    batch = [
        record("R-1", reply="Hi {{first_name}},\n\nDone."),
        record("R-2", ticket="T-2", reply="Hi Maria,\n\nDone."),
        record("R-3", ticket="T-3", reply="Hi Dana,\n\nYour Team plan has SSO."),
        record("R-4", ticket="T-4", kb_articles=stale_article(400)),
        record("R-5", ticket="T-5", csat=2),
        record("R-6", ticket="T-6", csat=3),
    ]
    await ingest(db, batch, checks=CHECKS, now=NOW)
    found = await findings(db)
    assert found[("R-1", "placeholder_leak")]["placeholder"] == "{{first_name}}"
    assert found[("R-2", "name_mismatch")] == {
        "greeted": "Maria",
        "customer": "Dana Lee",
        "sentence": ["Hi ", "Maria", ","],
    }
    assert found[("R-3", "plan_mismatch")] == {
        "plan": "Team",
        "customer_plan": "Plus",
        "sentence": ["Your ", "Team", " plan has SSO."],
    }
    assert found[("R-4", "stale_kb")]["article_id"] == "kb-9"
    assert found[("R-4", "stale_kb")]["age_days"] == 400
    assert len(found) == 4
    flagged = {k: r.flagged for k, r in (await replies(db)).items()}
    assert flagged == {
        "import/R-1": True,
        "import/R-2": True,
        "import/R-3": True,
        "import/R-4": True,
        "import/R-5": True,  # low CSAT alone flags a reply
        "import/R-6": False,
    }


async def test_duplicate_found_against_an_earlier_batch(db: Database) -> None:
    await ingest(db, [record("R-1")], checks=CHECKS, now=NOW)
    text = record("R-1").reply.replace("\n\n", "\n  \n")  # same text up to whitespace
    result = await ingest(db, [record("R-2", minutes=30, reply=text)], checks=CHECKS, now=NOW)
    assert result.findings == 1
    assert (await findings(db))[("R-2", "duplicate_reply")]["earlier_id"] == "R-1"
    assert (await replies(db))["import/R-2"].flagged is True


async def test_duplicate_outside_the_window_or_on_another_ticket_is_not_one(db: Database) -> None:
    await ingest(db, [record("R-1")], checks=CHECKS, now=NOW)
    same = record("R-1").reply
    later = [
        record("R-2", minutes=25 * 60, reply=same),
        record("R-3", ticket="T-2", minutes=10, reply=same),
    ]
    await ingest(db, later, checks=CHECKS, now=NOW)
    assert await findings(db) == {}


async def test_finding_shown_on_an_earlier_batch_is_not_repeated_on_the_ticket(db: Database) -> None:
    await ingest(db, [record("R-1", kb_articles=stale_article())], checks=CHECKS, now=NOW)
    follow_up = record("R-2", minutes=60, reply="Hi Dana, any news?", kb_articles=stale_article())
    await ingest(db, [follow_up], checks=CHECKS, now=NOW)
    assert set(await findings(db)) == {("R-1", "stale_kb")}


async def test_large_batch_is_split_into_inserts(db: Database) -> None:
    batch = [record(f"R-{i}", ticket=f"T-{i}", reply=f"Hi Dana, answer {i}.") for i in range(2500)]
    result = await ingest(db, batch, checks=CHECKS, now=NOW)
    assert result.imported == 2500
    assert len(await replies(db)) == 2500
