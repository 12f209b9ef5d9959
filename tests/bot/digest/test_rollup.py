"""The estimator (pure: coverage and no tilt bias) and the rollup over a real database."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from bot.core import weeks
from bot.digest.estimate import Stratum, estimate, wilson
from bot.digest.rollup import compute_rollup, reviewer_weeks
from bot.sample.draw import stratum_sizes
from tests.bot.digest_data import WEEK, Seeder, at, seed_known_week

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)


# -- the estimator, pure ----------------------------------------------------------------------


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


def simulate_week(
    rng: random.Random, *, p_flagged: float, p_unflagged: float, flagged_share: float, missing: float = 0.1
) -> tuple[float, list[Stratum], int, int]:
    """Five days of replies with known defects, the daily stratified draw, verdicts = the truth.

    Returns the week's true defect rate, the strata, and the raw (unweighted) reviewed counts.
    """
    strata, replies, defective, raw_n, raw_d = [], 0, 0, 0, 0
    for _ in range(5):
        day = rng.randint(1000, 3000)
        n_flagged = _binomial(rng, day, flagged_share)
        sizes = stratum_sizes(n_flagged, day - n_flagged, 20, 0.3)
        for kind, size, drawn, p in (
            ("flagged", n_flagged, sizes[0], p_flagged),
            ("unflagged", day - n_flagged, sizes[1], p_unflagged),
        ):
            bad = _binomial(rng, size, p)
            replies, defective = replies + size, defective + bad
            # a simple random sample of the stratum; some items never get a decisive verdict
            picked = [i for i in rng.sample(range(size), drawn) if rng.random() >= missing]
            found = sum(i < bad for i in picked)
            strata.append(Stratum(size, len(picked), found, kind))
            raw_n, raw_d = raw_n + len(picked), raw_d + found
    return defective / replies, strata, raw_n, raw_d


@pytest.mark.parametrize(
    ("p_flagged", "p_unflagged", "flagged_share"),
    [(0.30, 0.04, 0.08), (0.25, 0.02, 0.05), (0.50, 0.10, 0.15)],
)
def test_interval_covers_the_true_rate_in_about_95_percent_of_trials(
    p_flagged: float, p_unflagged: float, flagged_share: float
) -> None:
    rng = random.Random(20261127)
    trials, covered, estimates, truths, raw = 400, 0, [], [], []
    for _ in range(trials):
        truth, strata, raw_n, raw_d = simulate_week(
            rng, p_flagged=p_flagged, p_unflagged=p_unflagged, flagged_share=flagged_share
        )
        result = estimate(strata)
        assert result.rate is not None and result.low is not None and result.high is not None
        assert 0.0 <= result.low <= result.rate <= result.high <= 1.0
        covered += result.low <= truth <= result.high
        estimates.append(result.rate)
        truths.append(truth)
        raw.append(raw_d / raw_n)
    coverage = covered / trials
    assert 0.92 <= coverage <= 0.98, f"coverage {coverage:.3f}"
    mean_truth = sum(truths) / trials
    bias = sum(estimates) / trials - mean_truth
    # flagged replies are over-sampled ~4x and defective far more often: unweighted, the rate
    # would be inflated; weighted back, the mean estimate sits on the truth
    assert abs(bias) < 0.1 * mean_truth, f"bias {bias:+.4f} on {mean_truth:.4f}"
    assert sum(raw) / trials > 1.25 * mean_truth


def test_estimate_weights_strata_by_population() -> None:
    result = estimate([Stratum(100, 10, 5, "flagged"), Stratum(900, 10, 0, "unflagged")])
    assert result.rate == pytest.approx(0.05)
    assert result.total == pytest.approx(50)
    assert result.population == 1000 and result.reviewed == 20
    assert 0 < result.low < 0.05 < result.high < 0.5


def test_estimate_without_defects_has_a_positive_upper_bound() -> None:
    result = estimate([Stratum(500, 20, 0, "unflagged"), Stratum(50, 5, 0, "flagged")])
    assert result.rate == 0.0 and result.low == 0.0
    assert result.high == pytest.approx(wilson(0.0, 25)[1])
    assert result.high > 0.05


def test_unreviewed_strata_are_reported_not_counted() -> None:
    result = estimate([Stratum(400, 4, 1, "unflagged"), Stratum(60, 0, 0, "flagged")])
    assert result.population == 400 and result.uncovered == 60
    assert result.rate == pytest.approx(0.25)
    empty = estimate([Stratum(60, 0, 0, "flagged")])
    assert empty.rate is None and empty.low is None and empty.uncovered == 60


def test_census_of_a_stratum_has_no_sampling_error() -> None:
    result = estimate([Stratum(10, 10, 3, "flagged")])
    assert result.rate == pytest.approx(0.3)
    # finite-population correction: every reply was reviewed, so there is no sampling error
    assert result.low == result.high == pytest.approx(0.3)


# -- weeks --------------------------------------------------------------------------------------


def test_weeks_follow_the_team_time_zone() -> None:
    start, end = weeks.bounds("2026-W47", BERLIN)
    assert start == dt.datetime(2026, 11, 15, 23, 0, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(days=7)
    assert weeks.last_complete(NOW, BERLIN) == "2026-W47"
    # Sunday 23:30 UTC is already Monday in Berlin
    assert weeks.week_of(dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC), BERLIN) == "2026-W48"
    assert weeks.shift("2026-W01", -1) == "2025-W52"
    march_start, march_end = weeks.bounds("2026-W13", BERLIN)  # clocks go forward on 29 March
    assert march_end - march_start == dt.timedelta(days=7, hours=-1)
    with pytest.raises(ValueError):
        weeks.parse_week("2025-W53")  # 2025 has 52 ISO weeks


# -- the rollup over a database -----------------------------------------------------------------


async def test_rollup_of_a_known_week(db, clock) -> None:
    known = await seed_known_week(db)
    async with db.session() as session:
        rollup = await compute_rollup(session, week=WEEK, tz=BERLIN, now=clock.now())

    assert (rollup.volume.ingested, rollup.volume.sampled, rollup.volume.reviewed, rollup.volume.pending) == (
        17, 12, 10, 2,
    )  # fmt: skip
    assert rollup.volume.coverage == pytest.approx(10 / 17)
    expected = estimate(
        [Stratum(40, 2, 2, "flagged"), Stratum(960, 4, 1, "unflagged"),
         Stratum(60, 1, 1, "flagged"), Stratum(940, 3, 1, "unflagged")]
    )  # fmt: skip
    assert rollup.rate.estimate == expected
    assert rollup.rate.estimate.rate == pytest.approx((40 + 240 + 60 + 940 / 3) / 2000)
    assert rollup.rate.raw_rate == pytest.approx(0.5)
    assert [w.week for w in rollup.trend] == [weeks.shift(WEEK, -k) for k in range(7, -1, -1)]
    assert all(w.estimate.rate is None for w in rollup.trend[:-1])

    assert sorted(rollup.by_category) == [
        ("personalization", "low", 1), ("template_error", "critical", 1), ("template_error", "high", 1),
        ("wrong_information", "high", 1), ("wrong_information", "medium", 1),
    ]  # fmt: skip
    assert rollup.defects_filed == 5

    top = rollup.top_groups.rows
    assert [g.id for g in top] == [known.group_fixed, known.group_open, known.group_old]
    # each caught item weighs what it weighs in the rate: its cell's population over its reviewed
    # items (the Tuesday flagged cell: 60 replies, 1 of its 2 items reviewed, so 60, not 1/π = 30)
    assert [g.affected for g in top] == pytest.approx([40.0, 240.0, 60.0])
    assert [g.week_occurrences for g in top] == [2, 2, 1]
    assert [g.id for g in rollup.fixes.rows] == [known.group_fixed] and rollup.fixes.total == 1
    assert rollup.fixes.rows[0].time_to_fix == dt.timedelta(days=3, hours=5)
    assert {(o.owner, o.groups, o.occurrences) for o in rollup.open_by_owner} == {
        ("S0CONTENT", 1, 1),
        (None, 1, 2),
    }
    assert rollup.open_by_owner[0].oldest.tzinfo is not None
    assert [g.id for g in rollup.open_groups.rows] == [known.group_open, known.group_old]

    by = {r.reviewer: r for r in rollup.reviewers}
    assert [r.reviewer for r in rollup.reviewers] == ["U0REV2", "U0REV1", "U0REV3"]
    assert (by["U0REV1"].reviews, by["U0REV1"].defects, by["U0REV1"].high_critical) == (4, 3, 3)
    assert by["U0REV1"].fixed_catches == 2 and by["U0REV2"].fixed_catches == 0
    assert (by["U0REV1"].calibration_pairs, by["U0REV1"].calibration_agreed) == (2, 1)
    assert by["U0REV2"].agreement == 1.0 and by["U0REV3"].agreement == 0.0
    assert rollup.agreement == pytest.approx(0.5)
    assert by["U0REV1"].seconds == pytest.approx(780, abs=1)
    assert by["U0REV2"].seconds == pytest.approx(1140, abs=1)  # a 2-hour wait counts as 10 minutes
    assert (by["U0REV3"].reviews, by["U0REV3"].defects, by["U0REV3"].seconds) == (
        4,
        1,
        pytest.approx(720, abs=1),
    )

    catch = rollup.catch
    assert catch is not None and catch.reviewer == "U0REV1" and catch.severity == "critical"
    assert catch.group.id == known.group_fixed and catch.group.affected == pytest.approx(40.0)


async def test_reviewer_filter_gives_the_same_figures(db) -> None:
    await seed_known_week(db)
    start, end = weeks.bounds(WEEK, BERLIN)
    async with db.session() as session:
        everyone = {r.reviewer: r for r in await reviewer_weeks(session, start, end)}
        (one,) = await reviewer_weeks(session, start, end, reviewer="U0REV1")
    assert one == everyone["U0REV1"]


async def test_rollup_is_not_tilted_by_over_sampled_flagged_replies(db) -> None:
    """Generated batches: flagged 40% defective, unflagged 3%; the rollup weights them back."""
    rng = random.Random(7)
    strata = []
    async with db.transaction() as session:
        seed = Seeder(session)
        for day in range(5):
            n_flagged, n_unflagged = rng.randint(60, 120), rng.randint(1500, 2500)
            batch = await seed.batch(day, flagged=n_flagged, unflagged=n_unflagged, drawn=(6, 14))
            for kind, population, drawn, p in (
                ("flagged", n_flagged, 6, 0.4),
                ("unflagged", n_unflagged, 14, 0.03),
            ):
                found = 0
                for _ in range(drawn):
                    item = await seed.item(batch, kind, prob=drawn / population)
                    bad = rng.random() < p
                    found += bad
                    await seed.review(item, "U0REV1", "defect" if bad else "correct")
                strata.append(Stratum(population, drawn, found, kind))
    async with db.session() as session:
        rollup = await compute_rollup(session, week=WEEK, tz=BERLIN, now=NOW)
    truth_weighted = estimate(strata)
    assert rollup.rate.estimate == truth_weighted
    assert rollup.rate.reviewed == 100
    # the raw rate of reviewed items is dominated by the over-sampled flagged stratum
    assert rollup.rate.raw_rate is not None and rollup.rate.estimate.rate is not None
    assert rollup.rate.raw_rate > 2 * rollup.rate.estimate.rate
    assert rollup.rate.estimate.low <= 0.4 * 90 / 2090 + 0.03 * 2000 / 2090 <= rollup.rate.estimate.high


async def test_batches_of_other_weeks_feed_the_trend_only(db) -> None:
    async with db.transaction() as session:
        seed = Seeder(session)
        earlier = await seed.batch(-7, flagged=10, unflagged=90, drawn=(1, 1))  # W46
        item = await seed.item(earlier, "unflagged", prob=1 / 90)
        await seed.review(item, "U0REV1", "defect", severity="low", category="tone")
        await seed.reply(at(-7, 10))
    async with db.session() as session:
        rollup = await compute_rollup(session, week=WEEK, tz=BERLIN, now=NOW)
    assert rollup.rate.estimate.rate is None and rollup.volume.sampled == 0
    assert rollup.trend[-2].week == "2026-W46" and rollup.trend[-2].estimate.rate == pytest.approx(1.0)
    assert rollup.trend[-2].estimate.uncovered == 10
    assert rollup.reviewers == [] and rollup.catch is None


async def test_long_lists_show_their_first_rows_and_count_all_of_them(db) -> None:
    """More groups than a list shows: each keeps its first rows, in its own order, and its length."""
    async with db.transaction() as session:
        seed = Seeder(session)
        batch = await seed.batch(0, flagged=100, unflagged=900, drawn=(0, 40))
        caught = []
        for i in range(13):  # open, 1-4 occurrences this week (ties), the later ones older
            group = await seed.group(f"Open {i}", owner=f"U0OWN{i % 3}", created_at=at(-i))
            for _ in range(1 + i % 4):
                item = await seed.item(batch, "unflagged", prob=40 / 900)
                review = await seed.review(item, "U0REV1", "defect", severity="low", category="tone")
                await seed.defect(review, group, item)
            caught.append(group)
        fixed = [
            await seed.group(
                f"Fixed {i}", status="fixed", created_at=at(-30), fixed_at=at(1, 8 + (i * 7) % 11)
            )
            for i in range(11)
        ]
        await seed.group("Fixed last week", status="fixed", created_at=at(-30), fixed_at=at(-1))
        await seed.group("Won't fix", status="wont_fix", created_at=at(-30))
    async with db.session() as session:
        rollup = await compute_rollup(session, week=WEEK, tz=BERLIN, now=NOW)

    top = sorted(caught, key=lambda g: (-g.occurrences, g.id))[:10]
    assert [g.id for g in rollup.top_groups.rows] == [g.id for g in top] and rollup.top_groups.total == 13
    assert [g.week_occurrences for g in rollup.top_groups.rows] == [g.occurrences for g in top]
    reviewed = sum(g.occurrences for g in caught)  # of the cell's 40 draws, these were stored and reviewed
    assert [g.affected for g in rollup.top_groups.rows] == pytest.approx(
        [g.occurrences * 900 / reviewed for g in top]
    )
    still_open = sorted(caught, key=lambda g: (-g.occurrences, g.created_at, g.id))[:10]
    assert [g.id for g in rollup.open_groups.rows] == [g.id for g in still_open]
    assert rollup.open_groups.total == 13 and [g.id for g in top] != [g.id for g in still_open]
    fixes = sorted(fixed, key=lambda g: (g.fixed_at, g.id))[:10]
    assert [g.id for g in rollup.fixes.rows] == [g.id for g in fixes] and rollup.fixes.total == 11
    loads = [
        (owner, len(mine), sum(g.occurrences for g in mine), min(g.created_at for g in mine))
        for owner in ("U0OWN0", "U0OWN1", "U0OWN2")
        for mine in [[g for g in caught if g.owner == owner]]
    ]
    loads.sort(key=lambda load: (-load[1], load[3]))  # most open groups, then the oldest
    assert [(o.owner, o.groups, o.occurrences, o.oldest) for o in rollup.open_by_owner] == loads
    assert rollup.defects_filed == sum(g.occurrences for g in caught)
    assert rollup.catch is not None and rollup.catch.group.id == top[0].id
