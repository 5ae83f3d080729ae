"""SQLite has one write lock per file, and a process's writing requests queue for it
(``server.app.write_intent_middleware``). A door's scan that writes nothing is answered by a reader
(``server.fast_lane``), which never waits for that lock: the door keeps answering while a long write holds
it. (PostgreSQL's readers never wait for writers in the first place: this is SQLite's alone.)"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client
from tests.checkin.door import Door, code_of
from tests.checkin.test_scan_memory import scan
from tests.conftest import Database, MakeUser, sqlite_database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only, and a writer gives up on a taken lock after 300 ms (503, safe to retry)."""
    async for database in sqlite_database(tmp_path, db_lock_timeout_ms=300):
        yield database


@contextmanager
def write_lock(db: Database) -> Iterator[None]:
    """The file's write lock, held by another connection (a long write of another process)."""
    holder = sqlite3.connect(str(make_url(db.settings.database_url).database), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_door_answers_scans_that_write_nothing_while_a_writer_holds_the_file(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    first, second = await make_user(), await make_user()
    checked = await door.booking(first, timedelta(minutes=10))
    waiting = await door.booking(second, timedelta(minutes=20))
    checked_code = await code_of(client, first, checked.id)
    waiting_code = await code_of(client, second, waiting.id)
    assert (await scan(client, door, checked_code)).json()["result"] == "checked_in"
    with write_lock(db):
        # A check-in must write: it waits for the lock, then gives up (the lock is really held).
        assert_problem(await scan(client, door, waiting_code), 503, "unavailable")
        again = await scan(client, door, checked_code)
        assert (again.status_code, again.json()["result"]) == (200, "already_checked_in")
        nonsense = await scan(client, door, "SR1.not-a-code")
        assert (nonsense.status_code, nonsense.json()["result"]) == (200, "invalid")
    assert (await scan(client, door, waiting_code)).json()["result"] == "checked_in"
