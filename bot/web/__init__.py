"""The HTTP adapter: the Starlette app with /slack/events, /ingest, /webhooks/* and /healthz.

Translates requests and answers; the work is done by the capabilities. May import: bot.app and below."""
