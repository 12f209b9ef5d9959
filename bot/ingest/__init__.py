"""Getting replies in: rows built from records, stored idempotently with their findings (on PostgreSQL
in bulk through COPY and a staging table); the bulk import pipeline; polling helpdesk sources.

May import: bot.checks, bot.core, integrations (readers and sources)."""
