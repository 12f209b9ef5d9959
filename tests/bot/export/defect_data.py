"""Confirmed defects with planted personal data, citing help-centre articles, for the export tests."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

from bot.core.config import DetectorsConfig
from bot.core.db import Database
from bot.core.models import Defect, DefectGroup, Review, SampleBatch, SampleItem
from bot.core.records import KbArticle
from bot.ingest.store import Checks, ingest
from tests.bot.replies import T0, record

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
# what must never leave in an export: the customer's email, phone, card number and name
PLANTED = ("dana.lee@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "Dana", "Lee")
OLD = KbArticle(id="kb-12", url="https://help.example/kb-12", updated_at=dt.date(2025, 1, 2))
FRESH = KbArticle(id="kb-30", url="https://help.example/kb-30", updated_at=dt.date(2026, 11, 1))


async def seed_defects(db: Database) -> dict[str, int]:
    """R-1: a leaked placeholder citing kb-12 (stale) and kb-30, defect with an expected answer.
    R-2: wrong refund policy citing kb-12, defect without an expected answer. R-3: reviewed correct,
    citing kb-30. R-4: a withdrawn defect (no case). Returns the group ids by name."""
    batch = [
        record(
            "R-1",
            reply="Hi {{first_name}}, call us on +44 20 7946 0958 or mail dana.lee@example.com. See kb-12.",
            customer_message="I'm Dana Lee, card 4111 1111 1111 1111 was charged twice. Refund?",
            kb_articles=(OLD, FRESH),
        ),
        record(
            "R-2",
            ticket="T-2",
            minutes=60,
            reply="Hi Dana, refunds take 90 days.",
            customer_message="Dana here: how long do refunds take? Mail me at dana.lee@example.com",
            kb_articles=(OLD,),
        ),
        record("R-3", ticket="T-3", minutes=90, kb_articles=(FRESH,)),
        record("R-4", ticket="T-4", minutes=120, reply="Hi Dana, all good."),
    ]
    await ingest(db, batch, checks=Checks.from_config(DetectorsConfig()), now=NOW)
    async with db.transaction() as session:
        sample = SampleBatch(
            channel="C0AUDIT", day=dt.date(2026, 11, 21), window_start=T0, window_end=NOW, seed=1,
            created_at=NOW,
        )  # fmt: skip
        session.add(sample)
        await session.flush()
        items = [
            SampleItem(batch_id=sample.id, reply_id=rid, position=rid, stratum="flagged", inclusion_prob=0.5)
            for rid in (1, 2, 3, 4)
        ]
        session.add_all(items)
        await session.flush()

        def review(item: SampleItem, verdict: str, **kw: str) -> Review:
            return Review(
                item_id=item.id, reviewer="U0REV1", verdict=verdict, created_at=NOW, updated_at=NOW, **kw
            )  # type: ignore[arg-type]

        reviews = [
            review(
                items[0], "defect", category="template_error", severity="high",
                note="Leaks {{first_name}} and Dana's email dana.lee@example.com",
                expected="Hi Dana, we refunded the double charge on card 4111 1111 1111 1111.",
            ),
            review(
                items[1], "defect", category="wrong_information", severity="critical",
                note="Refunds take 5 days",
            ),
            review(items[2], "correct"),
            review(items[3], "defect", category="tone", severity="low", note="curt"),
        ]  # fmt: skip
        session.add_all(reviews)
        groups = {}
        for name, category in (("leak", "template_error"), ("policy", "wrong_information"), ("tone", "tone")):
            groups[name] = DefectGroup(
                fingerprint=name, title=name, category=category, severity="high", occurrences=1,
                created_at=NOW,
            )  # fmt: skip
        session.add_all(groups.values())
        await session.flush()
        for review_, group, reply_id, status in (
            (reviews[0], groups["leak"], 1, "open"),
            (reviews[1], groups["policy"], 2, "open"),
            (reviews[3], groups["tone"], 4, "withdrawn"),
        ):
            session.add(
                Defect(
                    review_id=review_.id,
                    group_id=group.id,
                    reply_id=reply_id,
                    category=review_.category,
                    severity=review_.severity,
                    status=status,
                    created_at=NOW,
                )
            )
        return {name: g.id for name, g in groups.items()}  # type: ignore[misc]


def prepare(url: str, seed: Callable[[Database], Awaitable[object]]) -> None:
    """A migrated database at `url` with `seed`'s rows, for tests that run the CLI's own event loop."""

    async def run() -> None:
        db = Database(url)
        await db.upgrade()
        await seed(db)
        await db.dispose()

    asyncio.run(run())
