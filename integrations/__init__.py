"""Vendor integrations, each behind a small Protocol from `integrations.base`; one HTTP policy.

May import: bot.core (the reply record, settings, clock) and nothing else of the project."""
