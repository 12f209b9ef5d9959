"""Agreement with reviewers: kappa, precision and recall, and which criteria are trusted."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from bot.core.config import AuditConfig
from bot.core.proportions import cohen_kappa, wilson
from bot.judge.agreement import Confusion, agreement, measure
from bot.judge.criteria import BUILTIN
from bot.judge.runner import judge_replies
from bot.views.judge import NOT_YET, TRUSTED, UNMEASURED, UNRELIABLE
from tests.bot.judge.seed import seed_reviewed
from tests.bot.judge.support import judge_config, judge_services, replies, use_key

NO_INVENTION = BUILTIN["no_invention"]


def test_cohens_kappa_matches_a_textbook_example() -> None:
    # 50 proposals, two readers: 20 both yes, 5 only A, 10 only B, 15 both no (κ = 0.4)
    assert cohen_kappa(20, 5, 10, 15) == pytest.approx(0.4)
    assert cohen_kappa(10, 0, 0, 10) == pytest.approx(1.0)
    assert cohen_kappa(0, 0, 0, 30) is None  # nobody ever said yes: undefined
    assert cohen_kappa(0, 0, 0, 0) is None


def test_statuses() -> None:
    config = AuditConfig()  # min_kappa 0.6, min_reviews 30
    assert measure(NO_INVENTION, Confusion(10, 1, 1, 10), config).status == NOT_YET  # n 22 < 30
    assert measure(NO_INVENTION, Confusion(15, 2, 3, 40), config).status == TRUSTED
    assert measure(NO_INVENTION, Confusion(5, 10, 10, 35), config).status == UNRELIABLE
    assert measure(NO_INVENTION, Confusion(0, 0, 0, 60), config).status == NOT_YET  # no fail seen
    unmeasured = BUILTIN["tone"].__class__("custom", "q?", None, "custom")
    assert measure(unmeasured, Confusion(5, 0, 0, 50), config).status == UNMEASURED


def test_simulated_reviewers_at_a_known_agreement_are_measured_right() -> None:
    """A judge with sensitivity 0.85 and specificity 0.95 on a 20% defect rate: κ = 0.785 exactly
    in expectation; 4000 simulated reviews recover it, and the Wilson intervals cover P and R."""
    prevalence, sensitivity, specificity = 0.2, 0.85, 0.95
    judge_fail = prevalence * sensitivity + (1 - prevalence) * (1 - specificity)
    observed = prevalence * sensitivity + (1 - prevalence) * specificity
    chance = judge_fail * prevalence + (1 - judge_fail) * (1 - prevalence)
    true_kappa = (observed - chance) / (1 - chance)
    true_precision = prevalence * sensitivity / judge_fail
    covered = {"precision": 0, "recall": 0}
    trials = 200
    for seed in range(trials):
        rng = random.Random(seed)
        counts = Confusion()
        for _ in range(4000 if seed == 0 else 400):
            human = "fail" if rng.random() < prevalence else "pass"
            right = rng.random() < (sensitivity if human == "fail" else specificity)
            judge = human if right else ("pass" if human == "fail" else "fail")
            counts = counts.add(judge, human)
        row = measure(NO_INVENTION, counts, AuditConfig())
        if seed == 0:
            assert row.kappa == pytest.approx(true_kappa, abs=0.03)
            assert row.precision == pytest.approx(true_precision, abs=0.03)
            assert row.recall == pytest.approx(sensitivity, abs=0.03)
        covered["precision"] += row.precision_ci[0] <= true_precision <= row.precision_ci[1]  # type: ignore[index]
        covered["recall"] += row.recall_ci[0] <= sensitivity <= row.recall_ci[1]  # type: ignore[index]
    for name, hits in covered.items():
        assert 0.90 <= hits / trials <= 0.99, (name, hits)


async def test_reported_agreement_matches_the_reviews_given(
    db, config, clock, fake_openai, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Verdicts through the review code, the judge through the fake: exact counts in, exact figures out."""
    use_key(monkeypatch)
    config = judge_config(config, fake_openai, concurrency=10)
    # (judge on no_invention, reviewers' label): tp 18, fp 6, fn 4, tn 52; plus 5 judge-unsure
    # (reviewed correct) and 7 tone defects, which say nothing about invented policies.
    cells = (
        [("fail", "policy_logic")] * 18 + [("fail", "correct")] * 6 + [("pass", "policy_logic")] * 4
        + [("pass", "correct")] * 52 + [("unsure", "correct")] * 5 + [("pass", "tone")] * 7
        + [("fail", None)] * 3  # never reviewed
    )  # fmt: skip
    marker = {"fail": "judge-fail:no_invention", "unsure": "judge-unsure:no_invention", "pass": ""}
    ids = await replies(db, [f"Reply {n}. {marker[j]}" for n, (j, _) in enumerate(cells)], clock.now())
    await judge_replies(judge_services(db, config, clock), ids)
    await seed_reviewed(db, config, ids, [label for _, label in cells], day=dt.date(2026, 11, 26))

    async with db.session() as session:
        rows = {row.criterion: row for row in await agreement(session, config)}

    row = rows["no_invention"]
    assert (row.n, row.unsure, row.category) == (80, 5, "policy_logic")
    assert row.kappa == pytest.approx(cohen_kappa(18, 6, 4, 52)) and row.kappa == pytest.approx(
        0.6951, abs=1e-4
    )
    assert row.precision == pytest.approx(18 / 24) and row.precision_ci == pytest.approx(wilson(18 / 24, 24))
    assert row.recall == pytest.approx(18 / 22) and row.recall_ci == pytest.approx(wilson(18 / 22, 22))
    assert row.status == TRUSTED
    tone = rows["tone"]  # the judge passed every tone; reviewers found 7 tone defects
    assert (tone.n, tone.recall, tone.precision, tone.kappa) == (
        52 + 6 + 5 + 7,
        0.0,
        None,
        pytest.approx(0.0),
    )
    assert tone.status == UNRELIABLE
    assert rows["kb_consistent"].n == 0 and rows["kb_consistent"].status == NOT_YET

    week = await _agreement_in(db, config, "2026-W47")  # reviewed on 20 Nov: in week 47, not 48
    assert week["no_invention"].n == 80
    assert (await _agreement_in(db, config, "2026-W48"))["no_invention"].n == 0


async def _agreement_in(db, config, week):  # type: ignore[no-untyped-def]
    from bot.core import weeks

    since, until = weeks.bounds(week, config.slack.tz)
    async with db.session() as session:
        return {row.criterion: row for row in await agreement(session, config, since=since, until=until)}


async def test_another_model_starts_its_record_afresh(db, config, clock, fake_openai, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    use_key(monkeypatch)
    config = judge_config(config, fake_openai)
    ids = await replies(db, ["judge-fail:no_invention", "fine"], clock.now())
    await judge_replies(judge_services(db, config, clock), ids)
    await seed_reviewed(db, config, ids, ["policy_logic", "correct"], day=dt.date(2026, 11, 26))
    other = judge_config(config, fake_openai, model="another-model")
    async with db.session() as session:
        assert {r.criterion: r.n for r in await agreement(session, config)}["no_invention"] == 2
        assert {r.criterion: r.n for r in await agreement(session, other)}["no_invention"] == 0
