"""Getting effects out: the outbox engine (claims, retries, dead letters), leader and posting
leases, Slack calls and lookups of what was already posted, and the vendor registry.

The outbox knows no effect kind: the capability that queues effects hands it their table.
May import: integrations, bot.core."""
