"""Two statistics of proportions shared by the digest's estimate and the judge's agreement:
the Wilson score interval, and Cohen's kappa for two raters on a yes/no question."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(rate: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion `rate` observed on (effective) sample size `n`."""
    if n <= 0:
        return 0.0, 1.0
    z2 = z * z
    centre = (rate + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(max(rate * (1 - rate), 0.0) / n + z2 / (4 * n * n))
    # at 0 and 1 the bound is exact; float rounding must not move it off
    low = 0.0 if rate <= 0.0 else max(0.0, centre - half)
    high = 1.0 if rate >= 1.0 else min(1.0, centre + half)
    return low, high


def cohen_kappa(both_yes: int, only_first: int, only_second: int, both_no: int) -> float | None:
    """Agreement beyond chance of two raters on a 2×2 table; None when chance agreement is total
    (both raters gave a single answer to every item, so kappa is undefined)."""
    n = both_yes + only_first + only_second + both_no
    if n == 0:
        return None
    observed = (both_yes + both_no) / n
    first_yes, second_yes = both_yes + only_first, both_yes + only_second
    chance = (first_yes * second_yes + (n - first_yes) * (n - second_yes)) / (n * n)
    if chance >= 1.0:
        return None
    return (observed - chance) / (1 - chance)
