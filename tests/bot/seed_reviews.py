"""Rows the review tests start from: replies sampled into a posted batch (a census of its frame)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.core import weeks
from bot.core.db import Database
from bot.core.models import Finding, FrameCell, Reply, SampleBatch, SampleItem

POSTED_AT = dt.datetime(2026, 11, 26, 8, 30, tzinfo=dt.UTC)


async def seed_items(
    db: Database,
    count: int = 1,
    *,
    double_review: bool = False,
    channel: str | None = "C0AUDIT",
    message_ts: list[str] | None = None,
    findings: dict[int, str] | None = None,
    day: dt.date = dt.date(2026, 11, 26),
    template_id: str | None = "refund_policy_v3",
) -> list[int]:
    """`count` posted sample items (ids returned); `findings` maps an index to a detector kind."""
    async with db.transaction() as session:
        batch = SampleBatch(
            channel=channel or "C0AUDIT",
            day=day,
            window_start=POSTED_AT - dt.timedelta(days=1),
            window_end=POSTED_AT,
            seed=1,
            status="posted",
            created_at=POSTED_AT,
            posted_at=POSTED_AT,
            population=count,
            unflagged_population=count,
            unflagged_drawn=count,
            high_reply_id=0,
        )
        session.add(batch)
        await session.flush()
        # the frame's one cell, as bot.sample.frames stores it: every reply drawn (the replies' week)
        week = weeks.week_of(POSTED_AT - dt.timedelta(hours=3), ZoneInfo("Europe/Berlin"))
        cell = FrameCell(batch_id=batch.id, week=week, stratum="unflagged", population=count, drawn=count)
        session.add(cell)
        await session.flush()
        items = []
        for index in range(count):
            reply = Reply(
                source="test",
                external_id=f"R-{day:%m%d}-{index:04d}",
                ticket_id=f"T-{index:04d}",
                created_at=POSTED_AT - dt.timedelta(hours=3),
                reply=f"Hi Dana, your refund of {index} euro is on its way.",
                customer_message="Where is my refund?",
                ticket_url=f"https://help.example.com/tickets/{index}",
                template_id=template_id,
                ingested_at=POSTED_AT,
                frame_id=batch.id,
            )
            session.add(reply)
            await session.flush()
            kind = (findings or {}).get(index)
            if kind:
                session.add(Finding(reply_id=reply.id, kind=kind, evidence={}, created_at=POSTED_AT))
            item = SampleItem(
                batch_id=batch.id,
                reply_id=reply.id,
                position=index + 1,
                stratum="unflagged",
                inclusion_prob=0.1,
                double_review=double_review,
                channel=channel,
                message_ts=message_ts[index] if message_ts else f"1700000000.{index:06d}",
                posted_at=POSTED_AT,
                cell_id=cell.id,
            )
            session.add(item)
            items.append(item)
        await session.flush()
        return [item.id for item in items]
