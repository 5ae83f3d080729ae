"""A process's database connections: at most ``SEOULRUN_DB_POOL_SIZE``, opened once and kept. A burst of
more requests than connections waits for them instead of opening (and at once closing) more: in a
rush, that open-and-close was a fifth of the workers' time."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy import event, text

from core.database import create_engine, read_only
from tests.conftest import Database

POOL = 3


async def test_bursts_reuse_the_pools_connections_and_open_no_more(db: Database) -> None:
    engine = create_engine(dataclasses.replace(db.settings, db_pool_size=POOL), schema=db.schema)
    opened: list[object] = []
    closed: list[object] = []
    event.listen(engine.sync_engine.pool, "connect", lambda dbapi, _: opened.append(dbapi))
    event.listen(engine.sync_engine.pool, "close", lambda dbapi, _: closed.append(dbapi))
    inside = 0
    most = 0

    async def request(n: int) -> int:
        nonlocal inside, most
        # Sessions that only read: on SQLite, writers would wait for each other's write lock instead.
        async with read_only(engine) as session:
            value = await session.scalar(text("SELECT :n").bindparams(n=n))  # a connection from here on
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)  # held a while, so that the burst really overlaps
            inside -= 1
        return int(value or 0)

    try:
        for burst in range(3):
            answers = await asyncio.gather(*(request(n) for n in range(12)))
            assert answers == list(range(12)), f"burst {burst}"
            assert most == POOL, f"burst {burst}: {most} sessions held a connection at once"
            assert len(opened) == POOL, f"burst {burst}: {len(opened)} connections opened"
            assert closed == [], f"burst {burst}: {len(closed)} connections closed between requests"
    finally:
        await engine.dispose()
