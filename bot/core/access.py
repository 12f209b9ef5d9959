"""Who may act: the role table (one rule per action), reviewers (list and/or cached user group),
admins, group owners; our workspace only, each event once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import sqlalchemy as sa
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.core.clock import Clock
from bot.core.config import AuditConfig
from bot.core.models import SeenEvent

log = logging.getLogger("auditbot.access")

GROUP_TTL = dt.timedelta(minutes=5)
RETRY_AFTER_FAILURE = dt.timedelta(seconds=30)


class Role(StrEnum):
    EVERYONE = "everyone"  # any member of the workspace
    REVIEWER = "reviewer"  # `[slack] reviewers` or a member of `[slack] reviewer_group`
    ADMIN = "admin"  # `[slack] admins`
    OWNER = "owner"  # a defect group's owner: the user, or a member of the user group, it is routed to


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    doing: str  # what the action does, as the refusal says it: "Only … can <doing>."


_REVIEW = frozenset({Role.REVIEWER, Role.ADMIN})
_GROUP = frozenset({Role.REVIEWER, Role.ADMIN, Role.OWNER})

# Every action a person can take in Slack, and who may take it (the README's role table).
VERDICT, FULL_TEXT, FINDING_FEEDBACK = "verdict", "full_text", "finding_feedback"
TAKE, FIXED, WONT_FIX, MERGE, MOVE = "take", "fixed", "wont_fix", "merge", "move"
HOME, COMMAND_HELP, COMMAND_STATS, COMMAND_SAMPLE = "home", "command:help", "command:stats", "command:sample"
COMMAND_CONFIG, COMMAND_FIXED = "command:config", "command:fixed"
RULES: dict[str, Rule] = {
    VERDICT: Rule(_REVIEW, "record verdicts on sample items (Correct, Defect…, Not sure)"),
    FULL_TEXT: Rule(_REVIEW, "open the full conversation of a sample item"),
    FINDING_FEEDBACK: Rule(_REVIEW, "mark an automatic finding confirmed or a false alarm"),
    TAKE: Rule(_GROUP, "take a defect group"),
    FIXED: Rule(_GROUP, "mark a defect group fixed"),
    WONT_FIX: Rule(_GROUP, "close a defect group as won't fix"),
    MERGE: Rule(_GROUP, "merge a defect group into another"),
    MOVE: Rule(_GROUP, "move or split an occurrence of a defect group"),
    HOME: Rule(frozenset({Role.EVERYONE}), "see the App Home"),
    COMMAND_HELP: Rule(frozenset({Role.EVERYONE}), "use `/audit help`"),
    COMMAND_STATS: Rule(_REVIEW, "use `/audit stats`"),
    COMMAND_SAMPLE: Rule(frozenset({Role.ADMIN}), "post today's sample with `/audit sample`"),
    COMMAND_CONFIG: Rule(frozenset({Role.ADMIN}), "see the team config and the outbox with `/audit config`"),
    COMMAND_FIXED: Rule(_GROUP, "mark a defect group fixed with `/audit fixed`"),
}


@dataclass
class _Members:
    """One user group's members as last read, and until when they count as fresh."""

    members: frozenset[str] | None = None
    fresh_until: dt.datetime | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Access:
    """Answers "may this user do that?": user group members are refreshed every `ttl`."""

    def __init__(
        self,
        config: AuditConfig,
        client: AsyncWebClient | None,
        clock: Clock,
        *,
        ttl: dt.timedelta = GROUP_TTL,
    ) -> None:
        self.config, self.client, self.clock, self.ttl = config, client, clock, ttl
        self._groups: dict[str, _Members] = {}

    async def allows(self, action: str, user_id: str, owners: Iterable[str | None] = ()) -> bool:
        """Whether RULES[action] lets `user_id` act; `owners` are the target group's owners."""
        roles = RULES[action].roles
        if Role.EVERYONE in roles or (Role.ADMIN in roles and self.is_admin(user_id)):
            return True
        if Role.OWNER in roles and await self.is_owner(user_id, owners):
            return True
        return Role.REVIEWER in roles and await self.is_reviewer(user_id)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.config.slack.admins

    async def is_reviewer(self, user_id: str) -> bool:
        """In `[slack] reviewers`, or a member of `[slack] reviewer_group`."""
        if user_id in self.config.slack.reviewers:
            return True
        if not self.config.slack.reviewer_group:
            return False
        return user_id in await self.group_members()

    async def is_owner(self, user_id: str, owners: Iterable[str | None]) -> bool:
        """One of `owners` (user ids U…/W…), or a member of one of them (user group ids S…)."""
        for owner in owners:
            if owner == user_id:
                return True
            if owner and owner.startswith("S") and user_id in await self.members(owner):
                return True
        return False

    async def group_members(self) -> frozenset[str]:
        """The reviewer group's members, from cache while fresh; one refresh at a time."""
        group = self.config.slack.reviewer_group
        return await self.members(group) if group else frozenset()

    async def members(self, group: str) -> frozenset[str]:
        """A user group's members, from cache while fresh; one refresh at a time per group."""
        cached = self._groups.setdefault(group, _Members())
        if self._is_fresh(cached):
            return cached.members or frozenset()
        async with cached.lock:
            if not self._is_fresh(cached):  # another caller may have refreshed while we waited
                await self._refresh(group, cached)
        return cached.members or frozenset()

    def reviewer_mentions(self, *, excluding: str | None = None) -> str:
        """How to call the reviewers: the group handle, else each listed reviewer but `excluding`."""
        group = self.config.slack.reviewer_group
        if group:
            return f"<!subteam^{group}>"
        return " ".join(f"<@{u}>" for u in self.config.slack.reviewers if u != excluding)

    def _is_fresh(self, cached: _Members) -> bool:
        return cached.fresh_until is not None and self.clock.now() < cached.fresh_until

    async def _refresh(self, group: str, cached: _Members) -> None:
        now = self.clock.now()
        if self.client is None:
            cached.members, cached.fresh_until = frozenset(), now + self.ttl
            return
        try:
            response = await self.client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            # Keep the last known members (if any) and try again soon rather than on every click.
            log.warning("usergroups.users.list %s failed: %s", group, exc.response.get("error"))
            cached.members = cached.members or frozenset()
            cached.fresh_until = now + RETRY_AFTER_FAILURE
            return
        cached.members = frozenset(response.get("users") or [])
        cached.fresh_until = now + self.ttl


def same_workspace(request_team: str | None, home_team: str | None) -> bool:
    """A request belongs to us when its team is the one our token was issued for (unknown passes)."""
    if not request_team or not home_team:
        return True
    return request_team == home_team


def access_of(services: object) -> Access:
    """The process-wide Access for these services (created on first use)."""
    extras: dict[str, object] = services.extras  # type: ignore[attr-defined]
    access = extras.get("access")
    if not isinstance(access, Access):
        access = Access(services.config, services.client, services.clock)  # type: ignore[attr-defined]
        extras["access"] = access
    return access


SEEN_EVENTS_KEPT = dt.timedelta(days=2)  # Slack retries for at most about an hour
PRUNE_EVERY = dt.timedelta(minutes=10)  # old rows are deleted by one claim in this while
_pruned: list[dt.datetime] = []  # when this process last pruned


async def claim_event(*, session: AsyncSession | AsyncConnection, event_id: str, now: dt.datetime) -> bool:
    """True the first time `event_id` is seen (its row is inserted), False for a retry or repeat.

    Every click is claimed too, so this stays one statement; rows older than two days are
    deleted every PRUNE_EVERY or so."""
    bind = session.get_bind() if isinstance(session, AsyncSession) else session
    insert = sqlite.insert if bind.dialect.name == "sqlite" else postgresql.insert
    stmt = insert(SeenEvent).values(event_id=event_id, seen_at=now)
    stmt = stmt.on_conflict_do_nothing(index_elements=["event_id"]).returning(SeenEvent.event_id)
    first = (await session.execute(stmt)).scalar_one_or_none() is not None
    if first and (not _pruned or abs(now - _pruned[0]) >= PRUNE_EVERY):
        _pruned[:] = [now]
        await session.execute(sa.delete(SeenEvent).where(SeenEvent.seen_at < now - SEEN_EVENTS_KEPT))
    return first
