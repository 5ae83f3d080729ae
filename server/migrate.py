"""Running Alembic from code: the CLI's ``db upgrade`` and the tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from core.settings import PROJECT_ROOT


def alembic_config(database_url: str, *, schema: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = schema
    return config


def upgrade(database_url: str, revision: str = "head", *, schema: str | None = None) -> None:
    command.upgrade(alembic_config(database_url, schema=schema), revision)
