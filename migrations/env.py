"""Alembic environment: runs the migrations on the async engine of SEOULRUN_DATABASE_URL or the URL given."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import server.models  # noqa: F401 - registers every table on the metadata
from core.database import create_engine, metadata
from core.settings import Settings

config = context.config


def _settings() -> Settings:
    settings = Settings.from_env()
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        settings = Settings(**{**{f: getattr(settings, f) for f in settings.__dataclass_fields__}, "database_url": url})
    return settings


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        version_table_schema=config.attributes.get("schema"),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_settings(), schema=config.attributes.get("schema"))
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_settings().database_url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
