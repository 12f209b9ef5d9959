"""Verdicts on sampled items (one per item and reviewer, calibration double reviews, the defect
filed with a defect verdict) and the review figures of App Home and `/audit stats`.

May import: bot.digest, bot.defects, bot.views, bot.delivery, bot.core."""
