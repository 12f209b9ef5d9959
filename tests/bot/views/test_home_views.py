"""App Home and /audit stats text, as pure builders."""

from __future__ import annotations

import datetime as dt

from bot.views.home import ReviewerNumbers, TeamWeek, WaitingItem, build_home, permalink, stats_text
from tests.fakes.blockkit import all_text, check_view, pings

NUMBERS = ReviewerNumbers(week=7, week_defects=2, all_time=120, all_defects=19, fixed_catches=4)
TEAM = TeamWeek(posted=40, reviewed=30, verdicts=33, defects=5, reviewers=3)
UPDATED = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)


def item(n: int, **kw) -> WaitingItem:  # type: ignore[no-untyped-def]
    args = {
        "item_id": n,
        "channel": "C0AUDIT",
        "message_ts": f"1700000000.{n:06d}",
        "ticket_id": f"T-{n}",
        "ticket_url": f"https://help.example.com/t/{n}",
        "double_review": False,
    }
    return WaitingItem(**{**args, **kw})


def home(**kw) -> dict:  # type: ignore[no-untyped-def,type-arg]
    args = {
        "user_id": "U0REV1",
        "is_reviewer": True,
        "numbers": NUMBERS,
        "waiting": [item(1), item(2, double_review=True)],
        "waiting_total": 2,
        "team": TEAM,
        "week_start": dt.date(2026, 11, 23),
        "updated_at": UPDATED,
    }
    return build_home(**{**args, **kw}).to_dict()


def test_home_shows_the_reviewers_numbers_and_waiting_items() -> None:
    view = home()
    assert view["type"] == "home" and check_view(view) == []
    text = all_text(view)
    assert "7 verdicts · 2 defects" in text
    assert "120 verdicts · 19 defects" in text
    assert "*Catches that led to fixes*\n4" in text
    assert "<https://slack.com/archives/C0AUDIT/p1700000000000001|Sample item #1>" in text
    assert "<https://help.example.com/t/1|ticket T-1>" in text
    assert "calibration" in text
    assert "*Items reviewed*\n30 (75%)" in text
    assert "Week starting Mon 23 Nov 2026" in text


def test_home_says_more_are_waiting_and_thanks_when_nothing_is() -> None:
    assert "…and 8 more" in all_text(home(waiting_total=10))
    assert "Nothing is waiting for you" in all_text(home(waiting=[], waiting_total=0))


def test_home_for_someone_who_is_not_a_reviewer() -> None:
    view = home(is_reviewer=False, waiting=[], waiting_total=0)
    text = all_text(view)
    assert "not a reviewer" in text and "Waiting for your verdict" not in text
    assert "*Verdicts*\n33" in text


def test_untrusted_ticket_fields_cannot_ping_or_break_links() -> None:
    bad = item(3, ticket_id="<!channel> T-3", ticket_url="https://x.test/a|<!here>")
    view = home(waiting=[bad], waiting_total=1)
    assert pings(view) == []
    assert "&lt;!channel&gt; T-3" in all_text(view)


def test_permalink_and_stats_text() -> None:
    assert permalink("C1", "1700000000.000100") == "https://slack.com/archives/C1/p1700000000000100"
    text = stats_text(user_id="U0REV2", numbers=NUMBERS, team=TEAM)
    assert "<@U0REV2>" in text and "This week*: 7 verdicts" in text and "Defects found*: 5" in text


def test_home_shows_high_catches_and_calibration_agreement() -> None:
    numbers = ReviewerNumbers(
        week=7, week_defects=2, all_time=120, all_defects=19, fixed_catches=4,
        week_high=1, all_high=6, week_pairs=4, week_agreed=3, all_pairs=20, all_agreed=17,
    )  # fmt: skip
    team = TeamWeek(posted=40, reviewed=30, verdicts=33, defects=5, reviewers=3, high=2, pairs=8, agreed=6)
    text = all_text(home(numbers=numbers, team=team))
    assert "7 verdicts · 2 defects (1 high/critical)" in text
    assert "120 verdicts · 19 defects (6 high/critical)" in text
    assert "*Calibration agreement*\n75% this week (3 of 4) · 85% all time (17 of 20)" in text
    assert "*Defects found*\n5 (2 high/critical)" in text and "75% this week (6 of 8)" in text
    quiet = all_text(home())
    assert "no calibration pairs this week" in quiet and "high/critical" not in quiet


def test_home_shows_each_checks_volume_and_precision() -> None:
    from bot.views.checks import CheckPrecision

    figures = [
        CheckPrecision("placeholder_leak", 12, 10, 8, 0.49, 0.94),
        CheckPrecision("plan_mismatch", 3, 0, 0, muted=True),
    ]
    view = home(checks=figures)
    check_view(view)
    text = all_text(view["blocks"])
    assert (
        "*placeholder leak*: 12 findings this week · precision 80% (8 of 10 judged, 95% CI 49%–94%)" in text
    )
    assert "*plan mismatch*: 3 findings this week · no feedback yet · _muted_" in text
    assert "Automatic checks" not in all_text(home()["blocks"])  # nothing to say without figures
