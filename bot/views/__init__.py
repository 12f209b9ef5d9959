"""Pure Block Kit builders, one module per Slack surface; every id they use lives in `ids`.

They render the view types they define (or plain values) and decide nothing. May import: bot.core."""
