"""The seeded simulation of issue #20 (tests/simulation.py): weeks of audit work through the real
job order — digest Monday 09:00, samples Monday–Friday 09:30, one day a week missed and caught up or
back-filled, 10% of the replies ingested hours late, reviewers answering 70% of the items.

Every week: ingested = in the estimate + uncovered + not yet sampled, at the digest and once every
frame covering the week is reviewed. Over 200 weeks the 95% interval of each week, computed once
every frame covering it is reviewed, holds the true rate of all the week's replies in 93–97% of
them. The digest as posted (Monday 09:00: the weekend drawn, not yet reviewed, and it says so)
describes Monday to Thursday: its interval, from about four days of reviews, holds their true rate
at least as often (it errs on the wide side). The long version, over several seeds and more weeks, is
bench/honest_numbers.py.
"""

from __future__ import annotations

import pytest

from bot.core.db import Database
from tests.conftest import backend
from tests.simulation import Knobs, simulate, summary


@pytest.mark.skipif(backend() != "sqlite", reason="the long run is SQLite's; PostgreSQL runs the short one")
async def test_two_hundred_weeks_add_up_and_the_interval_holds_the_truth(db: Database) -> None:
    outcome = await simulate(db, Knobs(weeks=200, seed=1))
    figures = summary(outcome)
    assert figures["weeks"] == 200 and figures["posted_weeks"] == figures["final_weeks"] == 200
    assert figures["identity_broken"] == []
    assert 0.93 <= figures["final_coverage"] <= 0.97, figures  # type: ignore[operator]
    assert figures["posted_coverage"] >= 0.93, figures  # type: ignore[operator]
    # the run exercised what it is about
    assert figures["late_framed"] > 50 and figures["catch_ups"] > 20 and figures["backfills"] > 20
    assert figures["weeks_with_uncovered"] == 200  # the weekend, drawn at the digest, not yet reviewed
    for week, final in outcome.final.items():  # once reviewed, the weekend is in the estimate
        assert final.uncovered < outcome.posted[week].uncovered, week


async def test_twelve_weeks_add_up_on_either_database(db: Database) -> None:
    outcome = await simulate(db, Knobs(weeks=12, seed=2, size=8))
    figures = summary(outcome)
    assert figures["weeks"] == 12 and figures["identity_broken"] == []
    assert figures["late_framed"] > 0 and figures["catch_ups"] + figures["backfills"] >= 12
    truth = {week: n for week, (n, _) in outcome.truth.items()}
    for week, final in outcome.final.items():  # in the end every reply of the week is ingested and framed
        assert final.ingested == truth[week] and final.not_sampled == 0, week
