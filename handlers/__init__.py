"""Thin Bolt listeners. `register(app)` is the one place that shows every route."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import actions, checks, commands, defects, events, once, views


def register(app: AsyncApp) -> None:
    events.register(app)
    once.register(app)
    commands.register(app)
    actions.register(app)
    views.register(app)
    defects.register(app)
    checks.register(app)
