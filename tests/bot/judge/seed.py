"""Rows the agreement and sampling tests start from: judgments and reviewed sample items."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import FrameCell, JudgeRun, Judgment, Reply, SampleBatch, SampleItem
from bot.judge.runner import Judge
from bot.review.verdicts import DefectInput, record_defect, record_verdict

AT = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


async def add_replies(
    db: Database, count: int, at: dt.datetime, flagged: list[bool] | None = None
) -> list[int]:
    """`count` bare replies created at `at` (`flagged` as the checks would have set it)."""
    async with db.transaction() as session:
        rows = [
            Reply(
                source="t",
                external_id=f"P-{at:%d}-{n:04d}",
                ticket_id=f"T-{at:%d}-{n}",
                created_at=at,
                reply=f"reply {n}",
                flagged=bool(flagged and flagged[n]),
                ingested_at=at,
            )
            for n in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]  # type: ignore[misc]


async def seed_judgments(
    db: Database, config: AuditConfig, verdicts: Mapping[int, Mapping[str, str]]
) -> None:
    """A finished run under the current key per reply: the given verdicts, "pass" for the rest."""
    judge = Judge.of(config)
    key = {"prompt_version": judge.key.prompt_version, "model": judge.key.model}
    run = {
        "status": "ok",
        "attempts": 1,
        "retryable": False,
        "claimed_at": AT,
        "created_at": AT,
        "finished_at": AT,
    }
    async with db.transaction() as session:
        await session.execute(
            sa.insert(JudgeRun),
            [{"reply_id": rid, **key, **run, "input_tokens": 100, "output_tokens": 40} for rid in verdicts],
        )
        rows = await session.execute(
            sa.select(JudgeRun.reply_id, JudgeRun.id).where(
                JudgeRun.model == judge.key.model, JudgeRun.prompt_version == judge.key.prompt_version
            )
        )
        run_ids = dict(rows.all())
        await session.execute(
            sa.insert(Judgment),
            [
                {
                    "run_id": run_ids[rid],
                    "reply_id": rid,
                    "criterion": c.id,
                    "criterion_version": c.version,
                    "category": c.category,
                    "verdict": given.get(c.id, "pass"),
                    "rationale": f"seeded {given.get(c.id, 'pass')}",
                    "evidence": "",
                }
                for rid, given in verdicts.items()
                for c in judge.criteria
            ],
        )


async def seed_reviewed(
    db: Database, config: AuditConfig, reply_ids: Sequence[int], labels: Sequence[str | None], *, day: dt.date
) -> list[int]:
    """A posted batch of `reply_ids` with one reviewer's verdict each, through the real review code.

    A label is "correct", a defect category (a defect filed under it), or None (not reviewed)."""
    async with db.transaction() as session:
        batch = SampleBatch(
            channel="C0AUDIT", day=day, window_start=AT - dt.timedelta(days=1), window_end=AT, seed=1,
            population=len(reply_ids), unflagged_population=len(reply_ids), unflagged_drawn=len(reply_ids),
            status="posted", created_at=AT, posted_at=AT, high_reply_id=max(reply_ids),
        )  # fmt: skip
        session.add(batch)
        await session.flush()
        # the replies are this batch's frame (bot.sample.frames): one cell, every reply drawn
        cell = FrameCell(
            batch_id=batch.id,
            week="2026-W47",
            stratum="unflagged",
            population=len(reply_ids),
            drawn=len(reply_ids),
        )
        session.add(cell)
        await session.flush()
        await session.execute(sa.update(Reply).where(Reply.id.in_(reply_ids)).values(frame_id=batch.id))
        items = [
            SampleItem(
                batch_id=batch.id,
                reply_id=rid,
                position=n + 1,
                stratum="unflagged",
                inclusion_prob=1.0,
                cell_id=cell.id,
                channel="C0AUDIT",
                message_ts=f"1764000000.{n:06d}",
                posted_at=AT,
            )
            for n, rid in enumerate(reply_ids)
        ]
        session.add_all(items)
        await session.flush()
        item_ids = [item.id for item in items]
    for item_id, label in zip(item_ids, labels, strict=True):
        if label is None:
            continue
        async with db.transaction() as session:
            if label == "correct":
                await record_verdict(
                    session=session, item_id=item_id, reviewer="U0REV1", verdict="correct", now=AT
                )
            else:
                defect = DefectInput(label, "medium", f"{label} problem", None, False)
                await record_defect(
                    session=session, item_id=item_id, reviewer="U0REV1", defect=defect, config=config, now=AT
                )
    return item_ids  # type: ignore[return-value]
