"""The verification strata in the draw (pure): fixed sizes, known inclusion probabilities, and the
same draw as before when no fix is being verified."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from bot.sample.draw import draw_sample
from bot.sample.verify import Window, in_segment, is_verification, split_segment, stratum_of

KW = {"size": 10, "risk_share": 0.3, "double_share": 0.1}


def test_each_verification_stratum_gets_its_own_draws_with_known_probabilities() -> None:
    flagged, unflagged = list(range(1, 41)), list(range(100, 500))
    verify = {stratum_of(7): list(range(1000, 1013)), stratum_of(9): [2000, 2001]}
    draw = draw_sample(flagged, unflagged, seed=5, verify=verify, verify_size=4, **KW)
    by_stratum = Counter(p.stratum for p in draw.picks)
    assert by_stratum == {"flagged": 3, "unflagged": 7, "verify:7": 4, "verify:9": 2}
    probs = {p.stratum: p.inclusion_prob for p in draw.picks}
    assert probs["verify:7"] == 4 / 13 and probs["verify:9"] == 1.0 and probs["unflagged"] == 7 / 400
    assert (draw.population, draw.verify_population, draw.verify_drawn) == (455, 15, 6)
    assert all(p.reply_id in verify[p.stratum] for p in draw.picks if is_verification(p.stratum))


def test_without_a_fix_being_verified_the_draw_is_the_one_it_always_was() -> None:
    flagged, unflagged = list(range(1, 41)), list(range(100, 500))
    before = draw_sample(flagged, unflagged, seed=11, **KW)
    assert draw_sample(flagged, unflagged, seed=11, verify={}, verify_size=4, **KW) == before
    assert draw_sample(flagged, unflagged, seed=11, verify={"verify:3": []}, verify_size=4, **KW) == before


def test_over_many_draws_each_reply_of_a_verification_stratum_is_drawn_at_its_probability() -> None:
    ids = list(range(1000, 1010))
    counts: Counter[int] = Counter()
    trials = 4000
    for seed in range(trials):
        draw = draw_sample([1], [2, 3], seed=seed, verify={"verify:1": ids}, verify_size=3, **KW)
        counts.update(p.reply_id for p in draw.picks if p.stratum == "verify:1")
    for rid in ids:  # 0.3 each: within 4 standard errors
        assert abs(counts[rid] / trials - 0.3) < 4 * (0.3 * 0.7 / trials) ** 0.5, (rid, counts[rid])


def test_segments() -> None:
    assert split_segment("template:refund_v3") == ("template", "refund_v3")
    assert split_segment("colour:red") is None and split_segment(None) is None
    kb = [{"id": "kb-12", "url": "https://help/kb-12"}, {"url": "no id"}, "junk"]
    assert in_segment("article:kb-12", template_id=None, intent=None, kb_articles=kb)
    assert not in_segment("article:kb-1", template_id=None, intent=None, kb_articles=kb)
    assert in_segment("intent:billing", template_id="x", intent="billing", kb_articles=None)
    assert not in_segment("template:x", template_id=None, intent="x", kb_articles=None)
    start = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    window = Window(7, "template:x", start, start + dt.timedelta(days=7))
    assert window.holds("x", None, None, start) and not window.holds("x", None, None, start - dt.timedelta(1))
    assert not window.holds("x", None, None, start + dt.timedelta(days=7))
