"""The verification's words on the card and in the digest (pure builders, Block Kit checked)."""

from __future__ import annotations

import datetime as dt

from bot.views.defect import GroupCard, build_group_card
from bot.views.verification import (
    FixesSummary,
    FixLine,
    VerificationView,
    build_fixes_section,
    slack_date,
    verification_line,
)
from tests.fakes.blockkit import all_text, check_blocks

START = dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC)


def view(status: str, **kw) -> VerificationView:  # type: ignore[no-untyped-def]
    values = {"segment": "template:refund_v3", "min_reviews": 10, "traffic": 812, "reviewed": 12}
    return VerificationView(status, START, START + dt.timedelta(days=7), **{**values, **kw})


def test_each_outcome_reads_as_what_happened() -> None:
    assert slack_date(START) == f"<!date^{int(START.timestamp())}^{{date_short}}|2026-11-27>"
    assert verification_line(view("verifying", reviewed=3)).startswith("🔎 Verifying the fix until <!date^")
    assert "3 of 10 reviews of template `refund_v3`" in verification_line(view("verifying", reviewed=3))
    verified = verification_line(view("verified", decided_at=START + dt.timedelta(days=7)))
    assert verified.startswith("✔️ Fix verified") and "812 replies of template `refund_v3`" in verified
    assert "2 replies matching" in verification_line(view("recurred", matches=2))
    assert "a reviewer found it" in verification_line(view("recurred"))
    unverified = verification_line(view("unverified", reviewed=2, traffic=3))
    assert "too little traffic" in unverified and "2 of 10 reviews" in unverified


def test_the_card_shows_the_verification_under_its_status() -> None:
    card = GroupCard(1, "Placeholder in refund_v3", "template_error", "high", 3, status="fixed")
    line = verification_line(view("verifying"))
    blocks = [b.to_dict() for b in build_group_card(GroupCard(**{**card.__dict__, "verification": line}))]
    assert check_blocks(blocks, "message") == [] and line in all_text(blocks)
    assert "Verifying" not in all_text([b.to_dict() for b in build_group_card(card)])


def test_the_digest_section_counts_and_lists_within_limits() -> None:
    lines = [FixLine(f"group {n} <!channel>", f"group {n}", view("verified")) for n in range(30)]
    blocks = [b.to_dict() for b in build_fixes_section(FixesSummary(30, 1, 0, 2, lines))]
    text = all_text(blocks)
    assert check_blocks(blocks, "message") == [] and len(blocks) == 1
    assert "30 verified · 1 recurred · 0 unverified · 2 in window" in text and "…and 20 more" in text
    assert build_fixes_section(FixesSummary()) == []
