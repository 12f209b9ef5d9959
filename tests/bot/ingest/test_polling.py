"""Polling sources: cursor saved with the page, restart resumes, nothing read twice."""

from __future__ import annotations

import sqlalchemy as sa

from bot.core.clock import FrozenClock
from bot.core.config import AuditConfig
from bot.core.db import Database
from bot.core.models import IngestCursor, Reply
from bot.core.services import Services
from bot.core.settings import Settings
from bot.ingest.polling import load_cursor, poll_sources
from integrations.base import SourcePage, TransientError
from tests.bot.replies import record


class FakeSource:
    """A ReplySource serving fixed pages keyed by cursor, recording which cursors it was asked for."""

    def __init__(self, name: str, pages: dict[str | None, SourcePage], fail_on: str | None = None) -> None:
        self.name = name
        self.pages = pages
        self.fail_on = fail_on
        self.asked: list[str | None] = []

    async def fetch(self, cursor: str | None) -> SourcePage:
        self.asked.append(cursor)
        if cursor is not None and cursor == self.fail_on:
            raise TransientError("503 from the helpdesk", status=503, vendor=self.name)
        return self.pages[cursor]


def helpdesk_pages() -> dict[str | None, SourcePage]:
    r = [record(f"Z-{i}", ticket=f"T-{i}", source="zendesk", reply=f"Hi Dana, answer {i}.") for i in range(5)]
    return {
        None: SourcePage(r[0:2], "c1", done=False),
        "c1": SourcePage(r[2:4], "c2", done=True),
        "c2": SourcePage([r[4]], "c3", done=True),
        "c3": SourcePage([], "c3", done=True),
    }


def services_for(database_url: str, clock: FrozenClock) -> Services:
    """A fresh Services, as a restarted process would build."""
    settings = Settings(_env_file=None, database_url=database_url)
    return Services(settings, AuditConfig(), Database(database_url), clock)


async def stored_ids(db: Database) -> list[str]:
    async with db.session() as session:
        return sorted((await session.execute(sa.select(Reply.external_id))).scalars())


async def test_cursor_is_stored_and_a_restart_resumes(
    db: Database, database_url: str, clock: FrozenClock
) -> None:
    first = services_for(database_url, clock)
    source = FakeSource("zendesk", helpdesk_pages())
    [result] = await poll_sources(first, [source])
    assert source.asked == [None, "c1"]
    assert (result.pages, result.imported, result.error) == (2, 4, None)
    assert await load_cursor(first, "zendesk") == "c2"
    await first.db.dispose()

    restarted = services_for(database_url, clock)
    again = FakeSource("zendesk", helpdesk_pages())
    [result] = await poll_sources(restarted, [again])
    assert again.asked == ["c2"]  # resumes where the last poll stopped
    assert (result.imported, result.already_present) == (1, 0)  # nothing read twice
    assert await stored_ids(restarted.db) == ["Z-0", "Z-1", "Z-2", "Z-3", "Z-4"]
    async with restarted.db.session() as session:
        cursor = await session.get(IngestCursor, "zendesk")
    assert cursor is not None and cursor.updated_at == clock.now()
    await restarted.db.dispose()


async def test_failed_page_keeps_the_last_good_cursor(
    db: Database, database_url: str, clock: FrozenClock
) -> None:
    services = services_for(database_url, clock)
    failing = FakeSource("zendesk", helpdesk_pages(), fail_on="c1")
    other = FakeSource("intercom", {None: SourcePage([record("I-1", source="intercom")], "i1")})
    results = await poll_sources(services, [failing, other])
    assert [r.error is not None for r in results] == [True, False]  # one failure does not stop the other
    assert await load_cursor(services, "zendesk") == "c1"
    assert await stored_ids(services.db) == ["I-1", "Z-0", "Z-1"]

    healed = FakeSource("zendesk", helpdesk_pages())
    await poll_sources(services, [healed])
    assert healed.asked == ["c1"]
    assert await stored_ids(services.db) == ["I-1", "Z-0", "Z-1", "Z-2", "Z-3"]
    await services.db.dispose()


async def test_polling_is_bounded(db: Database, database_url: str, clock: FrozenClock) -> None:
    services = services_for(database_url, clock)
    endless = {None: SourcePage([], "a", done=False), "a": SourcePage([], "a", done=False)}
    source = FakeSource("zendesk", endless)
    [result] = await poll_sources(services, [source], max_pages=3)
    assert result.pages == 3 and len(source.asked) == 3
    await services.db.dispose()


async def test_no_source_configured_polls_nothing(
    db: Database, database_url: str, clock: FrozenClock
) -> None:
    services = services_for(database_url, clock)
    assert await poll_sources(services) == []
    await services.db.dispose()
