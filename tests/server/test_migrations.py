"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.database import create_engine, metadata
from core.settings import Settings
from server.migrate import upgrade
from tests.conftest import POSTGRES_REQUIRED, POSTGRES_URL


def _diff(settings: Settings, schema: str | None) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(settings, schema=schema)
        async with engine.connect() as conn:
            diff: list[Any] = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
        await engine.dispose()
        return diff

    return asyncio.run(run())


def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}", secret_key="x", db_pool_size=0)
    upgrade(settings.database_url)
    assert _diff(settings, None) == []
    upgrade(settings.database_url)  # running it again is a no-op


def test_migrations_match_the_models_on_postgres() -> None:
    if not POSTGRES_URL:
        if POSTGRES_REQUIRED:
            pytest.fail("PostgreSQL required but SEOULRUN_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured")
    schema = f"m_{uuid.uuid4().hex[:12]}"

    async def ddl(statement: str) -> None:
        admin = create_async_engine(POSTGRES_URL)
        async with admin.begin() as conn:
            await conn.execute(text(statement))
        await admin.dispose()

    asyncio.run(ddl(f'CREATE SCHEMA "{schema}"'))
    try:
        settings = Settings(database_url=POSTGRES_URL, secret_key="x", db_pool_size=0)
        upgrade(POSTGRES_URL, schema=schema)
        assert _diff(settings, schema) == []
    finally:
        asyncio.run(ddl(f'DROP SCHEMA "{schema}" CASCADE'))
