"""The database goes away (PostgreSQL behind a proxy that cuts it off) and comes back.

A click that arrives during the outage is refused politely (an ephemeral message, nothing
stored); clicks acknowledged before it, whose verdicts are written after the ack, wait for the
database and are stored once it is back; /healthz says 503, then 200; nobody restarts anything.
SQLite is a file in the process, not a server that can be unreachable: PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from slack_bolt.async_app import AsyncApp

from bot.app import build_app, services_of
from bot.core.config import AuditConfig
from bot.core.db import Database, is_unavailable
from bot.core.models import Review, SeenEvent
from bot.core.settings import Settings
from bot.views import ids
from bot.web.app import build_web
from handlers.once import UNAVAILABLE
from handlers.publish import AFTER_ACK_WORKERS, after_ack_gate
from tests.conftest import backend
from tests.fakes.signing import SlackSigner
from tests.fakes.slack_api import FakeSlack
from tests.fakes.tcp_proxy import TcpProxy
from tests.handlers.rig import Rig, drain, posted_items, until

pytestmark = pytest.mark.skipif(
    backend() != "postgresql", reason="a database server that goes away: PostgreSQL"
)


@pytest.fixture
async def proxied_app(
    proxy: tuple[TcpProxy, str],
    settings: Settings,
    config: AuditConfig,
    clock,  # type: ignore[no-untyped-def]
    fake_slack: FakeSlack,
) -> AsyncIterator[tuple[TcpProxy, Database, AsyncApp]]:
    """The real app on the database behind the proxy, waiting out an outage for up to 60 s."""
    cutter, proxied_url = proxy
    settings = settings.model_copy(update={"slack_api_url": fake_slack.url, "database_url": proxied_url})
    app_db = Database(proxied_url, patience=60)
    yield cutter, app_db, build_app(settings, config, app_db, clock=clock)
    await app_db.dispose()


async def test_an_outage_refuses_new_clicks_politely_and_loses_no_acknowledged_one(
    proxied_app: tuple[TcpProxy, Database, AsyncApp],
    db: Database,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cutter, _, app = proxied_app
    services = services_of(app)
    caplog.set_level(logging.WARNING, logger="auditbot.db")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://app"
    ) as http:
        rig = Rig(http, SlackSigner(http), fake_slack, db)
        refused, waiting, later = await posted_items(rig, 3)
        assert (await http.get("/healthz")).status_code == 200

        cutter.cut()  # the database is gone
        assert (await rig.click(ids.VERDICT_CORRECT, refused)).status_code == 200
        await until(lambda: fake_slack.ephemerals(), "the polite refusal")
        [told] = fake_slack.ephemerals()
        assert told["user"] == "U0REV1" and told["text"] == UNAVAILABLE
        assert (await http.get("/healthz")).status_code == 503

        cutter.restore()  # back for a moment: this click is claimed and acknowledged…
        gate = after_ack_gate(services)
        for _ in range(AFTER_ACK_WORKERS):
            await gate.acquire()  # …while its verdict waits for a worker
        assert (await rig.click(ids.VERDICT_CORRECT, waiting)).status_code == 200
        await claimed(rig, 1)  # (a click is claimed right after its ack)
        cutter.cut()  # and the database goes away before the verdict is written
        for _ in range(AFTER_ACK_WORKERS):
            gate.release()
        await until(lambda: "waiting for it" in caplog.text, "the verdict to wait for the database")
        cutter.restore()
        await drain()

        assert await reviewed(db) == {waiting}  # acknowledged: stored; refused: not
        assert (await http.get("/healthz")).status_code == 200
        await rig.click(ids.VERDICT_CORRECT, later)  # and it goes on by itself
        await rig.click(ids.VERDICT_CORRECT, refused)  # the reviewer's retry of the refused click
        await drain()
        assert await reviewed(db) == {waiting, later, refused}


async def reviewed(db: Database) -> set[int]:
    async with db.session() as session:
        return set((await session.execute(sa.select(Review.item_id))).scalars())


async def claimed(rig: Rig, count: int) -> None:
    """Until `count` clicks are claimed (the claim follows the ack by a moment)."""
    for _ in range(1000):
        if await rig.count(SeenEvent, SeenEvent.event_id.like("action:%")) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the click was never claimed")


async def test_a_connection_lost_midway_is_waited_out_and_the_work_run_again(
    proxy: tuple[TcpProxy, str], caplog: pytest.LogCaptureFixture
) -> None:
    cutter, proxied_url = proxy
    patient = Database(proxied_url, patience=60)
    attempts: list[int] = []

    async def work(session) -> int:  # type: ignore[no-untyped-def]
        attempts.append(1)
        first = (await session.execute(sa.text("SELECT 1"))).scalar_one()
        if len(attempts) == 1:
            cutter.cut()  # the connection in use is reset…
            cutter.restore()  # …and the database is back for a new one
        return first + (await session.execute(sa.text("SELECT 1"))).scalar_one()

    caplog.set_level(logging.WARNING, logger="auditbot.db")
    assert await patient.patiently(work) == 2
    assert len(attempts) == 2
    assert "connection lost midway" in caplog.text
    await patient.dispose()

    impatient = Database(proxied_url)  # patience 0: the loss is the caller's to see
    attempts.clear()
    with pytest.raises(sa.exc.DBAPIError):
        await impatient.patiently(work)
    assert len(attempts) == 1
    await impatient.dispose()


async def test_a_finished_read_whose_connection_is_lost_before_closing_is_not_an_error(
    proxy: tuple[TcpProxy, str],
) -> None:
    cutter, proxied_url = proxy
    app_db = Database(proxied_url)
    async with app_db.session() as session:
        read = (await session.execute(sa.text("SELECT 7"))).scalar_one()  # its transaction stays open
        cutter.cut()  # closing it rolls back on a connection that is gone
        cutter.restore()
    assert read == 7
    async with app_db.session() as session:  # and the next session gets a live connection
        assert (await session.execute(sa.text("SELECT 1"))).scalar_one() == 1

    own = KeyError("its own context")
    with pytest.raises(ZeroDivisionError) as caught:  # the block's own failure is never hidden…
        async with app_db.session() as session:
            await session.execute(sa.text("SELECT 1"))
            cutter.cut()
            cutter.restore()
            try:
                raise own
            except KeyError:
                raise ZeroDivisionError from None
    assert caught.value.__context__ is own  # …nor made to look like the lost connection
    assert not is_unavailable(caught.value)
    await app_db.dispose()


async def test_a_failure_of_the_work_itself_is_not_run_again(proxy: tuple[TcpProxy, str]) -> None:
    cutter, proxied_url = proxy
    patient = Database(proxied_url, patience=60)
    attempts: list[int] = []

    async def work(session) -> None:  # type: ignore[no-untyped-def]
        attempts.append(1)
        await session.execute(sa.text("SELECT 1"))
        cutter.cut()  # closing the session fails too, after the work's own failure
        cutter.restore()
        raise LookupError("no such item")

    with pytest.raises(LookupError):
        await patient.patiently(work)
    assert len(attempts) == 1
    await patient.dispose()


async def test_a_verdict_whose_connection_is_reset_as_it_is_written_is_stored_once(
    proxied_app: tuple[TcpProxy, Database, AsyncApp], db: Database, fake_slack: FakeSlack
) -> None:
    """The click is acknowledged; the database connection is reset exactly as its verdict's
    INSERT is sent (a failover). The verdict is written again on a new connection: stored once,
    and the item message edited."""
    cutter, app_db, app = proxied_app
    resets: list[str] = []

    @sa.event.listens_for(app_db.engine.sync_engine, "before_cursor_execute")
    def reset_once(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO reviews") and not resets:
            resets.append(statement)
            cutter.cut()  # this connection is gone…
            cutter.restore()  # …and the database takes new ones

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://app"
    ) as http:
        rig = Rig(http, SlackSigner(http), fake_slack, db)
        [item] = await posted_items(rig, 1)
        assert (await rig.click(ids.VERDICT_CORRECT, item)).status_code == 200
        await until(lambda: rig.calls("chat.update"), "the item message edited")
        await drain()
    assert len(resets) == 1
    assert await reviewed(db) == {item}
    assert await rig.count(Review) == 1
    [edit] = rig.calls("chat.update")
    assert "U0REV1" in str(edit)


async def test_work_whose_server_process_is_terminated_midway_runs_again_and_writes_once(
    db: Database,
) -> None:
    """A real server-side fault, no proxy: the first run's PostgreSQL backend is terminated (as an
    administrator or a failover does) after the work has written; the work runs again on a new
    connection, and its row is stored once (the first run's write was never committed)."""
    patient = Database(db.url, patience=60)
    admin = Database(db.url)
    attempts: list[int] = []

    async def work(session) -> int:  # type: ignore[no-untyped-def]
        attempts.append(1)
        await session.execute(
            sa.insert(SeenEvent).values(event_id="Ev-terminated", seen_at=dt.datetime.now(dt.UTC))
        )
        if len(attempts) == 1:
            pid = (await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
            async with admin.session() as other:  # waits until that backend has exited
                ended = await other.execute(sa.text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
                assert ended.scalar_one() is True
        await session.commit()
        return len(attempts)

    assert await patient.patiently(work) == 2
    async with db.session() as session:
        stored = await session.execute(sa.select(sa.func.count()).select_from(SeenEvent))
        assert stored.scalar_one() == 1
    await patient.dispose()
    await admin.dispose()
