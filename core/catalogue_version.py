"""The catalogue version: one number that every write to what the public reads show bumps, in the
write's own transaction, so that every process and every server sees at once that a cached answer
(a venue's page, the programmes, availability) is out of date.

Which writes bump: any ``INSERT``, ``UPDATE`` or ``DELETE`` a session makes, through the unit of work
(flushed objects, ``session.execute`` of a DML statement), on any table but those the public reads
never show (tokens, idempotency records, notices, the outbox, scans, check-in keys), or in a unit of
work marked ``quiet`` (a feed's last fetch time). The bump
is the last statement before ``COMMIT`` (``before_commit``): a rolled-back write bumps nothing, and the
version row is locked only between that statement and the commit. New tables bump by default.

Reading it must cost next to nothing, since every cached answer asks: SQLite reads it on a plain
``sqlite3`` connection of its own in the event loop's thread (a WAL read, microseconds, no thread hop);
PostgreSQL, with a pool configured, on one connection of the pool kept for it and queried through
``asyncpg`` itself (one round trip, no transaction, one query at a time per process shared by the
requests that wait for it); otherwise through the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from itertools import chain
from typing import Any, Final

from sqlalchemy import DDL, BigInteger, Column, Integer, Table, bindparam, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from core.database import metadata
from core.settings import Settings

log = logging.getLogger(__name__)

catalogue_version = Table(
    "catalogue_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)
# The version is the sum of SHARDS rows, each writer bumping one of them at random: with one row, every
# write in the city would wait on that row's lock for the previous writer's commit; with 64, two
# concurrent writers meet on a row once in 64 times. Each row only grows, so the sum grows with every
# committed bump (a row missing would lose its bumps: the migration and create_all insert all of them).
SHARDS: Final = 64
_ROWS: Final = ", ".join(f"({n}, 0)" for n in range(1, SHARDS + 1))
event.listen(
    catalogue_version,
    "after_create",
    DDL(f"INSERT INTO catalogue_version (id, version) VALUES {_ROWS}"),  # type: ignore[no-untyped-call]  # noqa: S608
)

# Writes to these never change a public read that is cached (server.read_cache).
QUIET_TABLES: Final = frozenset(
    {
        "catalogue_version",
        "access_token",
        "idempotency_record",
        "booking_event",
        "notice",
        "notification_preference",
        "outbox_message",
        "checkin_key",
        "checkin_scan",
        # The scheduler's lease is renewed every few seconds by every process, and each job occurrence
        # writes its run: neither changes a public read (and would otherwise empty every cache).
        "scheduler_lease",
        "job_run",
        # An audit entry goes with the change it records, which bumps the version itself.
        "audit_entry",
    }
)
_DIRTY: Final = "seoulrun.catalogue_dirty"
_QUIET: Final = "seoulrun.catalogue_quiet"
_BUMP: Final = (
    update(catalogue_version)
    .where(catalogue_version.c.id == bindparam("shard"))
    .values(version=catalogue_version.c.version + 1)
)
# NULL (no rows: not migrated) reads as "unknown": nothing is cached.
_READ: Final = "SELECT sum(version) FROM catalogue_version"


def _table_of(obj: Any) -> str | None:
    table = getattr(type(obj), "__table__", None)
    return getattr(table, "name", None)


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _: Any) -> None:
    if session.info.get(_DIRTY):
        return
    for obj in chain(session.new, session.dirty, session.deleted):
        if _table_of(obj) not in QUIET_TABLES:
            session.info[_DIRTY] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete) or state.session.info.get(_DIRTY):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) not in QUIET_TABLES:
        state.session.info[_DIRTY] = True


def quiet(session: AsyncSession | Session) -> None:
    """This unit of work writes nothing a public read shows (a feed's last fetch time): no bump."""
    session.info[_QUIET] = True


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    # Commit flushes after this hook: flush first, so that pending changes are seen here.
    if session.dirty or session.new or session.deleted:
        session.flush()
    if session.info.pop(_DIRTY, False) and not session.info.get(_QUIET):
        session.execute(_BUMP, {"shard": random.randint(1, SHARDS)})  # noqa: S311 - spreading, not secrecy


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_DIRTY, None)


class VersionReader:
    """The current catalogue version, as cheaply as the database allows; ``None`` when it cannot be
    read (then nothing is served from a cache)."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        url = make_url(settings.database_url)
        self._sqlite_path: str | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._pg = False
        self._pg_conn: AsyncConnection | None = None
        self._pg_loop: asyncio.AbstractEventLoop | None = None
        self._pg_busy = False
        self._pg_next: asyncio.Future[int | None] | None = None
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                self._sqlite_path = url.database
        elif url.get_backend_name() == "postgresql" and settings.db_pool_size > 0:
            self._pg = True

    async def current(self) -> int | None:
        try:
            if self._sqlite_path is not None:
                return self._read_sqlite()
            if self._pg:
                return await self._read_postgres()
            async with self.engine.connect() as conn:
                value = await conn.scalar(select(func.sum(catalogue_version.c.version)))
            return None if value is None else int(value)
        except Exception as exc:  # no cache rather than an error: the handler answers (or fails) itself
            log.warning("catalogue version unreadable: %s", exc)
            self._close_sqlite()
            return None

    def _read_sqlite(self) -> int | None:
        if self._sqlite is None:
            conn = sqlite3.connect(self._sqlite_path or "", timeout=5, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            self._sqlite = conn
        row = self._sqlite.execute(_READ).fetchone()
        return None if row is None else int(row[0])

    def _close_sqlite(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    async def _read_postgres(self) -> int | None:
        """Requests share reads, one at a time per process: a request that arrives while a read is
        under way waits for the next one, which starts once that read ends. So every request still
        gets a version read after it arrived (a write whose answer a client has seen is seen), and a
        process sends at most one version query at a time however many requests it serves."""
        loop = asyncio.get_running_loop()
        if self._pg_loop is not loop:  # a new event loop (tests): start afresh
            self._pg_conn, self._pg_loop, self._pg_busy, self._pg_next = None, loop, False, None
        if not self._pg_busy:
            self._pg_busy = True
            future: asyncio.Future[int | None] = loop.create_future()
            self._start_read(future)
        else:
            if self._pg_next is None:
                self._pg_next = loop.create_future()
            future = self._pg_next
        return await asyncio.shield(future)

    def _start_read(self, future: asyncio.Future[int | None]) -> None:
        task = asyncio.ensure_future(self._query_postgres())

        def done(finished: asyncio.Task[int | None]) -> None:
            if finished.cancelled():
                future.cancel()
            elif (error := finished.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(finished.result())
            waiting, self._pg_next = self._pg_next, None
            if waiting is not None:
                self._start_read(waiting)
            else:
                self._pg_busy = False

        task.add_done_callback(done)

    async def _query_postgres(self) -> int | None:
        # One connection of the engine's pool, kept out of it for this (so it has the engine's settings,
        # search_path included), queried through the driver itself: no transaction, no pool round trip.
        if self._pg_conn is None:
            self._pg_conn = await self.engine.connect()
        try:
            raw = await self._pg_conn.get_raw_connection()
            value = await raw.driver_connection.fetchval(_READ)  # type: ignore[union-attr]
        except Exception:
            conn, self._pg_conn = self._pg_conn, None
            with contextlib.suppress(Exception):
                await conn.invalidate()
            raise
        return None if value is None else int(value)

    async def close(self) -> None:
        self._close_sqlite()
        if self._pg_conn is not None:
            conn, self._pg_conn = self._pg_conn, None
            with contextlib.suppress(Exception):
                await conn.close()
