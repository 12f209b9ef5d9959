"""Automatic checks on AI replies (DESIGN.md "Detector kinds"): pure functions over reply records.

One module per kind of check (`placeholders`, `names` with `people`, `plans`, `tickets` for the
checks across a ticket's replies), the word lists they read text with (`words`), the evidence
sentence (`context`), per-channel settings (`profiles`); `detector` runs them all over a batch.
May import: bot.core."""
