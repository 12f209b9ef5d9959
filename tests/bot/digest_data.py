"""A known week of audit data (2026-W47, Europe/Berlin) for the rollup and digest tests."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import weeks
from bot.core.db import Database
from bot.core.models import Defect, DefectGroup, FrameCell, Reply, Review, SampleBatch, SampleItem
from bot.review import outcomes

WEEK = "2026-W47"
MONDAY = dt.datetime(2026, 11, 16, 0, 0, tzinfo=dt.UTC) - dt.timedelta(hours=1)  # Berlin midnight, in UTC
BERLIN = ZoneInfo("Europe/Berlin")
_ids = itertools.count(1)


def at(day: int, hour: float = 9.0) -> dt.datetime:
    """`day` days after Monday of W47 (Berlin), at `hour` local time (winter: UTC+1)."""
    return MONDAY + dt.timedelta(days=day, hours=hour)


@dataclass
class Seeder:
    """Adds rows with just the fields the rollup reads; ids come back for later references."""

    session: AsyncSession
    replies: list[Reply] = field(default_factory=list)
    cells: dict[tuple[int, str], int] = field(default_factory=dict)  # (batch id, stratum) -> cell id

    async def reply(
        self, created_at: dt.datetime, *, text: str = "Hi Dana, your refund is on its way."
    ) -> Reply:
        n = next(_ids)
        reply = Reply(
            source="test", external_id=f"R-{n:05d}", ticket_id=f"T-{n:05d}", created_at=created_at,
            reply=text, ingested_at=created_at,
        )  # fmt: skip
        self.session.add(reply)
        await self.session.flush()
        return reply

    async def batch(
        self, day: int, *, flagged: int, unflagged: int, drawn: tuple[int, int] = (0, 0)
    ) -> SampleBatch:
        """The batch drawn on W47's `day + 1`, covering `day` (window starts at its local midnight)."""
        start = at(day, 0)
        batch = SampleBatch(
            channel="C0AUDIT", day=(start + dt.timedelta(days=1, hours=1)).date(), window_start=start,
            window_end=start + dt.timedelta(days=1), seed=1, population=flagged + unflagged,
            flagged_population=flagged, unflagged_population=unflagged, flagged_drawn=drawn[0],
            unflagged_drawn=drawn[1], status="posted", created_at=start + dt.timedelta(days=1, hours=9),
            posted_at=start + dt.timedelta(days=1, hours=9), high_reply_id=0,
        )  # fmt: skip
        self.session.add(batch)
        await self.session.flush()
        # its frame's cells, as bot.sample.frames stores them: one per stratum, all in the window's week
        for stratum, population, picked in (
            ("flagged", flagged, drawn[0]),
            ("unflagged", unflagged, drawn[1]),
        ):
            cell = FrameCell(
                batch_id=batch.id, week=weeks.week_of(start, BERLIN), stratum=stratum, population=population,
                drawn=picked,
            )  # fmt: skip
            self.session.add(cell)
            await self.session.flush()
            self.cells[batch.id, stratum] = cell.id  # type: ignore[index,assignment]
        return batch

    async def item(
        self, batch: SampleBatch, stratum: str, *, prob: float, double: bool = False, text: str | None = None
    ) -> SampleItem:
        reply = await self.reply(
            batch.window_start + dt.timedelta(hours=10), **({"text": text} if text else {})
        )
        reply.frame_id = batch.id
        item = SampleItem(
            batch_id=batch.id, reply_id=reply.id, position=next(_ids), stratum=stratum, inclusion_prob=prob,
            double_review=double, channel="C0AUDIT", message_ts=f"1763000000.{next(_ids):06d}",
            posted_at=batch.posted_at, cell_id=self.cells[batch.id, stratum],  # type: ignore[index]
        )  # fmt: skip
        self.session.add(item)
        await self.session.flush()
        return item

    async def review(
        self,
        item: SampleItem,
        reviewer: str,
        verdict: str,
        *,
        after: dt.timedelta = dt.timedelta(minutes=3),
        severity: str | None = None,
        category: str | None = None,
        note: str | None = None,
    ) -> Review:
        when = item.posted_at + after  # type: ignore[operator]
        review = Review(
            item_id=item.id, reviewer=reviewer, verdict=verdict, severity=severity, category=category,
            note=note, wait_seconds=after.total_seconds(), created_at=when, updated_at=when,
        )  # fmt: skip
        self.session.add(review)
        await self.session.flush()
        # the item's outcome, kept the way bot.review.verdicts keeps it with every verdict
        await outcomes.refresh_outcome(session=self.session, item_id=item.id, now=when)  # type: ignore[arg-type]
        return review

    async def group(
        self,
        title: str,
        *,
        category: str = "template_error",
        severity: str = "high",
        status: str = "open",
        owner: str | None = None,
        created_at: dt.datetime,
        fixed_at: dt.datetime | None = None,
        tracker_url: str | None = None,
    ) -> DefectGroup:
        group = DefectGroup(
            fingerprint=f"fp-{next(_ids)}", title=title, category=category, severity=severity, status=status,
            owner=owner, created_at=created_at, fixed_at=fixed_at, tracker_url=tracker_url,
            tracker_key=tracker_url.rsplit("/", 1)[-1] if tracker_url else None,
        )  # fmt: skip
        self.session.add(group)
        await self.session.flush()
        return group

    async def defect(
        self, review: Review, group: DefectGroup, item: SampleItem, *, status: str = "open"
    ) -> Defect:
        defect = Defect(
            review_id=review.id, group_id=group.id, reply_id=item.reply_id,
            category=review.category or group.category, severity=review.severity or group.severity,
            status=status, created_at=review.created_at,
        )  # fmt: skip
        self.session.add(defect)
        group.occurrences += 1 if status != "withdrawn" else 0
        await self.session.flush()
        return defect


@dataclass
class KnownWeek:
    """What `seed_known_week` stored, for assertions."""

    group_fixed: int
    group_open: int
    group_old: int


async def seed_known_week(db: Database) -> KnownWeek:
    """Two batches in W47, reviewers U0REV1/U0REV2/U0REV3, a fixed group and two open ones.

    Batch Mon: flagged N=40 (2 items: both defective), unflagged N=960 (4 items: 1 defective).
    Batch Tue: flagged N=60 (2 items: 1 defective, 1 only "unsure"), unflagged N=940 (4: none).
    One calibration item with two agreeing verdicts, one with a tie (correct vs defect: defective).
    """
    async with db.transaction() as session:
        s = Seeder(session)
        old = await s.group(
            "Greeting uses another customer's name", category="personalization", severity="medium",
            owner="S0CONTENT", created_at=at(-20),
        )  # fmt: skip
        fixed = await s.group(
            "Unfilled {{first_name}} in refund_policy_v3", category="template_error", severity="critical",
            owner="U0OWNER", status="fixed", created_at=at(0, 10), fixed_at=at(3, 15),
            tracker_url="https://jira.example.com/browse/SUP-7",
        )  # fmt: skip
        still = await s.group("Quotes last year's prices", category="wrong_information", created_at=at(1, 11))
        mon = await s.batch(0, flagged=40, unflagged=960, drawn=(2, 4))
        f1 = await s.item(mon, "flagged", prob=2 / 40, text="Hi {{first_name}}, <!channel> refund done")
        f2 = await s.item(mon, "flagged", prob=2 / 40)
        u = [await s.item(mon, "unflagged", prob=4 / 960, double=(i == 0)) for i in range(4)]
        r = await s.review(f1, "U0REV1", "defect", severity="critical", category="template_error",
                           note="Placeholder <@U0BOSS> leaked", after=dt.timedelta(minutes=4))  # fmt: skip
        await s.defect(r, fixed, f1)
        r = await s.review(
            f2, "U0REV1", "defect", severity="high", category="template_error", note="Same leak"
        )
        await s.defect(r, fixed, f2)
        r = await s.review(
            u[0], "U0REV1", "defect", severity="high", category="wrong_information", note="Old price"
        )
        await s.defect(r, still, u[0])
        r = await s.review(
            u[0], "U0REV2", "defect", severity="medium", category="wrong_information", note="Price"
        )
        await s.defect(r, still, u[0])
        await s.review(u[1], "U0REV2", "correct", after=dt.timedelta(hours=2))  # counts 10 minutes
        await s.review(u[2], "U0REV2", "correct", after=dt.timedelta(minutes=1))
        await s.review(u[3], "U0REV2", "correct", after=dt.timedelta(minutes=2))
        tue = await s.batch(1, flagged=60, unflagged=940, drawn=(2, 4))
        g1 = await s.item(tue, "flagged", prob=2 / 60)
        g2 = await s.item(tue, "flagged", prob=2 / 60)
        v = [await s.item(tue, "unflagged", prob=4 / 940, double=(i == 0)) for i in range(4)]
        r = await s.review(
            g1, "U0REV2", "defect", severity="low", category="personalization", note="Wrong name"
        )
        await s.defect(r, old, g1)
        await s.review(g2, "U0REV3", "unsure")
        await s.review(v[0], "U0REV1", "correct")
        r = await s.review(v[0], "U0REV3", "defect", severity="low", category="tone", note="Too curt")
        withdrawn = await s.review(v[1], "U0REV3", "correct")
        await s.defect(withdrawn, old, v[1], status="withdrawn")
        await s.review(v[2], "U0REV3", "correct")
        # v[3] is never reviewed: pending
        for hour in range(5):  # more ingested replies outside the sample
            await s.reply(at(2, 8 + hour))
        await s.reply(at(8))  # next week: not counted
        return KnownWeek(group_fixed=fixed.id, group_open=still.id, group_old=old.id)
