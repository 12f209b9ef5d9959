"""Seeded trials: the verification stratum leaves the weekly estimate unbiased (issue #15).

tests/simulation.py runs weeks of audit work through the real job order with a fix being verified
the whole time: 10% of the replies are its segment, defective four times as often as the other
unflagged replies, and every daily sample draws up to four of them on top of its regular twenty —
their inclusion probability is many times the others'. Weighted by their cells (bot.sample.verify,
bot.digest.estimate), the weekly estimate stays on the true rate of all the week's replies: over
the weeks, the mean error is within three standard errors of zero and the 95% interval holds the
truth about 95% of the time. The long run, over several seeds, is bench/verification_stratum.py.
"""

from __future__ import annotations

import statistics

import pytest

from bot.core.db import Database
from tests.conftest import backend
from tests.simulation import Knobs, Outcome, simulate, summary

TRIAL = Knobs(weeks=60, seed=7, segment_share=0.10, p_segment=0.16, verify_size=4)


def errors(outcome: Outcome) -> list[float]:
    """Each week's estimate minus the true rate of all its replies (every frame reviewed)."""
    truth = outcome.true_rates()
    return [f.rate - truth[week] for week, f in outcome.final.items() if f.rate is not None]


@pytest.mark.skipif(backend() != "sqlite", reason="the long run is SQLite's; PostgreSQL runs the short one")
async def test_the_verification_stratum_does_not_bias_the_weekly_estimate(db: Database) -> None:
    outcome = await simulate(db, TRIAL)
    figures = summary(outcome)
    assert figures["identity_broken"] == [] and figures["final_weeks"] == TRIAL.weeks
    assert outcome.verify_items > TRIAL.weeks * 4 * 4  # the stratum was drawn every sampling day
    found = errors(outcome)
    spread = statistics.stdev(found) / len(found) ** 0.5
    assert abs(statistics.fmean(found)) < 3 * spread, (statistics.fmean(found), spread)
    assert 0.88 <= figures["final_coverage"] <= 1.0, figures  # type: ignore[operator]


async def test_the_verification_stratum_adds_up_on_either_database(db: Database) -> None:
    knobs = Knobs(weeks=6, seed=3, size=8, segment_share=0.10, p_segment=0.16, verify_size=3)
    outcome = await simulate(db, knobs)
    figures = summary(outcome)
    assert figures["identity_broken"] == [] and outcome.verify_items > 0
    truth = {week: n for week, (n, _) in outcome.truth.items()}
    for week, final in outcome.final.items():
        assert final.ingested == truth[week] and final.not_sampled == 0, week
