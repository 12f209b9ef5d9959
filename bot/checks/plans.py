"""plan_mismatch: "your X plan/subscription/account" where X is a configured plan not the customer's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


def plan_pattern(plans: Sequence[str]) -> re.Pattern[str] | None:
    """Matches "your <plan> plan|subscription|account" for any of `plans`, in lower-cased text."""
    if not plans:
        return None
    keys = sorted({plan_key(p) for p in plans}, key=len, reverse=True)
    names = "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in keys)
    # Run on text.lower() rather than with IGNORECASE: a literal prefix makes the search fast.
    return re.compile(
        rf"your(?<!\wyour)\s+(?:current\s+)?(?P<plan>{names})(?!\w)[\s-]+"
        r"(?:plan|subscription|account)s?\b"
    )


@lru_cache(maxsize=1024)
def plan_key(plan: str) -> str:
    key = " ".join(plan.lower().split())
    return key.removesuffix(" plan")
