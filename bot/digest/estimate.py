"""The defect rate of all AI replies, estimated from stratified daily samples, with a 95% interval.

Each (sample batch × stratum) is a stratum h: N_h replies in it (stored on the batch when it was
drawn), n_h of its sampled items reviewed, d_h of those defective. The estimated number of
defective replies is Σ N_h·d_h/n_h and the rate is that over Σ N_h. Items nobody reviewed are
treated as missing at random within their stratum; a stratum with no reviewed item is left out
and reported as `uncovered`, so the rate describes the replies the review actually reached.

Variance, with the finite-population correction:
    V = Σ N_h² (1 − n_h/N_h) s_h² / n_h  /  (Σ N_h)²
A day's stratum holds only 5–15 reviewed items, so its own s_h² is mostly 0 (no defect seen) and
the variance would collapse. Strata of one kind (all "flagged" days, all "unflagged" days) are
drawn by the same rule, so s_h² uses the kind's pooled proportion p_k = Σd/Σn, with
s² = p_k(1 − p_k)·n_k/(n_k − 1); a kind that saw no defect (or only defects) counts half an event,
p_k = 0.5/(n_k + 1), so an all-clean week still has a non-zero variance.

Interval: the Wilson score interval on the effective sample size n_eff = p̂(1 − p̂)/V (Korn &
Graubard's idea, with Wilson instead of Clopper–Pearson so that it needs no beta quantiles), which
keeps good coverage for small rates where a Wald interval would dip below zero. With p̂ = 0 the
interval uses the number of reviewed items. Seeded simulations (tests/bot/test_rollup.py) give
94–97% coverage for rates from 1% to 16% with flagged replies over-sampled 4×.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.proportions import Z95, wilson


@dataclass(frozen=True)
class Stratum:
    population: int  # N_h
    reviewed: int  # n_h
    defective: int  # d_h
    kind: str = ""  # strata of one kind share their variance estimate


@dataclass(frozen=True)
class Estimate:
    rate: float | None  # None when nothing was reviewed
    low: float | None
    high: float | None
    total: float  # estimated defective replies
    population: int  # replies in strata with at least one review
    reviewed: int
    effective_n: float
    uncovered: int = 0  # replies in strata that nobody reviewed
    strata: int = 0  # strata with at least one review


def estimate(strata: Iterable[Stratum], z: float = Z95) -> Estimate:
    """Stratified estimate of the defect rate over every stratum's population, with its interval."""
    covered: list[Stratum] = []
    uncovered = 0
    for s in strata:
        if s.reviewed > 0 and s.population > 0:
            covered.append(s)
        else:
            uncovered += s.population
    population = sum(s.population for s in covered)
    reviewed = sum(s.reviewed for s in covered)
    if not covered:
        return Estimate(None, None, None, 0.0, 0, 0, 0.0, uncovered)
    total = sum(s.population * s.defective / s.reviewed for s in covered)
    rate = min(1.0, total / population)
    variance = _variance(covered) / population**2
    if variance <= 0.0:  # every reply of every stratum was reviewed: the rate is exact
        return Estimate(rate, rate, rate, total, population, reviewed, math.inf, uncovered, len(covered))
    n_eff = float(reviewed) if rate <= 0.0 or rate >= 1.0 else rate * (1 - rate) / variance
    low, high = wilson(rate, n_eff, z)
    return Estimate(rate, low, high, total, population, reviewed, n_eff, uncovered, len(covered))


def _variance(strata: list[Stratum]) -> float:
    """Σ N_h² (1 − n_h/N_h) s_h²/n_h with s_h² from the pooled proportion of the stratum's kind."""
    pooled: dict[str, tuple[int, int]] = {}
    for s in strata:
        n, d = pooled.get(s.kind, (0, 0))
        pooled[s.kind] = (n + s.reviewed, d + s.defective)
    spread = {kind: _kind_variance(n, d) for kind, (n, d) in pooled.items()}
    return sum(
        s.population**2 * max(0.0, 1 - s.reviewed / s.population) * spread[s.kind] / s.reviewed
        for s in strata
    )


def _kind_variance(n: int, d: int) -> float:
    p = d / n if 0 < d < n else (0.5 / (n + 1) if d == 0 else 1 - 0.5 / (n + 1))
    return p * (1 - p) * (n / (n - 1) if n > 1 else 1.0)
