"""A simulated week with known per-segment defect rates, drawn the way the daily sample draws.

Shared by the coverage test (tests/bot/digest/test_segments.py) and bench/segments.py.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from bot.digest.segments import Item, estimate_segments
from bot.sample.draw import stratum_sizes

# intent -> (share of replies, defect rate of flagged replies, of unflagged replies)
INTENTS = {
    "billing": (0.45, 0.30, 0.03),
    "shipping": (0.35, 0.20, 0.08),
    "account": (0.20, 0.50, 0.15),
}
FLAGGED_SHARE = 0.08


@dataclass(frozen=True)
class Trial:
    truth: dict[str, float]  # intent -> the week's true share of defective replies
    covered: dict[str, bool]  # intent -> the 95% interval held the truth
    reviewed: dict[str, int]


def simulate(rng: random.Random, *, days: int = 5, size: int = 20, missing: float = 0.1) -> Trial:
    """Five daily frames of 400–1,200 replies, two strata each, `size` draws a day (30% flagged)."""
    names = list(INTENTS)
    shares = [INTENTS[n][0] for n in names]
    cells: dict[int, tuple[int, str]] = {}
    items: list[Item] = []
    replies: dict[str, int] = dict.fromkeys(names, 0)
    bad: dict[str, int] = dict.fromkeys(names, 0)
    ids = itertools.count(1)
    for _ in range(days):
        day = rng.randint(400, 1200)
        population = []  # (flagged, intent, defective)
        for _ in range(day):
            intent = rng.choices(names, shares)[0]
            flagged = rng.random() < FLAGGED_SHARE
            rate = INTENTS[intent][1] if flagged else INTENTS[intent][2]
            defective = rng.random() < rate
            population.append((flagged, intent, defective))
            replies[intent] += 1
            bad[intent] += defective
        flagged = [r for r in population if r[0]]
        unflagged = [r for r in population if not r[0]]
        sizes = stratum_sizes(len(flagged), len(unflagged), size, 0.3)
        for stratum, members, drawn in zip(
            ("flagged", "unflagged"), (flagged, unflagged), sizes, strict=True
        ):
            cell = next(ids)
            cells[cell] = (len(members), stratum)
            for _, intent, defective in rng.sample(members, drawn):
                if rng.random() >= missing:  # some items never get a decisive verdict
                    items.append(Item(cell, defective, {"intent": (intent,)}))
    truth = {n: bad[n] / replies[n] for n in names}
    segments = {s.value: s for s in estimate_segments(cells, items, ["intent"])}
    covered = {}
    for name in names:
        found = segments[name].estimate
        assert found.low is not None and found.high is not None
        covered[name] = found.low <= truth[name] <= found.high
    return Trial(truth, covered, {n: segments[n].reviewed for n in names})


def coverage(seed: int, trials: int, **kw: int) -> dict[str, float]:
    rng = random.Random(seed)
    hits: dict[str, int] = dict.fromkeys(INTENTS, 0)
    for _ in range(trials):
        trial = simulate(rng, **kw)
        for name, ok in trial.covered.items():
            hits[name] += ok
    return {name: count / trials for name, count in hits.items()}
