"""The migrations create exactly the tables, columns and indexes that bot.core.models declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import bot.core.models  # noqa: F401  (registers every table on SQLModel.metadata)
from bot.core.db import Database


async def test_migration_matches_the_models(db: Database) -> None:
    def differences(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    async with db.engine.connect() as conn:
        found = await conn.run_sync(differences)
    assert found == []


async def test_upgrading_a_database_with_samples_keeps_them(database_url: str) -> None:
    """0002_frames adds NOT NULL and nullable columns to tables that already hold rows."""
    import datetime as dt

    import sqlalchemy as sa
    from alembic import command

    from bot.core.db import alembic_config

    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0001"))
            now = dt.datetime(2026, 11, 24, 8, 30)
            await conn.execute(
                sa.text(
                    "INSERT INTO sample_batches (channel, day, window_start, window_end, seed, population,"
                    " flagged_population, unflagged_population, flagged_drawn, unflagged_drawn,"
                    " flagged_reviewed, flagged_defective, unflagged_reviewed, unflagged_defective, status,"
                    " created_at) VALUES ('C0AUDIT', '2026-11-24', :now, :now, 1, 12, 2, 10, 1, 3,"
                    " 0, 0, 0, 0, 'posted', :now)"
                ),
                {"now": now},
            )
        await db.upgrade()
        async with db.engine.connect() as conn:
            row = (
                await conn.execute(sa.text("SELECT late_population, high_reply_id FROM sample_batches"))
            ).one()
        assert tuple(row) == (0, None)  # adopted at the next draw (bot.sample.frames.adopt_legacy)
    finally:
        await db.dispose()


async def test_upgrading_puts_waiting_thread_posts_and_tracker_changes_in_their_sequence(
    database_url: str,
) -> None:
    """0007_sequences: rows still to be delivered join their group's sequence; others are left."""
    import datetime as dt

    import sqlalchemy as sa
    from alembic import command

    from bot.core.db import alembic_config
    from bot.core.models import OutboxItem, UTCDateTime
    from bot.defects.queue import thread_sequence, tracker_sequence

    outbox_0006 = sa.table(  # the table as 0006_verify left it: no `sequence` yet
        "outbox",
        *(sa.column(name, sa.String) for name in ("kind", "idempotency_key", "status")),
        sa.column("payload", sa.JSON),
        sa.column("attempts", sa.Integer),
        *(sa.column(name, UTCDateTime()) for name in ("next_attempt_at", "created_at")),
    )
    rows = [  # (key, kind, status, payload)
        ("post", "slack.thread_post", "pending", {"group_id": 3, "text": "hi", "defect_id": None}),
        ("state", "tracker.set_state", "delivering", {"group_id": 3, "state": "done"}),
        ("comment", "tracker.comment", "pending", {"group_id": 4, "defect_id": 9, "text": None}),
        ("sent", "slack.thread_post", "done", {"group_id": 3, "text": "old", "defect_id": None}),
        ("card", "slack.group_card", "pending", {"group_id": 3}),
    ]
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0006_verify"))
            now = dt.datetime(2026, 12, 7, 18, 0, tzinfo=dt.UTC)
            for key, kind, status, payload in rows:
                await conn.execute(
                    sa.insert(outbox_0006).values(
                        kind=kind, idempotency_key=key, payload=payload, status=status, attempts=0,
                        next_attempt_at=now, created_at=now,
                    )
                )  # fmt: skip
        await db.upgrade()
        async with db.session() as session:
            found = await session.execute(sa.select(OutboxItem.idempotency_key, OutboxItem.sequence))
            sequences = {key: sequence for key, sequence in found.all()}
    finally:
        await db.dispose()
    assert sequences == {
        "post": thread_sequence(3),
        "state": tracker_sequence(3),
        "comment": tracker_sequence(4),
        "sent": None,
        "card": None,
    }
