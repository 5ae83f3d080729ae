"""``core.database.read_only``: the sessions of the answers given before the routing
(``server.fast_lane``, ``booking.rush``, ``accounts.principals``), which only read."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from core.database import read_only, unit_of_work
from tests.conftest import Database

VERSION = text("SELECT sum(version) FROM catalogue_version")


async def test_a_read_only_session_reads_as_cheaply_as_its_database_allows(db: Database) -> None:
    """PostgreSQL: no transaction (no BEGIN and ROLLBACK round trips), so each statement is its own and
    reads the latest commits. SQLite: one deferred read transaction, so its reads share one snapshot
    (and never take the write lock)."""
    other = db.new_engine()
    try:
        async with read_only(db.engine) as session:
            before = await session.scalar(VERSION)
            first = await session.scalar(text("SELECT CURRENT_TIMESTAMP"))
            async with unit_of_work(other) as writer:  # another process's write
                await writer.execute(text("UPDATE catalogue_version SET version = version + 1"))
            await asyncio.sleep(0.05)
            after = await session.scalar(VERSION)
            second = await session.scalar(text("SELECT CURRENT_TIMESTAMP"))
    finally:
        await other.dispose()
    assert before is not None
    if db.backend == "postgres":
        assert after > before
        assert second > first  # in a transaction, PostgreSQL's clock stands at its start
    else:
        assert after == before  # the snapshot of its first read
