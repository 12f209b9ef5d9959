"""The daily sample: its window, the stratified draw stored before posting, and posting it to
Slack exactly once.

May import: bot.judge, bot.views, bot.delivery, bot.core."""
