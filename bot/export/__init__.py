"""Exports for analysts: one row per item with stable column names, streamed.

May import: bot.core."""
