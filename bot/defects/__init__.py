"""Defects and their root-cause groups: grouping, routing, regrouping, what the tracker issue and
helpdesk note say, the outbox effects that deliver them, and tracker status sync.

May import: bot.views, bot.delivery, integrations, bot.core."""
