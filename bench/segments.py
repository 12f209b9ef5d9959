"""Coverage of the segment estimates (bot.digest.segments) over many seeded weeks.

usage: python bench/segments.py [--trials N] [--seed S]

Each trial is a simulated week (tests/bot/digest/segment_sim.py): five daily frames of 400–1,200
replies, three intents with known and different defect rates, flagged replies defective far more
often and over-sampled (30% of 20 daily draws), 10% of the items never reviewed. For each draw size
(20 and 40 a day) it prints, per intent, how often the 95% interval held the week's true rate, with
a binomial 95% interval for that coverage, and the mean reviewed items. Exit 1 if any coverage is
outside 92–98%.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bot.core.proportions import wilson
from tests.bot.digest.segment_sim import INTENTS, simulate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    failed = False
    for size in (20, 40):
        rng = random.Random(args.seed + size)
        held = dict.fromkeys(INTENTS, 0)
        reviewed = dict.fromkeys(INTENTS, 0)
        for _ in range(args.trials):
            trial = simulate(rng, size=size)
            for name in INTENTS:
                held[name] += trial.covered[name]
                reviewed[name] += trial.reviewed[name]
        print(f"{size} draws a day, {args.trials} weeks:")
        for name, (share, p_flagged, p_unflagged) in INTENTS.items():
            coverage = held[name] / args.trials
            low, high = wilson(coverage, args.trials)
            failed |= not 0.92 <= coverage <= 0.98
            print(
                f"  {name:<9} share {share:.0%}, rates {p_flagged:.0%}/{p_unflagged:.0%}: coverage "
                f"{coverage:.1%} ({low:.1%}–{high:.1%}), {reviewed[name] / args.trials:.0f} reviewed a week"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
