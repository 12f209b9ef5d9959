"""Automatic checks on AI replies (DESIGN.md "Detector kinds"): pure functions over reply records.

One module per kind of check, `detector` runs them all over a batch, `tickets` compares the replies
of one ticket. May import: bot.core."""
