"""Engines, sessions and the unit of work, for SQLite (embedded) and PostgreSQL (production).

SQLite runs in WAL mode with foreign keys on and a busy timeout, so that several server processes can
share one file; PostgreSQL gets a lock timeout so that a stuck lock turns into a ``503 unavailable``
instead of a hung request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import msgspec
from advanced_alchemy.base import orm_registry
from sqlalchemy import Insert, Table, UniqueConstraint, Update, bindparam, event, insert, literal_column, select, true
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import NullPool

from core.settings import Settings

log = logging.getLogger(__name__)

metadata = orm_registry.metadata


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


# Whether the current unit of work may write. Requests with a safe method (GET, HEAD, OPTIONS) set it to
# False in ``server.app``; jobs and CLI commands keep the default.
sqlite_write_intent: ContextVar[bool] = ContextVar("sqlite_write_intent", default=True)


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's default BEGIN is deferred: two writers that both read first then race for the upgrade to
    # a write lock, and in WAL mode the loser gets SQLITE_BUSY at once, whatever the busy timeout. Taking
    # the write lock at BEGIN makes writers queue behind busy_timeout instead; readers stay deferred so
    # that they never wait for writers.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if sqlite_write_intent.get() else "BEGIN")


def _json_text(value: Any) -> str:
    """The JSON columns' text (bookings' first answers, audit details, notices' facts), by msgspec: the
    standard library's encoder, SQLAlchemy's default, took ~2 % of a confirmed booking's time."""
    return msgspec.json.encode(value).decode()


# Both databases' engines read and write JSON columns with these.
_JSON: Final[dict[str, Any]] = {"json_serializer": _json_text, "json_deserializer": msgspec.json.decode}


def create_engine(settings: Settings, *, schema: str | None = None) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        pooling: dict[str, Any] = (
            {"poolclass": NullPool}  # tests: every event loop needs its own connections
            if settings.db_pool_size == 0
            else {"pool_size": settings.db_pool_size, "max_overflow": 0}
        )
        # A pooled connection is opened (and its PRAGMAs run) once; between transactions it holds no
        # snapshot, so each new transaction sees the latest commits of every process.
        engine = create_async_engine(
            url, connect_args={"timeout": settings.db_lock_timeout_ms / 1000}, **pooling, **_JSON
        )
        sync_engine = engine.sync_engine
        event.listen(sync_engine, "connect", _sqlite_pragmas(settings.db_lock_timeout_ms))

        @event.listens_for(sync_engine, "connect")
        def _disable_pysqlite_transactions(dbapi_connection: Any, _: Any) -> None:
            # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin).
            dbapi_connection.isolation_level = None

        event.listen(sync_engine, "begin", _sqlite_begin)
        return engine
    server_settings = {
        "lock_timeout": str(settings.db_lock_timeout_ms),
        "application_name": "seoulrun",
        "timezone": "UTC",
    }
    if schema:
        server_settings["search_path"] = schema
    connect_args = {"server_settings": server_settings}
    if settings.db_pool_size == 0:
        # No pool: a connection per unit of work (tests, where each event loop needs its own connections).
        return create_async_engine(url, poolclass=NullPool, connect_args=connect_args, **_JSON)
    return create_async_engine(
        url,
        # The pool's connections are kept open and the process opens no more: connections opened beyond
        # the pool ("overflow") are closed as soon as they are given back, and a rush's bursts of
        # requests would open and close them by the dozen a second (each a TCP connection, the
        # server's start of a backend, asyncpg's set-up), a fifth of the workers' time in the rush.
        # A request that finds every connection taken waits for one (``pool_timeout``).
        pool_size=settings.db_pool_size,
        max_overflow=0,
        # No pre-ping: it costs a round trip per request. A connection the server dropped fails its
        # request with 503 (safe to retry) and the pool replaces it.
        pool_recycle=1800,
        pool_timeout=settings.db_pool_timeout_s,
        connect_args=connect_args,
        **_JSON,
    )


FollowUp = Callable[[AsyncEngine], Awaitable[object]]
_FOLLOW_UPS = "seoulrun.follow_ups"


def after_commit(session: AsyncSession, work: FollowUp, *, key: object = None) -> None:
    """Work to do once this session's transaction has committed, each piece in a transaction of its own:
    a place freed by a cancellation offered to the next in line, for instance. Two reasons it waits:
    locks are taken in one order (citizen, then slot), which a second citizen inside the first one's
    transaction would break; and what committed must stand even if the follow-up fails (a scheduled job
    sweeps up after a failed follow-up)."""
    pending: dict[object, FollowUp] = session.info.setdefault(_FOLLOW_UPS, {})
    pending.setdefault(work if key is None else key, work)


async def _run_follow_ups(session: AsyncSession, engine: AsyncEngine) -> None:
    for work in session.info.pop(_FOLLOW_UPS, {}).values():
        try:
            await work(engine)
        except Exception:  # what committed stands; the sweeping job retries
            log.exception("follow-up %r failed after commit", work)


def _maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the block ends cleanly and rolls back otherwise; the
    follow-ups registered with ``after_commit`` run once it has committed."""
    async with _maker(engine)() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            session.info.pop(_FOLLOW_UPS, None)
            await session.rollback()
            raise
        await _run_follow_ups(session, engine)


@asynccontextmanager
async def read_only(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session for reading only, whatever the request around it. On SQLite its transaction never
    takes the write lock (nor waits for it) and is rolled back at the end. On PostgreSQL it has no
    transaction at all: each statement reads the latest commits on its own, and a read of one statement
    is one round trip instead of three (``BEGIN``, the statement, ``ROLLBACK``). Use it for reads whose
    statements need not see one snapshot together."""
    intent = sqlite_write_intent.set(False)
    try:
        async with _maker(engine)() as session:
            if engine.dialect.name == "postgresql":  # its connection now, outside any transaction
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session
    finally:
        sqlite_write_intent.reset(intent)


async def request_session(engine: AsyncEngine) -> AsyncGenerator[AsyncSession, None]:
    """One request, one unit of work: a Litestar dependency with ``yield``, so that the commit happens after
    the handler has built its answer and before the answer is sent. A commit that fails becomes an error
    answer (503, safe to retry) instead of a success whose data was lost. A session that never ran a
    query never took a connection."""
    async with unit_of_work(engine) as session:
        yield session


def insert_row(model: type[Any]) -> Insert:
    """An ``INSERT`` into ``model``'s table run as a statement of its own: no object, no unit of work
    (an object added and flushed costs about three times the statement). Build it once, as a module
    constant, and run it with the row's values."""
    return insert(cast(Table, model.__table__))


# The INSERTs a transaction runs with its commit (``write_at_commit``), in the order they were asked for.
_AT_COMMIT: Final = "seoulrun.written_at_commit"
# A row written with another's primary key (an outbox message with its notice's id): the INSERT of its
# table (``insert_row``), its values, and the column that takes the key.
Follower = tuple[Insert, dict[str, Any], str]


@dataclass(frozen=True, slots=True)
class _Write:
    into: Insert  # the table's insert_row
    row: dict[str, Any]  # with the columns' own defaults
    followers: tuple[Follower, ...] = ()

    @property
    def statement(self) -> Insert:
        return self.into.values(self.row)


async def write_at_commit(
    session: AsyncSession, into: Insert, row: dict[str, Any], *, followers: Sequence[Follower] = ()
) -> None:
    """A row of bookkeeping (a booking's history row, an audit entry, a notice and its messages, a
    request's first answer) written with the commit, together with the others and the catalogue
    version's bump, the last statement before ``COMMIT`` (``core.catalogue_version``): on PostgreSQL all
    of them as one statement (``WITH w0 AS (INSERT …), w1 AS (INSERT …) UPDATE catalogue_version …``),
    one round trip instead of one each, in every booking's transaction. ``into`` is the table's
    ``insert_row``, ``row`` its values, to which the columns' own defaults are added here (each part of
    the one statement must name its values). ``followers`` are rows that take this row's primary key.
    Rows of one table are written in the order they were asked for (their ids in that order).

    For rows that nothing in the transaction reads back. A rollback drops them with the rest. Inside a
    savepoint, whose rollback must take the rows with it while the transaction goes on, they are written
    at once."""
    write = _Write(
        into,
        _with_defaults(into.table, row),
        tuple((table, _with_defaults(table.table, values), column) for table, values, column in followers),
    )
    if session.in_nested_transaction():
        await session.run_sync(_run_one, write)
        return
    if not session.in_transaction():
        await session.connection()  # begun now, so that a rollback before the commit drops the row
    session.info.setdefault(_AT_COMMIT, []).append(write)


def tables_written_at_commit(session: Session) -> set[str]:
    """The tables the writes waiting for the commit go to (the catalogue version's bump looks at them)."""
    writes: list[_Write] = session.info.get(_AT_COMMIT, [])
    return {name for w in writes for name in (w.into.table.name, *(f[0].table.name for f in w.followers))}


# The statements of ``run_at_commit`` by shape (which tables, which columns, which bump), each made once:
# making one costs more than the round trips it saves, running one made already costs little.
_TOGETHER: dict[tuple[Any, ...], Any] = {}
_MAX_SHAPES: Final = 512


def run_at_commit(session: Session, last: Update | None, params: dict[str, Any]) -> None:
    """The writes waiting for the commit, then ``last`` (the bump) if any: on PostgreSQL one statement,
    elsewhere one each. Called by the commit's hook (``core.catalogue_version``), in the sync session.

    PostgreSQL runs the parts of one statement in no set order of their own, so each part is an
    ``INSERT … SELECT`` from the part before it: it runs after it, and the rows get their ids in the
    order they were asked for. Every part is one row of bound parameters, so that the statement is
    made and compiled once for each shape of writes."""
    writes: list[_Write] = session.info.pop(_AT_COMMIT, [])
    if not writes or session.get_bind().dialect.name != "postgresql":
        for write in writes:
            _run_one(session, write)
        if last is not None:
            session.execute(last, params)
        return
    rows = [row for write in writes for row in (write.row, *(values for _, values, _ in write.followers))]
    shape = (
        last,
        tuple(
            (
                write.into,
                tuple(write.row),
                tuple((into, tuple(values), column) for into, values, column in write.followers),
            )
            for write in writes
        ),
    )
    together = _TOGETHER.get(shape)
    if together is None:
        if len(_TOGETHER) >= _MAX_SHAPES:
            _TOGETHER.clear()
        together = _TOGETHER[shape] = _together(shape)
    values = dict(params)
    for n, row in enumerate(rows):
        values.update({f"w{n}_{name}": value for name, value in row.items()})
    session.execute(together, values)


def _together(shape: tuple[Any, ...]) -> Any:
    last, writes = shape
    parts: list[Any] = []
    for into, columns, followers in writes:
        parent = _part(into, columns, parts)
        for follower, follower_columns, column in followers:
            _part(follower, follower_columns, parts, key=(column, parent))
    main: Any = last if last is not None else select(literal_column("1"))
    return main.add_cte(*parts)


def _part(into: Insert, columns: tuple[str, ...], parts: list[Any], key: tuple[str, Any] | None = None) -> Any:
    """One row's part of ``run_at_commit``'s statement, after the last of ``parts`` (added to them), its
    values the parameters ``w{n}_{column}``; ``key``: the column that takes the primary key of an earlier
    part, and that part."""
    table = into.table
    n = len(parts)
    names: list[str] = list(columns)
    values: list[Any] = [bindparam(f"w{n}_{name}", type_=table.c[name].type) for name in columns]
    after: Any = parts[-1] if parts else None
    if key is not None:
        column, parent = key
        names.insert(0, column)
        values.insert(0, parent.c["key"])
        # One row each: the parent's key, after the part before (its parent, or its parent's follower).
        after = parent if after is parent else after.join(parent, true())
    source = select(*values)
    part = into.from_select(names, source.select_from(after) if after is not None else source)
    made = part.returning(_primary_key(into).label("key")).cte(f"w{n}")
    parts.append(made)
    return made


def _run_one(session: Session, write: _Write) -> None:
    if not write.followers:
        session.execute(write.statement)
        return
    key = session.execute(write.statement.returning(_primary_key(write.into))).scalar()
    for into, row, column in write.followers:
        session.execute(into.values({**row, column: key}))  # its defaults given when it was queued


def _primary_key(statement: Insert) -> Any:
    (key,) = statement.table.primary_key.columns  # type: ignore[attr-defined]
    return key


def _with_defaults(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with the value of each column it leaves out that has a default of its own (a constant,
    or a function such as ``created_at``'s)."""
    full = dict(row)
    for column in table.columns:
        default = column.default
        if column.key in full or default is None:
            continue
        if default.is_scalar:
            full[column.key] = default.arg
        elif default.is_callable:
            full[column.key] = default.arg(None)
    return full


@event.listens_for(Session, "after_transaction_end")
def _drop_writes(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction ended (committed: already written; rolled back: dropped)
        session.info.pop(_AT_COMMIT, None)


async def insert_ignoring_conflicts(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]], *, batch: int = 1000
) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL; returns how many rows were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    inserted = 0
    for start in range(0, len(rows), batch):
        statement = dialect_insert(table).on_conflict_do_nothing()
        result = await session.execute(statement, rows[start : start + batch])
        inserted += max(int(getattr(result, "rowcount", 0) or 0), 0)
    return inserted


def constraint_of(exc: IntegrityError) -> str | None:
    """The name of the constraint an INSERT or UPDATE broke, on PostgreSQL and on SQLite, so that a
    service maps each one to its own answer (never one blanket refusal for every constraint).

    PostgreSQL names it; SQLite names CHECK constraints but reports unique ones by their columns
    (``UNIQUE constraint failed: stay_night.space_id, stay_night.night``), which are matched here to the
    unique constraint or index of that table in the metadata."""
    cause = getattr(exc.orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None) or getattr(exc.orig, "constraint_name", None)
    if name:
        return str(name)
    message = str(exc.orig)
    if "CHECK constraint failed:" in message:
        return message.split("CHECK constraint failed:", 1)[1].strip().split()[0]
    if "UNIQUE constraint failed:" in message:
        columns = [c.strip() for c in message.split("UNIQUE constraint failed:", 1)[1].split(",")]
        table_name = columns[0].split(".")[0]
        wanted = {c.split(".", 1)[1] for c in columns if "." in c}
        table = metadata.tables.get(table_name)
        if table is None:
            return None
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and {c.name for c in constraint.columns} == wanted:
                return str(constraint.name)
        for index in table.indexes:
            if index.unique and {c.name for c in index.columns} == wanted:
                return str(index.name)
    return None


# The catalogue version's table and the session events that bump it, wherever sessions are used: the
# server, its jobs and the command line alike (a write that skipped the bump would leave every server's
# cached reads out of date).
from core import catalogue_version as _catalogue_version  # noqa: E402,F401
