"""Exports for analysts: one row per item with stable column names, streamed.

May import: bot.digest (article health), bot.views (category labels), bot.core."""
