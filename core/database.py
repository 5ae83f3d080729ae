"""Engines, sessions and the unit of work, for SQLite (embedded) and PostgreSQL (production).

SQLite runs in WAL mode with foreign keys on and a busy timeout, so that several server processes can
share one file; PostgreSQL gets a lock timeout so that a stuck lock turns into a ``503 unavailable``
instead of a hung request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from advanced_alchemy.base import orm_registry
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from core.settings import Settings

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


def create_engine(settings: Settings, *, schema: str | None = None) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        pooling: dict[str, Any] = (
            {"poolclass": NullPool}  # tests: every event loop needs its own connections
            if settings.db_pool_size == 0
            else {"pool_size": settings.db_pool_size, "max_overflow": settings.db_pool_size}
        )
        # A pooled connection is opened (and its PRAGMAs run) once; between transactions it holds no
        # snapshot, so each new transaction sees the latest commits of every process.
        engine = create_async_engine(url, connect_args={"timeout": settings.db_lock_timeout_ms / 1000}, **pooling)
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
        return create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # No pre-ping: it costs a round trip per request. A connection the server dropped fails its
        # request with 503 (safe to retry) and the pool replaces it.
        pool_recycle=1800,
        pool_timeout=settings.db_pool_timeout_s,
        connect_args=connect_args,
    )


def alchemy_config(engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    """advanced-alchemy's Litestar plugin config: one session and one transaction per request."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False, autoflush=False),
        before_send_handler="autocommit",
        create_all=False,
    )


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the block ends cleanly and rolls back otherwise."""
    maker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


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
