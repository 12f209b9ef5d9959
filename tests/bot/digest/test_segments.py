"""Segments: domain estimates from the stratified sample (pure coverage, and over a real database)."""

from __future__ import annotations

import pytest

from bot.core.models import Reply
from bot.digest.estimate import Stratum, estimate
from bot.digest.segments import SMALL_N, Item, estimate_segments, week_segments, worst
from tests.bot.digest.segment_sim import INTENTS, coverage
from tests.bot.digest_data import WEEK, Seeder


def test_segment_intervals_cover_the_true_rates_in_about_95_percent_of_seeded_trials() -> None:
    # three intents with known, different rates; flagged replies over-sampled as the daily draw does
    result = coverage(20261207, 200)
    assert set(result) == set(INTENTS)
    for name, share in result.items():
        assert 0.91 <= share <= 0.99, f"{name}: coverage {share:.3f}"


def test_the_segments_of_one_dimension_add_up_to_the_weekly_estimate() -> None:
    cells = {1: (100, "flagged"), 2: (900, "unflagged")}
    items = [
        Item(1, True, {"intent": ("billing",)}),
        Item(1, False, {"intent": ("shipping",)}),
        Item(2, True, {"intent": ("billing",)}),
        Item(2, False, {"intent": ("billing",)}),
        Item(2, False, {"intent": ("shipping",)}),
        Item(2, False, {"intent": ("shipping",)}),
    ]
    segments = estimate_segments(cells, items, ["intent"])
    week = estimate([Stratum(100, 2, 1, "flagged"), Stratum(900, 4, 1, "unflagged")])
    assert sum(s.estimate.total for s in segments) == pytest.approx(week.total)
    assert sum(s.estimate.population for s in segments) == pytest.approx(1000)
    billing = next(s for s in segments if s.value == "billing")
    # 50 (flagged, weight 50) + 225 (unflagged, weight 225) defective of 50 + 450 replies
    assert billing.estimate.rate == pytest.approx(275 / 500)
    assert (billing.reviewed, billing.defective, billing.small) == (3, 2, True)


def test_worst_puts_segments_with_enough_reviews_first_and_skips_clean_ones() -> None:
    cells = {1: (1000, "unflagged")}
    items = [Item(1, n < 6, {"intent": ("big",)}) for n in range(SMALL_N + 10)]
    items += [Item(1, True, {"intent": ("tiny",)}), Item(1, False, {"intent": ("clean",)})]
    ranked = worst(estimate_segments(cells, items, ["intent"]))
    assert [s.value for s in ranked] == ["big", "tiny"]
    assert ranked[1].small and not ranked[0].small


async def test_week_segments_read_the_weeks_cells_and_reviewed_items(db) -> None:  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        s = Seeder(session)
        mon = await s.batch(0, flagged=40, unflagged=960, drawn=(2, 2))
        f = [await s.item(mon, "flagged", prob=2 / 40) for _ in range(2)]
        u = [await s.item(mon, "unflagged", prob=2 / 960) for _ in range(2)]
        fields = [
            ("billing", "refund_v3", [{"id": "kb-1", "updated_at": "2025-01-01"}, {"id": "kb-2"}]),
            ("billing", None, [{"id": "kb-1"}]),
            ("shipping", "refund_v3", None),
            ("shipping", None, []),
        ]
        for item, (intent, template, articles) in zip([*f, *u], fields, strict=True):
            reply = await session.get(Reply, item.reply_id)
            reply.intent, reply.template_id, reply.kb_articles = intent, template, articles
        await s.review(f[0], "U0REV1", "defect", severity="high", category="template_error")
        await s.review(f[1], "U0REV1", "correct")
        await s.review(u[0], "U0REV1", "defect", severity="low", category="tone")
        # u[1] not reviewed: not in any segment's estimate
    async with db.session() as session:
        segments = await week_segments(session, WEEK)
    by = {(seg.dimension, seg.value): seg for seg in segments}
    assert by["intent", "billing"].estimate.rate == pytest.approx(0.5)  # 20 of 40, same weights
    assert by["intent", "shipping"].reviewed == 1 and by["intent", "shipping"].estimate.rate == 1.0
    assert by["template", "refund_v3"].defective == 2
    assert by["article", "kb-1"].reviewed == 2 and by["article", "kb-2"].reviewed == 1
    assert by["article", "(none)"].reviewed == 1
    assert by["language", "(none)"].reviewed == 3
    assert ("intent", "billing") in {(x.dimension, x.value) for x in worst(segments, 10)}
