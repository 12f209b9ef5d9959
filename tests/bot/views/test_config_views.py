"""The /audit config message: within Block Kit limits whatever the outbox holds, vendor text inert."""

from __future__ import annotations

from bot.views.config import ConfigView, DeadItem, Integration, build_config_message, config_text
from tests.fakes.blockkit import all_text, check_blocks, pings


def view(dead: int, error: str = "jira answered 503") -> ConfigView:
    return ConfigView(
        config_file="auditbot.toml",
        team=[("channels", "audit C0AUDIT"), *((f"route {n}", "x" * 300) for n in range(20))],
        environment=[("SLACK_BOT_TOKEN", "set")],
        integrations=[Integration("jira", False, "set `JIRA_URL`")],
        outbox={"pending": 3, "dead": dead},
        dead=[DeadItem(n, "tracker.comment", n, 8, error) for n in range(min(dead, 10))],
        dead_total=dead,
    )


def test_many_long_dead_letters_stay_within_limits_and_say_how_many_more() -> None:
    blocks = [b.to_dict() for b in build_config_message(view(250, "<!channel> " + "e" * 5000))]
    assert check_blocks(blocks) == []
    text = all_text(blocks)
    assert "…and 240 more" in text and "--retry-dead" in text
    assert pings(blocks) == []


def test_an_empty_outbox_says_nothing_waits() -> None:
    blocks = [b.to_dict() for b in build_config_message(view(0))]
    assert "Nothing is waiting for a person." in all_text(blocks)
    assert config_text(view(0)) == "auditbot configuration · outbox: 3 pending, 0 dead"
