"""The catalogue version: one number that every write to what the public reads show bumps, in the
write's own transaction, so that every process and every server sees at once that a cached answer
(a venue's page, the programmes, availability) is out of date.

Which writes bump: any ``INSERT``, ``UPDATE`` or ``DELETE`` a session makes, through the unit of work
(flushed objects, ``session.execute`` of a DML statement), on any table but those the public reads
never show (new tokens, idempotency records, notices, the outbox, scans), or in a unit of
work marked ``quiet`` (a feed's last fetch time). The bump
is the last statement before ``COMMIT`` (``before_commit``): a rolled-back write bumps nothing, and the
version row is locked only between that statement and the commit. New tables bump by default. A
write that can change who a token is bumps one of the accounts' rows instead (``ACCOUNT_TABLES``),
even in a quiet unit of work: their own sum is the accounts version (``VersionReader.both``).

Reading it must cost next to nothing, since every cached answer asks: SQLite reads it on a plain
``sqlite3`` connection of its own in the event loop's thread (a WAL read, microseconds, no thread hop;
never a wait: a busy file is read through the engine instead, off the loop);
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
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any, Final

from sqlalchemy import DDL, BigInteger, Column, Integer, Table, bindparam, event, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from core.database import metadata, run_at_commit, sqlite_write_intent, tables_written_at_commit
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
# Then the accounts' rows (ids SHARDS + 1 ..): a write that can change who a token is (a token revoked
# or removed, an account's role or its being switched off, its venue assignments) bumps one of these
# instead. They are part of the sum, so the version moves as for any write; their own sum, the accounts
# version, moves only for those writes, so that what is remembered of tokens (``accounts.principals``)
# outlives the bookings of a rush, each of which bumps the version.
ACCOUNT_SHARDS: Final = 8
ROWS: Final = SHARDS + ACCOUNT_SHARDS
_ROWS: Final = ", ".join(f"({n}, 0)" for n in range(1, ROWS + 1))
event.listen(
    catalogue_version,
    "after_create",
    DDL(f"INSERT INTO catalogue_version (id, version) VALUES {_ROWS}"),  # type: ignore[no-untyped-call]  # noqa: S608
)

# Writes to these never change a public read that is cached (server.read_cache).
QUIET_TABLES: Final = frozenset(
    {
        "catalogue_version",
        "idempotency_record",
        "booking_event",
        "notice",
        "notification_preference",
        "outbox_message",
        "checkin_scan",
        # The scheduler's lease is renewed every few seconds by every process, and each job occurrence
        # writes its run: neither changes a public read (and would otherwise empty every cache).
        "scheduler_lease",
        "job_run",
        # An audit entry goes with the change it records, which bumps the version itself.
        "audit_entry",
    }
)
# New rows of these change no public read, but changing or removing one does: a token revoked (a
# logout, a password change) must be seen at once by every process that remembers who the token was
# (``accounts.principals``), and those memories are tagged with the version too.
QUIET_INSERTS: Final = frozenset({"access_token"})
# Changes and removals of these can change who a token is: they bump an accounts row. Of new rows only
# a venue assignment can (a new account or token changes no token anyone holds).
ACCOUNT_TABLES: Final = frozenset({"access_token", "user_account", "venue_assignment"})
ACCOUNT_INSERTS: Final = frozenset({"venue_assignment"})
_DIRTY: Final = "seoulrun.catalogue_dirty"
_ACCOUNTS: Final = "seoulrun.accounts_dirty"
_QUIET: Final = "seoulrun.catalogue_quiet"
_BUMP: Final = (
    update(catalogue_version)
    .where(catalogue_version.c.id == bindparam("shard"))
    .values(version=catalogue_version.c.version + 1)
)
# The version, the accounts version, and the rows there are: anything but every row (not migrated, or
# migrated before the accounts' rows) reads as "unknown": nothing is cached.
_READ: Final = (
    f"SELECT sum(version), sum(CASE WHEN id > {SHARDS} THEN version ELSE 0 END), count(*) "  # noqa: S608
    "FROM catalogue_version"
)


def _table_of(obj: Any) -> str | None:
    table = getattr(type(obj), "__table__", None)
    return getattr(table, "name", None)


def _note(session: Session, table: str | None, *, insert: bool) -> None:
    if table in QUIET_TABLES or (insert and table in QUIET_INSERTS):
        return
    session.info[_DIRTY] = True
    if table in (ACCOUNT_INSERTS if insert else ACCOUNT_TABLES):
        session.info[_ACCOUNTS] = True


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _: Any) -> None:
    for obj in session.new:
        if session.info.get(_ACCOUNTS):
            return
        _note(session, _table_of(obj), insert=True)
    for obj in chain(session.dirty, session.deleted):
        if session.info.get(_ACCOUNTS):
            return
        _note(session, _table_of(obj), insert=False)


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and not state.session.info.get(_ACCOUNTS):
        _note(state.session, getattr(getattr(state.statement, "table", None), "name", None), insert=state.is_insert)


def quiet(session: AsyncSession | Session) -> None:
    """This unit of work writes nothing a public read shows (a feed's last fetch time): no bump."""
    session.info[_QUIET] = True


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    # Commit flushes after this hook: flush first, so that pending changes are seen here.
    if session.dirty or session.new or session.deleted:
        session.flush()
    for table in tables_written_at_commit(session):
        if session.info.get(_ACCOUNTS):
            break
        _note(session, table, insert=True)
    dirty, accounts = session.info.pop(_DIRTY, False), session.info.pop(_ACCOUNTS, False)
    # Random rows to spread the writers, not secrecy (S311). Who a token is must be seen at once even
    # from a unit of work marked quiet.
    shard: int | None = None
    if accounts:
        shard = random.randint(SHARDS + 1, ROWS)  # noqa: S311
    elif dirty and not session.info.get(_QUIET):
        shard = random.randint(1, SHARDS)  # noqa: S311
    # With the rows written at the commit (core.database.write_at_commit): on PostgreSQL one statement.
    run_at_commit(session, _BUMP if shard is not None else None, {"shard": shard} if shard is not None else {})


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_DIRTY, None)
    session.info.pop(_ACCOUNTS, None)


# The rows a process's SQLite reads keep (the version, the lease, the slots a rush asks about).
_MAX_SQLITE_ROWS: Final = 4096


class VersionReader:
    """The current catalogue version, as cheaply as the database allows; ``None`` when it cannot be
    read (then nothing is served from a cache). ``fetch_row`` reads any other one-row answer the same
    way (``/health``'s look at the scheduler lease)."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        url = make_url(settings.database_url)
        self._sqlite_path: str | None = None
        self._sqlite: sqlite3.Connection | None = None
        # What that connection read, while no other connection has committed since (``PRAGMA
        # data_version``, which SQLite changes for a connection at any other's commit): the pragma costs a
        # third of the version's own query, and a rush's every answer asks for the version.
        self._sqlite_rows: dict[tuple[str, tuple[Any, ...]], tuple[Any, ...] | None] = {}
        self._sqlite_seen: int | None = None
        self._pg = False
        self._pg_conn: AsyncConnection | None = None
        self._pg_driver: Any = None  # that connection's asyncpg connection
        self._pg_loop: asyncio.AbstractEventLoop | None = None
        self._pg_lock: asyncio.Lock | None = None
        self._flights: dict[str, _Flight] = {}
        self._compiled: dict[ClauseElement, SQLCompiler] = {}
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                self._sqlite_path = url.database
        elif url.get_backend_name() == "postgresql" and settings.db_pool_size > 0:
            self._pg = True

    async def current(self) -> int | None:
        both = await self.both()
        return None if both is None else both[0]

    async def both(self) -> tuple[int, int] | None:
        """The version and the accounts version, from one read."""
        try:
            row = await self.fetch_row(_READ)
        except Exception as exc:  # no cache rather than an error: the handler answers (or fails) itself
            log.warning("catalogue version unreadable: %s", exc)
            return None
        if row is None or row[0] is None or row[2] != ROWS:
            return None
        return int(row[0]), int(row[1])

    async def fetch_row(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """The first row of a read-only query (``None``: no row), read the way the version is, outside
        any transaction: ``sql`` in the engine's dialect (``driver_sql``), with positional ``params``.
        Without parameters, requests share the reads of the same query (``_read_postgres``); with them,
        each reads on its own. On a SQLite file, a row is read again only once another connection has
        committed since: ``sql`` must depend on nothing but the database (no ``CURRENT_TIMESTAMP``, no
        ``random()``). Failures raise."""
        if self._sqlite_path is not None:
            try:
                return self._read_sqlite(sql, params)
            except sqlite3.OperationalError:  # busy (a checkpoint, a recovery): wait in a thread, not the loop
                pass
        elif self._pg:
            self._on_this_loop()
            if params:
                return await self._query_postgres(sql, params)
            return await self._read_postgres(sql)
        intent = sqlite_write_intent.set(False)  # a read: never BEGIN IMMEDIATE behind the writers
        try:
            async with self.engine.connect() as conn:
                row = (await (conn.exec_driver_sql(sql, params) if params else conn.exec_driver_sql(sql))).first()
        finally:
            sqlite_write_intent.reset(intent)
        return None if row is None else tuple(row)

    def driver_sql(self, statement: ClauseElement, **params: Any) -> tuple[str, tuple[Any, ...]]:
        """``statement`` (no expanding ``IN``) as ``fetch_row`` takes it: its text in the engine's dialect
        and its parameters in order, ``params`` with the values it holds itself (made once per text)."""
        compiled = self._compiled.get(statement)
        if compiled is None:
            made = statement.compile(dialect=self.engine.dialect)
            assert isinstance(made, SQLCompiler)
            compiled = self._compiled[statement] = made
        values = compiled.construct_params(params) or {}
        return compiled.string, tuple(values[name] for name in compiled.positiontup or ())

    def _read_sqlite(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        if self._sqlite is None:
            # No busy wait: this runs in the event loop's thread, which must never sleep on a lock.
            conn = sqlite3.connect(self._sqlite_path or "", timeout=0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            self._sqlite = conn
        key = (sql, params)
        try:
            seen = self._sqlite.execute("PRAGMA data_version").fetchone()[0]
            if seen != self._sqlite_seen:  # another connection committed: what was read may be out of date
                self._sqlite_rows.clear()
                self._sqlite_seen = seen
            elif key in self._sqlite_rows:
                return self._sqlite_rows[key]
            found = self._sqlite.execute(sql, params).fetchone()
        except Exception:
            self._close_sqlite()
            raise
        row = None if found is None else tuple(found)
        if len(self._sqlite_rows) >= _MAX_SQLITE_ROWS:
            self._sqlite_rows.clear()
        self._sqlite_rows[key] = row
        return row

    def _close_sqlite(self) -> None:
        self._sqlite_rows.clear()
        self._sqlite_seen = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    async def _read_postgres(self, sql: str) -> tuple[Any, ...] | None:
        """Requests share reads of the same query, one at a time per process: a request that arrives
        while a read is under way waits for the next one, which starts once that read ends. So every
        request still gets a read that began after it arrived (a write whose answer a client has seen
        is seen), and a process sends at most one such query at a time however many requests it serves."""
        flight = self._flights.get(sql)
        if flight is None:
            flight = self._flights[sql] = _Flight(lambda: self._query_postgres(sql))
        return await flight.join(asyncio.get_running_loop())

    def _on_this_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._pg_loop is not loop:  # a new event loop (tests): start afresh
            self._pg_conn, self._pg_driver, self._pg_loop = None, None, loop
            self._pg_lock, self._flights = asyncio.Lock(), {}

    async def _query_postgres(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        # One connection of the engine's pool, kept out of it for this (so it has the engine's settings,
        # search_path included), queried through the driver itself: no transaction, no pool round trip.
        assert self._pg_lock is not None
        async with self._pg_lock:  # two different queries take turns on the one connection
            try:
                if self._pg_driver is None:
                    if self._pg_conn is None:
                        self._pg_conn = await self.engine.connect()
                    self._pg_driver = (await self._pg_conn.get_raw_connection()).driver_connection
                row = await self._pg_driver.fetchrow(sql, *params)
            except Exception:
                conn, self._pg_conn, self._pg_driver = self._pg_conn, None, None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.invalidate()
                raise
        return None if row is None else tuple(row)

    async def close(self) -> None:
        self._close_sqlite()
        if self._pg_conn is not None:
            conn, self._pg_conn, self._pg_driver = self._pg_conn, None, None
            with contextlib.suppress(Exception):
                await conn.close()


Row = tuple[Any, ...] | None


class _Flight:
    """One query's reads in a process: at most one under way, and one more that the requests arriving
    meanwhile share. Each request waits on a future of its own, so that one whose request is cancelled
    cancels nothing but its own wait (what ``asyncio.shield`` did, at twice the cost a request)."""

    def __init__(self, query: Callable[[], Awaitable[Row]]) -> None:
        self.query = query
        self.busy = False
        self.next: list[asyncio.Future[Row]] = []  # the requests waiting for the read after this one

    async def join(self, loop: asyncio.AbstractEventLoop) -> Row:
        mine: asyncio.Future[Row] = loop.create_future()
        if not self.busy:
            self.busy = True
            self._start([mine])
        else:
            self.next.append(mine)
        return await mine

    def _start(self, waiting: list[asyncio.Future[Row]]) -> None:
        task = asyncio.ensure_future(self.query())

        def done(finished: asyncio.Task[Row]) -> None:
            error = None if finished.cancelled() else finished.exception()
            for future in waiting:
                if future.done():  # its request was cancelled meanwhile
                    continue
                if finished.cancelled():
                    future.cancel()
                elif error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(finished.result())
            after, self.next = self.next, []
            if after:
                self._start(after)
            else:
                self.busy = False

        task.add_done_callback(done)
