"""The weekly digest: the rollup of a week's figures, the stratified defect-rate estimate, the
chart, and the message posted once per (channel, week).

May import: bot.judge, bot.sample (the frame covering a week is drawn before its digest),
bot.views, bot.delivery, bot.core."""
