"""`auditbot export`: stable columns for every kind, CSV and JSONL, --since, -o."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.cli.main import main
from bot.core.config import DetectorsConfig
from bot.core.db import Database
from bot.core.models import Defect, DefectGroup, Review, SampleBatch, SampleItem
from bot.export.tables import COLUMNS, write
from bot.ingest.store import Checks, ingest
from tests.bot.export.defect_data import prepare
from tests.bot.replies import T0, record

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)


async def seed(db: Database) -> None:
    """Two replies (one with a finding), two reviews, one defect in one group."""
    batch = [
        record("R-1", reply="Hi {{first_name}},\n\nDone.", customer_message="Where is my invoice?"),
        record("R-2", ticket="T-2", minutes=3 * 24 * 60),
    ]
    await ingest(db, batch, checks=Checks.from_config(DetectorsConfig()), now=NOW)
    async with db.transaction() as session:
        sample = SampleBatch(
            channel="C0AUDIT",
            day=dt.date(2026, 11, 24),
            window_start=T0,
            window_end=NOW,
            seed=1,
            created_at=NOW,
        )
        session.add(sample)
        await session.flush()
        items = [
            SampleItem(batch_id=sample.id, reply_id=rid, position=n, stratum="flagged", inclusion_prob=0.5)
            for n, rid in enumerate((1, 2))
        ]
        session.add_all(items)
        await session.flush()
        defect_review = Review(
            item_id=items[0].id,
            reviewer="U0REV1",
            verdict="defect",
            category="template_error",
            severity="high",
            note="placeholder left",
            expected="Hi Dana, here it is.",
            created_at=NOW,
            updated_at=NOW,
        )
        correct = Review(
            item_id=items[1].id,
            reviewer="U0REV2",
            verdict="correct",
            expected="  ",
            created_at=NOW - dt.timedelta(days=5),
            updated_at=NOW,
        )
        session.add_all([defect_review, correct])
        group = DefectGroup(
            fingerprint="template_error:x",
            open_key="template_error:x",
            title="Placeholder in greeting",
            category="template_error",
            severity="high",
            occurrences=1,
            tracker="jira",
            tracker_url="https://jira.example/browse/SUP-1",
            owner="S0CONTENT",
            created_at=NOW,
        )
        session.add(group)
        await session.flush()
        session.add(
            Defect(
                review_id=defect_review.id,
                group_id=group.id,
                reply_id=1,
                category="template_error",
                severity="high",
                created_at=NOW,
            )
        )


async def export(db: Database, kind: str, fmt: str, since: dt.datetime | None = None) -> list[dict]:
    out = io.StringIO()
    count = await write(db, kind, out, fmt, since)
    text = out.getvalue()
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        assert tuple(reader.fieldnames or ()) == COLUMNS[kind]
        rows = list(reader)
    else:
        rows = [json.loads(line) for line in text.splitlines()]
        assert all(tuple(r) == COLUMNS[kind] for r in rows)
    assert len(rows) == count
    return rows


async def test_replies_and_findings(db: Database) -> None:
    await seed(db)
    replies = await export(db, "replies", "csv")
    assert replies[0] == {
        "id": "R-1",
        "source": "import",
        "ticket_id": "T-1",
        "created_at": "2026-11-20T10:00:00Z",
        "template_id": "seats",
        "intent": "plans",
        "channel": "email",
    }
    assert [r["id"] for r in replies] == ["R-1", "R-2"]
    [finding] = await export(db, "findings", "jsonl")
    assert finding["reply_id"] == "R-1" and finding["kind"] == "placeholder_leak"
    assert finding["evidence"]["placeholder"] == "{{first_name}}"
    [as_csv] = await export(db, "findings", "csv")
    assert json.loads(as_csv["evidence"])["placeholder"] == "{{first_name}}"
    assert finding["feedback"] is None and finding["feedback_reason"] is None
    assert as_csv["feedback"] == "" and as_csv["context"] == finding["context"]


async def test_findings_carry_their_sentence_and_feedback(db: Database) -> None:
    from bot.core.models import Finding, FindingFeedback

    await seed(db)
    async with db.transaction() as session:
        finding = (await session.execute(sa.select(Finding))).scalars().one()
        finding.evidence = {**finding.evidence, "sentence": ["Hi ", "{{first_name}}", ","]}
        now = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
        session.add(
            FindingFeedback(
                finding_id=finding.id,
                kind=finding.kind,
                verdict="false_alarm",
                reason="our own tag",
                reviewer="U1",
                created_at=now,
                updated_at=now,
            )
        )
    [row] = await export(db, "findings", "csv")
    assert (row["context"], row["feedback"], row["feedback_reason"]) == (
        "Hi «{{first_name}}»,",
        "false_alarm",
        "our own tag",
    )


async def test_reviews_defects_groups(db: Database) -> None:
    await seed(db)
    reviews = await export(db, "reviews", "csv")
    assert [(r["reply_id"], r["verdict"], r["severity"]) for r in reviews] == [
        ("R-1", "defect", "high"),
        ("R-2", "correct", ""),
    ]
    [defect] = await export(db, "defects", "jsonl")
    assert defect["reply_id"] == "R-1"  # the record's own id
    assert defect["tracker_url"] == "https://jira.example/browse/SUP-1"
    assert defect["status"] == "open"
    [group] = await export(db, "groups", "csv")
    assert (group["title"], group["occurrences"], group["owner"]) == (
        "Placeholder in greeting",
        "1",
        "S0CONTENT",
    )
    assert group["created_at"] == "2026-11-27T08:00:00Z" and group["fixed_at"] == ""


async def test_corrections_only_with_an_expected_answer(db: Database) -> None:
    await seed(db)
    [row] = await export(db, "corrections", "jsonl")
    assert row == {
        "customer_message": "Where is my invoice?",
        "reply": "Hi {{first_name}},\n\nDone.",
        "expected": "Hi Dana, here it is.",
        "category": "template_error",
        "template_id": "seats",
        "group_id": row["group_id"],
    }
    assert isinstance(row["group_id"], int)


async def test_since(db: Database) -> None:
    await seed(db)
    since = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    assert [r["id"] for r in await export(db, "replies", "jsonl", since)] == ["R-2"]
    assert [r["reply_id"] for r in await export(db, "reviews", "jsonl", since)] == ["R-1"]
    assert await export(db, "findings", "jsonl", since) == []  # its reply is older


@pytest.mark.parametrize("kind", sorted(COLUMNS))
def test_command_writes_a_file(
    kind: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(database_url, seed)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("AUDITBOT_CONFIG", raising=False)
    target = tmp_path / f"{kind}.out"
    assert main(["export", kind, "--since", "2026-11-01", "-o", str(target)]) == 0
    first = target.read_text().splitlines()[0]
    if kind == "corrections":  # JSONL by default
        assert tuple(json.loads(first)) == COLUMNS[kind]
    else:
        assert first == ",".join(COLUMNS[kind])


def test_command_refuses_an_unwritable_output(database_url: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    asyncio.run(_migrate(database_url))
    assert main(["export", "replies", "-o", str(tmp_path / "no" / "such" / "file.csv")]) == 2


async def _migrate(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    await db.dispose()
