"""The daily sample: its frame (every reply in exactly one), the stratified draw stored before
posting, and posting it to Slack exactly once.

May import: bot.judge, bot.views, bot.delivery, bot.core."""
