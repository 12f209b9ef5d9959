"""Errors the fake Slack answers with."""

from __future__ import annotations


class SlackError(Exception):
    """An `ok: false` answer with Slack's error code."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []
