"""`/audit config`: the effective configuration (secrets masked), the live integrations, and what
the outbox still holds, so an admin can see why a defect did not reach its tracker.

Names and settings are the admin's own and are shown escaped, in code spans where they are to be
copied (variable names); vendor error text is untrusted and made inert like customer text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.core.redact import escape_mrkdwn, safe_mrkdwn, truncate

SECTION_MAX = 2900  # under Slack's 3,000 characters per section text


@dataclass(frozen=True)
class Integration:
    name: str  # jira, linear, github, zendesk, intercom, slack, ingest, webhooks…
    live: bool
    detail: str  # what it points at, or what to set to turn it on


@dataclass(frozen=True)
class DeadItem:
    row_id: int
    kind: str
    group_id: int | None
    attempts: int
    error: str


@dataclass(frozen=True)
class ConfigView:
    config_file: str
    team: Sequence[tuple[str, str]]  # (setting, value), already summarised
    environment: Sequence[tuple[str, str]]  # (variable, "set" / a masked value)
    integrations: Sequence[Integration]
    outbox: dict[str, int]  # status -> rows
    dead: Sequence[DeadItem] = field(default_factory=tuple)
    dead_total: int = 0
    warnings: Sequence[str] = field(default_factory=tuple)  # e.g. a route to a tracker not set up


def config_text(view: ConfigView) -> str:
    """The notification text of the message."""
    dead = view.outbox.get("dead", 0)
    return f"auditbot configuration · outbox: {view.outbox.get('pending', 0)} pending, {dead} dead"


def build_config_message(view: ConfigView) -> list[Block]:
    """The ephemeral message /audit config answers with."""
    blocks: list[Block] = [HeaderBlock(text="auditbot configuration")]
    blocks.append(_section(f"*Team config* (`{escape_mrkdwn(view.config_file)}`)\n" + _lines(view.team)))
    blocks.append(_section("*Environment* (secrets are never shown)\n" + _lines(view.environment, code=True)))
    live = [f"{'✅' if i.live else '⬜'} *{i.name}* — {escape_mrkdwn(i.detail)}" for i in view.integrations]
    blocks.append(_section("*Integrations*\n" + "\n".join(live)))
    if view.warnings:
        blocks.append(_section("\n".join(f"⚠️ {escape_mrkdwn(w)}" for w in view.warnings)))
    blocks.append(DividerBlock())
    counts = ", ".join(f"{view.outbox.get(s, 0)} {s}" for s in ("pending", "delivering", "dead", "done"))
    text = f"*Outbox*: {counts}"
    if view.dead:
        rows = [_dead(item) for item in view.dead]
        if view.dead_total > len(view.dead):
            rows.append(f"…and {view.dead_total - len(view.dead)} more")
        text += "\n" + "\n".join(rows)
    blocks.append(_section(text))
    hint = (
        "Dead effects are not retried on their own: fix the cause, then run `auditbot deliver --retry-dead`."
        if view.outbox.get("dead")
        else "Nothing is waiting for a person."
    )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=hint)]))
    return blocks


def _dead(item: DeadItem) -> str:
    about = f" for group #{item.group_id}" if item.group_id else ""
    error = truncate(safe_mrkdwn(" ".join(item.error.split())), 200)
    return f"• #{item.row_id} `{item.kind}`{about}, {item.attempts} attempt(s): {error}"


def _lines(pairs: Sequence[tuple[str, str]], *, code: bool = False) -> str:
    quote = "`" if code else ""
    return "\n".join(f"• {quote}{escape_mrkdwn(k)}{quote}: {escape_mrkdwn(v)}" for k, v in pairs) or "—"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_MAX)))
