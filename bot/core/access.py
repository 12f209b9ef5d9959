"""Who may act: reviewers (list and/or cached user group), admins, our workspace only, each event once."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

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


class Access:
    """Answers "is this user a reviewer / an admin?"; user group members are refreshed every `ttl`."""

    def __init__(
        self,
        config: AuditConfig,
        client: AsyncWebClient | None,
        clock: Clock,
        *,
        ttl: dt.timedelta = GROUP_TTL,
    ) -> None:
        self.config, self.client, self.clock, self.ttl = config, client, clock, ttl
        self._members: frozenset[str] | None = None
        self._fresh_until: dt.datetime | None = None
        self._lock = asyncio.Lock()

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.config.slack.admins

    async def is_reviewer(self, user_id: str) -> bool:
        """In `[slack] reviewers`, or a member of `[slack] reviewer_group`."""
        if user_id in self.config.slack.reviewers:
            return True
        if not self.config.slack.reviewer_group:
            return False
        return user_id in await self.group_members()

    async def group_members(self) -> frozenset[str]:
        """The reviewer group's members, from cache while fresh; one refresh at a time."""
        if self._is_fresh():
            return self._members or frozenset()
        async with self._lock:
            if not self._is_fresh():  # another caller may have refreshed while we waited
                await self._refresh()
        return self._members or frozenset()

    def reviewer_mentions(self, *, excluding: str | None = None) -> str:
        """How to call the reviewers: the group handle, else each listed reviewer but `excluding`."""
        group = self.config.slack.reviewer_group
        if group:
            return f"<!subteam^{group}>"
        return " ".join(f"<@{u}>" for u in self.config.slack.reviewers if u != excluding)

    def _is_fresh(self) -> bool:
        return self._fresh_until is not None and self.clock.now() < self._fresh_until

    async def _refresh(self) -> None:
        group = self.config.slack.reviewer_group
        now = self.clock.now()
        if self.client is None:
            self._members, self._fresh_until = frozenset(), now + self.ttl
            return
        try:
            response = await self.client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            # Keep the last known members (if any) and try again soon rather than on every click.
            log.warning("usergroups.users.list %s failed: %s", group, exc.response.get("error"))
            self._members = self._members or frozenset()
            self._fresh_until = now + RETRY_AFTER_FAILURE
            return
        self._members = frozenset(response.get("users") or [])
        self._fresh_until = now + self.ttl


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
