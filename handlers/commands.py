"""The /audit slash command."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

COMMAND = "/audit"

HELP = (
    "*auditbot* — the audit layer for AI support replies\n"
    "• `/audit help` — this message\n"
    "• `/audit stats [@user]` — review figures\n"
    "• `/audit sample` — (admins) post today's sample now"
)


async def handle_audit(ack, command) -> None:  # type: ignore[no-untyped-def]
    await ack(text=HELP)


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(handle_audit)
