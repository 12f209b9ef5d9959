"""The scheduled poll of helpdesk sources: each page's replies and its cursor saved together."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import IngestCursor
from bot.core.services import Services
from bot.ingest.store import Checks, IngestResult, store_records
from integrations.base import IntegrationError, ReplySource

log = logging.getLogger("auditbot.polling")
MAX_PAGES = 50  # per source and poll: a large backlog is worked off over several polls


@dataclass
class PollResult:
    source: str
    pages: int = 0
    imported: int = 0
    already_present: int = 0
    error: str | None = None


def build_sources(services: Services) -> list[ReplySource]:
    """Every helpdesk configured in the environment (Zendesk, Intercom)."""
    from integrations.intercom import IntercomClient
    from integrations.zendesk import ZendeskClient

    sources: list[ReplySource] = []
    for client in (ZendeskClient, IntercomClient):
        source = client.from_settings(services.settings, services.config, clock=services.clock)
        if source is not None:
            sources.append(source)
    return sources


async def poll_sources(
    services: Services, sources: Sequence[ReplySource] | None = None, *, max_pages: int = MAX_PAGES
) -> list[PollResult]:
    """Poll each source from its stored cursor; one failing source does not stop the others."""
    owned = sources is None
    if sources is None:
        sources = build_sources(services)
    checks = Checks.from_config(services.config.detectors)
    results = []
    try:
        for source in sources:
            results.append(await poll_source(services, source, checks=checks, max_pages=max_pages))
    finally:
        if owned:
            for source in sources:
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await aclose()
    return results


async def poll_source(
    services: Services, source: ReplySource, *, checks: Checks, max_pages: int = MAX_PAGES
) -> PollResult:
    """Fetch pages until the source says it is done (or max_pages), committing page by page."""
    result = PollResult(source.name)
    cursor = await load_cursor(services, source.name)
    while result.pages < max_pages:
        try:
            page = await source.fetch(cursor)
        except IntegrationError as exc:
            # The cursor stays where the last good page left it: the next poll retries from there.
            log.warning("polling %s failed: %s", source.name, exc)
            result.error = str(exc)
            break
        now = services.clock.now()
        async with services.db.transaction() as session:
            stored = IngestResult()
            if page.records:
                stored = await store_records(session, page.records, checks=checks, now=now)
            if page.cursor is not None:
                cursor = page.cursor
            await _save_cursor(session, source.name, cursor, now)
        result.pages += 1
        result.imported += stored.imported
        result.already_present += stored.already_present
        if page.done:
            break
    log.info(
        "polled %s: %d pages, %d new replies, %d already present",
        source.name,
        result.pages,
        result.imported,
        result.already_present,
    )
    return result


async def load_cursor(services: Services, source: str) -> str | None:
    """The stored cursor of a source, None before its first poll."""
    async with services.db.session() as session:
        row = await session.get(IngestCursor, source)
        return row.cursor if row is not None else None


async def _save_cursor(session: AsyncSession, source: str, cursor: str | None, now: dt.datetime) -> None:
    table = IngestCursor.__table__
    updated = await session.execute(
        sa.update(table).where(table.c.source == source).values(cursor=cursor, updated_at=now)
    )
    if updated.rowcount == 0:
        await session.execute(sa.insert(table).values(source=source, cursor=cursor, updated_at=now))
