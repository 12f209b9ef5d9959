"""`mode = all`: judge-flagged replies drawn first, with known inclusion probabilities, so the
stratified estimate stays unbiased (seeded trials through the real draw and estimator)."""

from __future__ import annotations

import datetime as dt
import random
import statistics

import pytest
import sqlalchemy as sa

from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import SampleItem
from bot.digest.estimate import Stratum, estimate
from bot.sample.draw import draw_sample, ensure_batch, plan_draw
from tests.bot.judge.seed import add_replies, seed_judgments, seed_reviewed

TUESDAY = dt.date(2026, 11, 24)  # its window: Monday 23 Nov in Berlin
MONDAY_NOON = dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.UTC)
POPULATION, TRIALS = 600, 2000


def with_judge(config: AuditConfig, **judge: object) -> AuditConfig:
    data = config.model_dump(mode="json")
    data["judge"] = {"mode": "all", "model": "judge-test", **judge}
    data["sampling"] = {"size": 20, "risk_share": 0.5}
    return AuditConfig.model_validate(data)


async def trusted_record(db: Database, config: AuditConfig) -> None:
    """40 reviewed replies of an earlier week on which the judge's no_invention verdict was right."""
    ids = await add_replies(db, 40, dt.datetime(2026, 11, 18, 10, tzinfo=dt.UTC), [False] * 40)
    fails = set(ids[:12])
    await seed_judgments(
        db, config, {rid: {"no_invention": "fail" if rid in fails else "pass"} for rid in ids}
    )
    labels = ["policy_logic" if rid in fails else "correct" for rid in ids]
    await seed_reviewed(db, config, ids, labels, day=dt.date(2026, 11, 19))


async def monday(db: Database, config: AuditConfig) -> tuple[list[int], set[int], set[int], set[int]]:
    """Monday's replies: (ids, defective, flagged by checks, failed by the judge), with a known tilt:
    the judge fails 70% of the defective replies and 5% of the good ones."""
    rng = random.Random(7)
    defective = [rng.random() < 0.08 for _ in range(POPULATION)]
    checks = [rng.random() < 0.05 for _ in range(POPULATION)]
    ids = await add_replies(db, POPULATION, MONDAY_NOON, checks)
    failed = {rid for rid, bad in zip(ids, defective, strict=True) if rng.random() < (0.7 if bad else 0.05)}
    await seed_judgments(
        db, config, {rid: {"no_invention": "fail" if rid in failed else "pass"} for rid in ids}
    )
    bad = {rid for rid, d in zip(ids, defective, strict=True) if d}
    return ids, bad, {rid for rid, c in zip(ids, checks, strict=True) if c}, failed


async def test_a_known_judge_tilt_keeps_the_estimate_unbiased(db, config) -> None:  # type: ignore[no-untyped-def]
    config = with_judge(config)
    await trusted_record(db, config)
    _, bad, checks, failed = await monday(db, config)
    truth = len(bad) / POPULATION

    async with db.session() as session:
        frame, _ = await plan_draw(session, config, TUESDAY, 0)
        flagged, unflagged = frame.flagged, frame.unflagged
        for seed in range(5):  # the real draw of the day: its strata never depend on the seed
            _, draw = await plan_draw(session, config, TUESDAY, seed)
            assert (draw.flagged_population, draw.unflagged_population) == (len(flagged), len(unflagged))
    assert set(flagged) == checks | failed  # the judge's stratum, decided before the draw

    estimates, raw = [], []
    for seed in range(TRIALS):
        draw = draw_sample(flagged, unflagged, size=20, risk_share=0.5, double_share=0.0, seed=seed)
        picked = {
            kind: [p.reply_id for p in draw.picks if p.stratum == kind] for kind in ("flagged", "unflagged")
        }
        sizes = {"flagged": draw.flagged_population, "unflagged": draw.unflagged_population}
        strata = [Stratum(sizes[k], len(p), sum(r in bad for r in p), k) for k, p in picked.items()]
        estimates.append(estimate(strata).rate)
        raw.append(sum(p.reply_id in bad for p in draw.picks) / len(draw.picks))

    mean, spread = statistics.fmean(estimates), statistics.stdev(estimates)
    assert abs(mean - truth) < 3 * spread / TRIALS**0.5, (mean, truth)
    assert statistics.fmean(raw) > 2 * truth  # the tilt works: reviewers see far more defects


async def test_the_batch_stores_known_inclusion_probabilities(db, config, clock) -> None:  # type: ignore[no-untyped-def]
    config = with_judge(config)
    await trusted_record(db, config)
    _, _, checks, failed = await monday(db, config)

    batch = await ensure_batch(db, config, TUESDAY, clock.now(), seed=3)

    async with db.session() as session:
        items = list(
            (await session.execute(sa.select(SampleItem).where(SampleItem.batch_id == batch.id))).scalars()
        )
    flagged = [i for i in items if i.stratum == "flagged"]
    assert batch.flagged_population == len(checks | failed) and len(flagged) == 10
    assert [i.inclusion_prob for i in flagged] == [pytest.approx(10 / len(checks | failed))] * 10
    assert all(i.reply_id in checks | failed for i in flagged)
    unflagged = [i for i in items if i.stratum == "unflagged"]
    assert [i.inclusion_prob for i in unflagged] == [
        pytest.approx(10 / (POPULATION - len(checks | failed)))
    ] * 10


@pytest.mark.parametrize(
    "judge",
    [{"mode": "sample"}, {"min_reviews": 100}, {"min_kappa": 1.0, "min_reviews": 30, "model": "other-model"}],
    ids=["mode-sample", "too-few-reviews", "another-model"],
)
async def test_untrusted_or_off_the_judge_does_not_tilt(db, config, judge) -> None:  # type: ignore[no-untyped-def]
    trusted = with_judge(config)
    await trusted_record(db, trusted)
    _, _, checks, failed = await monday(db, trusted)
    assert failed - checks

    async with db.session() as session:
        _, draw = await plan_draw(session, with_judge(config, **judge), TUESDAY, 1)

    assert draw.flagged_population == len(checks)
