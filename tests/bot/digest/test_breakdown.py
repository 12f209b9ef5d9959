"""The digest's census, worst segments and articles to fix first: pure builders, Block Kit limits."""

from __future__ import annotations

import dataclasses

from bot.digest.articles import ArticleHealth
from bot.digest.breakdown import Breakdown
from bot.digest.census import Census, KindCount
from bot.digest.message import build_digest
from bot.digest.segments import SMALL_N, Item, estimate_segments
from tests.bot.digest.test_message import BERLIN, EVIL, dicts, make_rollup
from tests.fakes.blockkit import all_text, check_blocks, pings


def breakdown() -> Breakdown:
    census = Census(
        weeks=[f"2026-W{w}" for w in range(40, 48)],
        replies=[1000] * 7 + [2000],
        flagged=[30] * 7 + [50],
        kinds=[
            KindCount("placeholder_leak", [0, 0, 0, 0, 10, 12, 20, 42]),
            KindCount("stale_kb", [5, 5, 5, 5, 5, 5, 9, 8]),
            KindCount("duplicate_reply", [0] * 8),
        ],
    )
    cells = {1: (200, "flagged"), 2: (1800, "unflagged")}
    items = [Item(1, n < 8, {"intent": ("billing",), "article": ("kb-12",)}) for n in range(20)]
    items += [Item(2, n < 2, {"intent": ("billing",), "article": ("kb-12",)}) for n in range(SMALL_N)]
    items += [Item(2, True, {"intent": (EVIL,), "article": ("(none)",)})]
    segments = estimate_segments(cells, items, ["intent", "article"])
    articles = [
        ArticleHealth(
            "kb-12", "https://help.example/kb-12", None, replies=40, defects=1, stale=8, age_days=700
        ),
        ArticleHealth(EVIL, "javascript:alert(1)", None, replies=3, defects=0, stale=1, age_days=1),
        ArticleHealth("kb-30", None, None, replies=9, defects=0, stale=0, age_days=3),
    ]
    return Breakdown(census, segments, articles)


def test_the_digest_shows_the_census_beside_the_estimate_the_worst_segments_and_articles() -> None:
    blocks = dicts(build_digest(make_rollup(), BERLIN, breakdown=breakdown()))
    assert check_blocks(blocks) == []
    text = all_text(blocks)
    assert "*Checks on every reply (census)* — 50 replies of 2,000 flagged (2.5%)" in text
    assert "the reviewed sample estimates 7.5% defective (95% CI up to 14.2%)" in text
    assert "• Placeholder leak: *42* (2.1%) ↑ · last 4 weeks: 10 → 12 → 20 → 42" in text
    assert "• Stale kb: *8* (0.40%) ↓" in text and "Duplicate reply" not in text  # found nothing
    assert "*Where the AI fails most* — segments by estimated defect rate" in text
    billing = next(line for line in text.splitlines() if line.startswith("• Intent *billing*"))
    assert "(95% CI" in billing and "small n" not in billing  # 50 reviewed items
    evil = next(line for line in text.splitlines() if "U0HACKER" in line and line.startswith("• Intent"))
    assert "_small n: 1 reviewed item_" in evil and "&lt;!channel&gt;" in evil
    assert "*Help-centre articles to fix first*" in text
    assert "• <https://help.example/kb-12|kb-12> — 1 defect, 8 stale findings, cited by 40 replies" in text
    assert "updated 700 days ago" in text and "kb-30" not in text  # nothing to fix there
    assert "javascript:" not in text and "U0HACKER" not in {p.strip("<@>") for p in pings(blocks)}


def test_categories_by_label_and_counts_in_the_singular() -> None:
    rollup = dataclasses.replace(make_rollup(groups=1), by_category=[("wrong_information", "high", 1)])
    rollup = dataclasses.replace(rollup, open_groups=dataclasses.replace(rollup.open_groups, total=1))
    text = all_text(dicts(build_digest(rollup, BERLIN)))
    assert "*Where it breaks* — 1 defect filed" in text
    assert "• Wrong information: *1* (1 high)" in text and "wrong_information" not in text
    assert "*Still open* — 1 root cause" in text and "3 reviewers" in text
    assert "caught a *critical* template error problem" in text


def test_many_reviewers_and_the_breakdown_stay_within_fifty_blocks() -> None:
    blocks = dicts(build_digest(make_rollup(reviewers=150, groups=10), BERLIN, breakdown=breakdown()))
    assert check_blocks(blocks) == [] and len(blocks) <= 50
    assert "*Help-centre articles to fix first*" in all_text(blocks)
