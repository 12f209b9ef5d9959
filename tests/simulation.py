"""A seeded simulation of weeks of audit work through the real job order and the real code.

Replies with known defects are created around the clock and ingested by polls (`bot.ingest.store`),
10% of them hours late; the scheduler's own cron triggers (`bot.scheduler.jobs_for`) say when the
sample is drawn (Monday–Friday 09:30) and when the digest runs (Monday 09:00); one weekday a week
the bot is down at 09:30 and either catches up at its restart (`bot.scheduler.missed_runs`) or,
down too long, the day is back-filled the next day after that day's own run, as `auditbot sample
--date` does. Reviewers answer 70% of the items the afternoon they are posted (`bot.review`),
truthfully. At each digest the week's figures are read the way the digest reads them
(`bot.digest.post.draw_covering_frame`, then `compose`), with the true rate of the replies the
estimate describes; at the end every week is computed again, with every frame drawn and reviewed.

Slack is left out: drawing a sample and composing the digest are the code under study, posting
them is tested elsewhere. Used by tests/test_simulation.py (short runs) and bench/honest_numbers.py.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.core import weeks
from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import DefectGroup, FixVerification, FrameCell, Reply, SampleItem
from bot.core.records import Customer, ReplyRecord
from bot.core.services import Services
from bot.core.settings import Settings
from bot.digest.post import compose, draw_covering_frame
from bot.ingest.store import Checks, ingest
from bot.review import verdicts
from bot.sample.draw import ensure_batch
from bot.scheduler import CRON_GRACE, jobs_for, missed_runs

TZ = ZoneInfo("Europe/Berlin")
POLLS = (dt.time(0, 30), dt.time(6, 0), dt.time(9, 15), dt.time(13, 0), dt.time(18, 0))
REVIEW_AT = dt.time(15, 0)
CATEGORIES = ("wrong_information", "tone", "policy_logic")


@dataclass
class Knobs:
    weeks: int = 200
    seed: int = 1
    per_day: tuple[int, int] = (30, 60)  # replies a day, uniformly drawn
    flagged_share: float = 0.12  # replies with a low CSAT (flagged)
    p_flagged: float = 0.30  # defect rates per stratum
    p_unflagged: float = 0.04
    late_share: float = 0.10  # ingested 1–12 hours late
    answered: float = 0.70  # items a reviewer answers
    size: int = 10  # sample size
    start: dt.date = dt.date(2024, 1, 1)  # a Monday
    # A fix being verified all along: this share of the replies is its segment (template SEGMENT),
    # defective at `p_segment`, and each sample draws `verify_size` of them (bot.sample.verify).
    segment_share: float = 0.0
    p_segment: float = 0.15
    verify_size: int = 4


SEGMENT = "tpl_verified"


@dataclass
class WeekFigures:
    week: str
    ingested: int
    estimated: int
    uncovered: int
    not_sampled: int
    rate: float | None
    low: float | None
    high: float | None
    reviewed: int = 0
    effective_n: float = 0.0
    cells: int = 0  # cells with a reviewed item
    described: float | None = None  # the true rate of the replies in the estimate (cells with a review)
    unframed: int = -1  # replies of the week in no frame, counted from the replies themselves


@dataclass
class Outcome:
    truth: dict[str, tuple[int, int]] = field(default_factory=dict)  # week -> (replies, defective)
    verify_items: int = 0  # items drawn from the verification stratum
    posted: dict[str, WeekFigures] = field(default_factory=dict)  # at the week's digest
    final: dict[str, WeekFigures] = field(default_factory=dict)  # everything drawn and reviewed
    late_framed: int = 0  # replies whose frame was drawn after a frame covering their day
    backfills: int = 0
    catch_ups: int = 0

    def coverage(
        self, figures: dict[str, WeekFigures], truth_of: dict[str, float] | None = None
    ) -> tuple[int, int]:
        """(weeks whose interval holds the true rate, weeks with an interval): the rate of all the
        week's replies (`truth_of`), or by default of the replies the estimate describes."""
        held = total = 0
        for week, f in figures.items():
            if f.low is None or f.high is None:
                continue
            truth = truth_of[week] if truth_of is not None else f.described
            total += 1
            held += f.low <= truth <= f.high  # type: ignore[operator]
        return held, total

    def true_rates(self) -> dict[str, float]:
        return {week: bad / n for week, (n, bad) in self.truth.items() if n}


def config_for(size: int, verify_size: int = 4) -> AuditConfig:
    return AuditConfig.model_validate(
        {
            "slack": {
                "audit_channel": "C0AUDIT",
                "digest_channel": "C0DIGEST",
                "reviewers": ["U0REV1", "U0REV2"],
                "timezone": TZ.key,
            },
            "sampling": {"size": size, "risk_share": 0.3},
            "review": {"double_review_share": 0.1},
            "verify": {"sample_size": verify_size},
        }
    )


def local(day: dt.date, at: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, at, tzinfo=TZ).astimezone(dt.UTC)


class Simulation:
    """One seeded timeline: events in time order on one database."""

    def __init__(self, db: Database, knobs: Knobs) -> None:
        self.db, self.knobs = db, knobs
        self.rng = random.Random(knobs.seed)
        self.clock = FrozenClock(local(knobs.start, dt.time(0)))
        settings = Settings(_env_file=None, database_url=db.url)
        self.services = Services(settings, config_for(knobs.size, knobs.verify_size), db, self.clock)
        self.checks = Checks.from_config(self.services.config.detectors)
        self.jobs = {job.name: job for job in jobs_for(self.services)}
        self.defective: set[str] = set()
        self.pending: list[tuple[dt.datetime, int, ReplyRecord]] = []  # (ingest at, n, record)
        self.events: list[tuple[dt.datetime, int, str, object]] = []
        self.order = itertools.count()
        self.ids = itertools.count(1)
        self.out = Outcome()
        self.verify_group: int | None = (
            None  # the fixed group whose segment is verified (Knobs.segment_share)
        )

    # -- the timeline ----------------------------------------------------------------------------

    def at(self, when: dt.datetime, kind: str, arg: object = None) -> None:
        heapq.heappush(self.events, (when, next(self.order), kind, arg))

    def plan(self) -> dt.datetime:
        """Replies, polls, jobs and outages for every week; returns when the timeline ends."""
        knobs, rng = self.knobs, self.rng
        days = knobs.weeks * 7 + 14  # two more weeks: every simulated week gets drawn and reviewed
        end = local(knobs.start + dt.timedelta(days=days), dt.time(0))
        down: dict[dt.date, tuple[dt.datetime, dt.datetime]] = {}
        for week in range(knobs.weeks + 2):
            day = knobs.start + dt.timedelta(days=7 * week + rng.randint(1, 4))  # Tue–Fri
            start = local(day, dt.time(9, 0))
            down[day] = (start, start + dt.timedelta(hours=rng.uniform(1.5, 9.0)))
        for offset in range(days):
            day = knobs.start + dt.timedelta(days=offset)
            self.create_replies(day)
            for poll in POLLS:
                when = local(day, poll)
                if not self.is_down(when, down):
                    self.at(when, "poll")
        for name in ("sample", "digest"):  # the scheduler's own cron triggers say when
            trigger, after = self.jobs[name].trigger, self.clock.now()
            while (fire := trigger.get_next_fire_time(None, after)) is not None and fire < end:
                fire = fire.astimezone(dt.UTC)
                if self.is_down(fire, down):
                    self.at(down[fire.astimezone(TZ).date()][1], "restart", fire)
                else:
                    self.at(fire, name)
                after = fire + dt.timedelta(seconds=1)
        return end

    @staticmethod
    def is_down(when: dt.datetime, down: dict[dt.date, tuple[dt.datetime, dt.datetime]]) -> bool:
        span = down.get(when.astimezone(TZ).date())
        return span is not None and span[0] <= when < span[1]

    def create_replies(self, day: dt.date) -> None:
        knobs, rng = self.knobs, self.rng
        start = local(day, dt.time(0))
        length = (local(day + dt.timedelta(days=1), dt.time(0)) - start).total_seconds()
        for _ in range(rng.randint(*knobs.per_day)):
            created = start + dt.timedelta(seconds=rng.uniform(0, length))
            n = next(self.ids)
            flagged = rng.random() < knobs.flagged_share
            bad = rng.random() < (knobs.p_flagged if flagged else knobs.p_unflagged)
            segment = knobs.segment_share > 0 and rng.random() < knobs.segment_share
            if segment:
                bad = rng.random() < knobs.p_segment
            record = ReplyRecord(
                id=f"R-{n}",
                ticket_id=f"T-{n}",
                created_at=created,
                reply=f"Hello, here is the answer to ticket {n}.",
                customer=Customer(name="Dana"),
                csat=1 if flagged else 5,
                template_id=SEGMENT if segment else None,
            )
            if bad:
                self.defective.add(record.id)
            week = weeks.week_of(created, TZ)
            replies, defective = self.out.truth.get(week, (0, 0))
            self.out.truth[week] = (replies + 1, defective + bad)
            delay = (
                dt.timedelta(hours=rng.uniform(1, 12)) if rng.random() < knobs.late_share else dt.timedelta()
            )
            heapq.heappush(self.pending, (created + delay, n, record))

    async def verifying(self) -> None:
        """A fixed group whose fix is verified for the whole run (its fingerprint is not one the
        reviewers' categories give, so nothing recurs)."""
        start = self.clock.now()
        async with self.db.transaction() as session:
            group = DefectGroup(
                fingerprint=f"tpl:template_error:{SEGMENT}",
                title="Template error",
                category="template_error",
                severity="high",
                status="fixed",
                occurrences=1,
                template_id=SEGMENT,
                created_at=start,
                fixed_at=start,
            )
            session.add(group)
            await session.flush()
            window = FixVerification(
                group_id=group.id,  # type: ignore[arg-type]
                active_group_id=group.id,
                started_at=start,
                ends_at=start + dt.timedelta(days=3650),
                fingerprint=group.fingerprint,
                kinds=[],
                segment=f"template:{SEGMENT}",
            )
            session.add(window)
            self.verify_group = group.id

    async def run(self) -> Outcome:
        end = self.plan()
        if self.knobs.segment_share > 0:
            await self.verifying()
        first = weeks.label_of(self.knobs.start)
        while self.events:
            when, _, kind, arg = heapq.heappop(self.events)
            if when >= end:
                break
            self.clock.set(when)
            if kind == "poll":
                await self.poll()
            elif kind == "sample":
                await self.draw(when.astimezone(TZ).date())
            elif kind == "restart":
                await self.restart(arg)  # type: ignore[arg-type]
            elif kind == "backfill":
                self.out.backfills += 1
                await self.draw(arg)  # type: ignore[arg-type]
            elif kind == "review":
                await self.review(arg)  # type: ignore[arg-type]
            elif kind == "digest":
                week = weeks.last_complete(when, TZ)
                if week >= first and len(self.out.posted) < self.knobs.weeks:
                    self.out.posted[week] = await self.digest(week, when)
        self.clock.set(end)
        for week in self.out.posted:
            self.out.final[week] = await self.figures(week, end)
        return self.out

    # -- what happens at each event -------------------------------------------------------------

    async def poll(self) -> None:
        now = self.clock.now()
        due = []
        while self.pending and self.pending[0][0] <= now:
            due.append(heapq.heappop(self.pending)[2])
        if due:
            await ingest(self.db, due, checks=self.checks, now=now)

    async def draw(self, day: dt.date) -> None:
        batch = await ensure_batch(self.db, self.services.config, day, self.clock.now())
        self.out.late_framed += batch.late_population
        if self.verify_group is not None:
            self.out.verify_items += await self.verify_drawn(batch.id)  # type: ignore[arg-type]
        review_at = local(day, REVIEW_AT)
        self.at(max(review_at, self.clock.now() + dt.timedelta(minutes=30)), "review", batch.id)

    async def verify_drawn(self, batch_id: int) -> int:
        stmt = sa.select(sa.func.count()).where(
            SampleItem.batch_id == batch_id, SampleItem.stratum.like("verify:%")
        )
        async with self.db.session() as session:
            return int(await session.scalar(stmt) or 0)

    async def restart(self, missed: dt.datetime) -> None:
        """The bot comes back: the scheduler's catch-up runs a job missed within its grace; a sample
        missed longer ago is back-filled by hand after the next day's run."""
        now = self.clock.now()
        caught = [job.name for job in missed_runs(list(self.jobs.values()), now)]
        day = missed.astimezone(TZ).date()
        if "sample" in caught and now - missed <= CRON_GRACE:
            self.out.catch_ups += 1
            await self.draw(day)
        else:
            self.at(local(day + dt.timedelta(days=1), dt.time(11, 0)), "backfill", day)
        if "digest" in caught:
            self.at(now, "digest")

    async def review(self, batch_id: int) -> None:
        """Reviewers answer 70% of the batch's items (both verdicts of a calibration item), truthfully."""
        now = self.clock.now()
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    sa.select(SampleItem.id, SampleItem.double_review, Reply.external_id)
                    .join(Reply, Reply.id == SampleItem.reply_id)
                    .where(SampleItem.batch_id == batch_id)
                    .order_by(SampleItem.id)
                )
            ).all()
        async with self.db.transaction() as session:
            for item_id, double, external_id in rows:
                if self.rng.random() >= self.knobs.answered:
                    continue
                for reviewer in ("U0REV1", "U0REV2")[: 2 if double else 1]:
                    await self.verdict(session, item_id, reviewer, external_id in self.defective, now)

    async def verdict(self, session, item_id: int, reviewer: str, bad: bool, now: dt.datetime) -> None:  # type: ignore[no-untyped-def]
        if not bad:
            await verdicts.record_verdict(
                session=session, item_id=item_id, reviewer=reviewer, verdict="correct", now=now
            )
            return
        found = verdicts.DefectInput(self.rng.choice(CATEGORIES), "medium", "Wrong answer", None, False)
        await verdicts.record_defect(
            session=session,
            item_id=item_id,
            reviewer=reviewer,
            defect=found,
            config=self.services.config,
            now=now,
        )

    async def digest(self, week: str, now: dt.datetime) -> WeekFigures:
        """What the digest job does before it posts: the covering frame, then the rollup."""
        await draw_covering_frame(self.services, week)
        return await self.figures(week, now)

    async def figures(self, week: str, now: dt.datetime) -> WeekFigures:
        rollup = (await compose(self.db, self.services.config, week, now)).rollup
        volume, found = rollup.volume, rollup.rate.estimate
        described = await self.described(week)
        return WeekFigures(
            week, volume.ingested, volume.estimated, volume.uncovered, volume.not_sampled,
            found.rate, found.low, found.high, found.reviewed, found.effective_n, found.strata,
            sum(r in self.defective for r in described) / len(described) if described else None,
            await self.unframed(week),
        )  # fmt: skip

    async def unframed(self, week: str) -> int:
        start, end = weeks.bounds(week, TZ)
        stmt = sa.select(sa.func.count()).where(
            Reply.frame_id.is_(None), Reply.created_at >= start, Reply.created_at < end
        )
        async with self.db.session() as session:
            return int(await session.scalar(stmt) or 0)

    async def described(self, week: str) -> list[str]:
        """The replies the week's estimate describes: created in the week, in a cell with a review."""
        start, end = weeks.bounds(week, TZ)
        whens = [(Reply.flagged, "flagged")]
        if self.verify_group is not None and self.knobs.verify_size:  # the segment's own stratum
            whens.insert(0, (Reply.template_id == SEGMENT, f"verify:{self.verify_group}"))
        stratum = sa.case(*whens, else_="unflagged")
        stmt = (
            sa.select(Reply.external_id)
            .join(FrameCell, sa.and_(FrameCell.batch_id == Reply.frame_id, FrameCell.stratum == stratum))
            .where(
                Reply.created_at >= start,
                Reply.created_at < end,
                FrameCell.week == week,
                FrameCell.reviewed > 0,
            )
        )
        async with self.db.session() as session:
            return list((await session.execute(stmt)).scalars())


async def simulate(db: Database, knobs: Knobs) -> Outcome:
    return await Simulation(db, knobs).run()


def ratio(held: int, total: int) -> float | None:
    return held / total if total else None


def summary(outcome: Outcome) -> dict[str, object]:
    """The figures a test asserts and the bench prints."""
    truth = outcome.true_rates()
    posted_held, posted_n = outcome.coverage(outcome.posted)  # of the replies it describes
    final_held, final_n = outcome.coverage(outcome.final, truth)  # of every reply of the week
    broken = [  # the three parts add up, and "not yet sampled" is what no frame holds
        f.week
        for figures in (outcome.posted, outcome.final)
        for f in figures.values()
        if f.estimated + f.uncovered + f.not_sampled != f.ingested or f.not_sampled != f.unframed
    ]
    weekly = defaultdict(list)
    for f in outcome.posted.values():
        weekly["uncovered"].append(f.uncovered)
        weekly["not_sampled"].append(f.not_sampled)
    return {
        "weeks": len(outcome.posted),
        "identity_broken": broken,
        "posted_coverage": posted_held / posted_n if posted_n else None,
        "posted_weeks": posted_n,
        "final_coverage": final_held / final_n if final_n else None,
        "final_weeks": final_n,
        "posted_coverage_of_the_week": ratio(*outcome.coverage(outcome.posted, truth)),
        "late_framed": outcome.late_framed,
        "backfills": outcome.backfills,
        "catch_ups": outcome.catch_ups,
        "weeks_with_uncovered": sum(1 for n in weekly["uncovered"] if n),
        "weeks_with_not_sampled": sum(1 for n in weekly["not_sampled"] if n),
    }
