"""The rollup's one statement: figures with different columns travel together and come back apart."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.core.models import UTCDateTime
from bot.digest import rows as rollup_rows

WHEN = dt.datetime(2026, 11, 20, 10, 4, 11, tzinfo=dt.UTC)


async def test_each_figure_gets_its_own_columns_back_in_its_order(db) -> None:
    figures = (
        ("counts", sa.select(sa.literal(7).label("n"), sa.literal("x").label("owner"))),
        ("none", sa.select(sa.literal(1).label("n")).where(sa.false())),
        ("moments", sa.select(sa.literal(WHEN, UTCDateTime()).label("at"), sa.literal(2.5).label("share"))),
        ("again", sa.select(sa.literal("y").label("owner"), sa.literal(WHEN, UTCDateTime()).label("at"))),
    )
    async with db.session() as session:
        rows = await rollup_rows.read(session, figures, {})
    assert rows == {
        "counts": [(7, "x")],
        "none": [],
        "moments": [(WHEN, 2.5)],  # typed like the figure that names the column first: aware UTC
        "again": [("y", WHEN)],
    }
