"""Leader lease: one holder at a time, renewals, expiry and takeover, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.core.db import Database
from bot.delivery.lease import acquire_or_renew, holder_of, new_holder, release

T0 = dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC)
TTL = dt.timedelta(seconds=60)


async def test_first_caller_gets_the_lease_and_others_do_not(db: Database) -> None:
    assert await acquire_or_renew(db, "jobs", "a", TTL, T0)
    assert not await acquire_or_renew(db, "jobs", "b", TTL, T0 + dt.timedelta(seconds=30))
    assert await holder_of(db, "jobs", T0) == "a"


async def test_holder_renews_and_keeps_it_past_the_first_expiry(db: Database) -> None:
    assert await acquire_or_renew(db, "jobs", "a", TTL, T0)
    assert await acquire_or_renew(db, "jobs", "a", TTL, T0 + dt.timedelta(seconds=50))
    # the renewal moved the expiry: b is still refused after the original 60 s
    assert not await acquire_or_renew(db, "jobs", "b", TTL, T0 + dt.timedelta(seconds=70))


async def test_dead_holders_lease_expires_and_another_takes_over(db: Database) -> None:
    assert await acquire_or_renew(db, "jobs", "a", TTL, T0)
    later = T0 + TTL + dt.timedelta(seconds=1)
    assert await holder_of(db, "jobs", later) is None
    assert await acquire_or_renew(db, "jobs", "b", TTL, later)
    assert not await acquire_or_renew(db, "jobs", "a", TTL, later)
    assert await holder_of(db, "jobs", later) == "b"


async def test_leases_with_different_names_are_independent(db: Database) -> None:
    assert await acquire_or_renew(db, "jobs", "a", TTL, T0)
    assert await acquire_or_renew(db, "sample:C0AUDIT", "b", TTL, T0)


async def test_release_frees_the_lease_only_for_its_holder(db: Database) -> None:
    assert await acquire_or_renew(db, "jobs", "a", TTL, T0)
    await release(db, "jobs", "b")
    assert not await acquire_or_renew(db, "jobs", "b", TTL, T0)
    await release(db, "jobs", "a")
    assert await acquire_or_renew(db, "jobs", "b", TTL, T0)


async def test_racing_processes_on_separate_engines_elect_exactly_one(
    database_url: str, db: Database
) -> None:
    others = [Database(database_url) for _ in range(4)]
    try:
        holders = [new_holder() for _ in others]
        results = await asyncio.gather(
            *(acquire_or_renew(o, "jobs", h, TTL, T0) for o, h in zip(others, holders, strict=True))
        )
        assert sorted(results) == [False, False, False, True]
        winner = holders[results.index(True)]
        assert await holder_of(db, "jobs", T0) == winner
    finally:
        for other in others:
            await other.dispose()


def test_holder_ids_are_unique_within_a_process() -> None:
    assert new_holder() != new_holder()
