"""The digest builders: pure, within Block Kit limits, every reviewer named, untrusted text inert."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from bot.core import weeks
from bot.digest.estimate import Estimate, Stratum, estimate
from bot.digest.message import build_digest, digest_text, duration, pct
from bot.digest.rollup import (
    Catch,
    CategoryRate,
    GroupLine,
    Listing,
    OwnerLoad,
    ReviewerWeek,
    Rollup,
    Volume,
    WeekRate,
)
from tests.fakes.blockkit import all_text, check_blocks, pings

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = "2026-W47"
START, END = weeks.bounds(WEEK, BERLIN)
NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
EVIL = "<!channel> <@U0HACKER> *bold* & dana@example.com"


def group(gid: int, title: str = "Unfilled {{first_name}}", **kw: object) -> GroupLine:
    fields: dict[str, object] = {
        "id": gid, "title": title, "category": "template_error", "severity": "high", "status": "open",
        "occurrences": 3, "owner": "U0OWNER", "tracker_url": "https://jira.example.com/browse/SUP-1",
        "tracker_key": "SUP-1", "created_at": START - dt.timedelta(days=3), "fixed_at": None,
        "week_occurrences": 2, "affected": 412.4,
    }  # fmt: skip
    fields.update(kw)
    return GroupLine(**fields)  # type: ignore[arg-type]


def reviewer(i: int) -> ReviewerWeek:
    return ReviewerWeek(
        f"U0REV{i:03d}", reviews=40 - i % 30, defects=3, high_critical=1, fixed_catches=1,
        calibration_pairs=4, calibration_agreed=3, seconds=4000.0,
    )  # fmt: skip


def make_rollup(*, reviewers: int = 3, rate: Estimate | None = None, groups: int = 3) -> Rollup:
    rate = rate or estimate([Stratum(900, 60, 3, "unflagged"), Stratum(100, 30, 9, "flagged")])
    trend = [
        WeekRate(weeks.shift(WEEK, -k), rate if k % 2 == 0 else Estimate(None, None, None, 0, 0, 0, 0))
        for k in range(7, -1, -1)
    ]
    fixed = group(9, "Old price list", status="fixed", fixed_at=START + dt.timedelta(days=2), owner=None)
    return Rollup(
        week=WEEK,
        start=START,
        end=END,
        now=NOW,
        volume=Volume(ingested=19873, sampled=100, reviewed=90, pending=10),
        rate=WeekRate(WEEK, rate, 100, 90, 12),
        trend=trend,
        by_category=[("template_error", "high", 5), ("template_error", "critical", 1), ("tone", "low", 2)],
        top_groups=Listing([group(i) for i in range(groups)], total=groups + 4),
        fixes=Listing([fixed], total=1),
        open_by_owner=[
            OwnerLoad("U0OWNER", 2, 7, START - dt.timedelta(days=20)),
            OwnerLoad(None, 1, 1, START),
        ],
        open_groups=Listing([group(1)], total=3),
        reviewers=[reviewer(i) for i in range(reviewers)],
        catch=Catch("U0REV000", "template_error", "critical", EVIL, "T-1", fixed),
    )


def dicts(blocks) -> list[dict]:  # type: ignore[no-untyped-def]
    return [block.to_dict() for block in blocks]


def test_digest_names_every_reviewer_and_passes_block_kit_checks() -> None:
    blocks = dicts(build_digest(make_rollup(), BERLIN))
    assert check_blocks(blocks) == []
    text = all_text(blocks)
    for i in range(3):
        figures = f"*{40 - i} reviews* · 3 defects caught · 1 high/critical · 1 catch fixed this week"
        assert f"<@U0REV{i:03d}> — {figures}" in text
    assert "calibration: agreed on 3 of 4" in text and "~1 h 6 min given" in text
    assert "*Estimated defect rate of all AI replies: 7.5%*" in text and "(95% CI 3.8% – 14.2%)" in text
    assert "Raw rate of reviewed items: 13.3% (12 of 90)" in text
    assert "…and 4 more" in text  # top groups beyond the listed ones
    assert "Old price list" in text
    assert "*✅ Fixed this week* (1)" in text and "fixed in 5 d" in text
    assert "<@U0OWNER>: 2 open, 7 occurrences, oldest 31 d" in text and "unassigned: 1 open" in text
    assert "Catch of the week" in text and "≈ 412 replies" in text


def test_untrusted_text_never_pings_or_formats() -> None:
    rollup = make_rollup()
    rollup.top_groups.rows[0] = group(0, title=EVIL, tracker_url="javascript:alert(1)")
    blocks = dicts(build_digest(rollup, BERLIN))
    text = all_text(blocks)
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "U0HACKER" not in {p.strip("<@>") for p in pings(blocks)}
    assert "javascript:" not in text
    assert set(pings(blocks)) <= {f"<@U0REV{i:03d}>" for i in range(3)} | {"<@U0OWNER>"}


def test_a_hundred_and_fifty_reviewers_stay_within_limits() -> None:
    blocks = dicts(build_digest(make_rollup(reviewers=150, groups=10), BERLIN))
    assert check_blocks(blocks) == []
    assert len(blocks) <= 50
    text = all_text(blocks)
    named = [f"<@U0REV{i:03d}>" for i in range(150) if f"<@U0REV{i:03d}>" in text]
    assert len(named) >= 100
    assert f"…and {150 - len(named)} more" in text


def test_a_week_without_reviews_says_so() -> None:
    empty = Estimate(None, None, None, 0.0, 0, 0, 0.0, uncovered=500)
    rollup = make_rollup(reviewers=0, rate=empty, groups=0)
    blocks = dicts(build_digest(rollup, BERLIN))
    assert check_blocks(blocks) == []
    text = all_text(blocks)
    assert "not enough reviews this week" in text
    assert "nobody reviewed this week" in text
    assert "estimated defect rate –" in digest_text(rollup)


def test_formatting_helpers() -> None:
    assert pct(0.0042) == "0.42%" and pct(0.0321) == "3.2%" and pct(0.0) == "0.0%" and pct(None) == "–"
    assert duration(dt.timedelta(days=3, hours=5)) == "3 d 5 h"
    assert duration(dt.timedelta(hours=2)) == "2 h" and duration(420.0) == "7 min"


def test_the_digest_says_what_the_rate_covers_and_estimates_each_category() -> None:
    rollup = make_rollup()
    volume = Volume(
        ingested=19873, sampled=100, reviewed=90, pending=10, estimated=15000, uncovered=4500, not_sampled=373
    )
    tone = estimate([Stratum(900, 60, 1, "unflagged"), Stratum(100, 30, 0, "flagged")])
    rollup = dataclasses.replace(
        rollup,
        volume=volume,
        category_rates=[CategoryRate("tone", tone, 1), CategoryRate("other", tone, 1)],
    )
    text = all_text(dicts(build_digest(rollup, BERLIN)))
    assert (
        "19,873 replies = 15,000 in the estimate + 4,500 uncovered (sampled, nobody reviewed yet)"
        " + 373 not yet sampled (arrived after the last draw)" in text
    )
    assert "• Tone: *2* (2 low) · ≈ 15 replies (1.5%, 95% CI up to" in text
    assert "• Other: ≈ 15 replies (1.5%" in text  # found in the week's replies, filed earlier
    complete = dataclasses.replace(
        rollup, volume=dataclasses.replace(volume, estimated=19873, uncovered=0, not_sampled=0)
    )
    assert "All 19,873 replies of the week are in the estimate." in all_text(
        dicts(build_digest(complete, BERLIN))
    )
