"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL.

Alembic's ``compare_metadata`` compares tables, columns, types, indexes and unique constraints, but not
CHECK constraints nor the ``WHERE`` of partial indexes, and those carry the invariants that matter most
(``taken <= capacity``, one active booking per citizen and slot). So the database the migrations built is
also compared with one built by ``metadata.create_all`` from the models, on the same database engine:
the names and SQL of every CHECK constraint, and the columns, uniqueness and ``WHERE`` clause of every
index. Both sides are read back from the database itself, so each is in that database's own words:
SQLite keeps the text as written, PostgreSQL gives its normalised ``pg_get_constraintdef``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, MetaData, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from core.database import create_engine, metadata
from core.settings import Settings
from server.migrate import upgrade
from tests.conftest import POSTGRES_REQUIRED, POSTGRES_URL

Snapshot = dict[str, dict[str, Any]]


def _sql(value: Any) -> str:
    """SQL text compared without its layout: spaces, quotes of identifiers, case of keywords."""
    if value is None:
        return ""
    flat = re.sub(r"\s+", " ", str(value)).replace('"', "").strip()
    # One pair of parentheses around the whole expression is layout too.
    while flat.startswith("(") and flat.endswith(")") and _balanced(flat[1:-1]):
        flat = flat[1:-1].strip()
    return flat.lower()


def _balanced(expression: str) -> bool:
    depth = 0
    for char in expression:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _where(index: dict[str, Any]) -> str:
    options = index.get("dialect_options") or {}
    return _sql(options.get("postgresql_where") or options.get("sqlite_where"))


def snapshot(connection: Connection) -> Snapshot:
    """What compare_metadata leaves out, as the database holds it: CHECKs and indexes by name."""
    inspector = inspect(connection)
    tables: Snapshot = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        tables[table] = {
            "checks": {c["name"]: _sql(c["sqltext"]) for c in inspector.get_check_constraints(table)},
            "indexes": {
                i["name"]: (tuple(i["column_names"]), bool(i["unique"]), _where(i))
                for i in inspector.get_indexes(table)
            },
        }
    return tables


def differences(migrated: Snapshot, modelled: Snapshot) -> list[str]:
    """Every CHECK and index that the two schemas do not have alike, one line each."""
    out: list[str] = []
    for table in sorted(set(migrated) | set(modelled)):
        if table not in migrated or table not in modelled:
            out.append(f"{table}: only in the {'models' if table in modelled else 'migrations'}")
            continue
        for kind, label in (("checks", "check"), ("indexes", "index")):
            ours, theirs = migrated[table][kind], modelled[table][kind]
            for name in sorted(set(ours) | set(theirs)):
                if name not in ours:
                    out.append(f"{table}: {label} {name} is in the models, not in the migrations")
                elif name not in theirs:
                    out.append(f"{table}: {label} {name} is in the migrations, not in the models")
                elif ours[name] != theirs[name]:
                    out.append(f"{table}: {label} {name} differs: migrations {ours[name]!r}, models {theirs[name]!r}")
    return out


def _compare_metadata(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    diff: list[Any] = compare_metadata(context, metadata)
    return diff


def _inspect(settings: Settings, schema: str | None, work: Any) -> Any:
    async def run() -> Any:
        engine = create_engine(settings, schema=schema)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _create_all(settings: Settings, schema: str | None, target: MetaData) -> None:
    async def run() -> None:
        engine = create_engine(settings, schema=schema)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(target.create_all)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _copy(source: MetaData) -> MetaData:
    """The models' tables in a metadata of their own, to break one without touching the real one."""
    copy = MetaData(naming_convention=source.naming_convention)
    for table in source.sorted_tables:
        table.to_metadata(copy)
    return copy


# --- the two databases -------------------------------------------------------------------------------


class Target:
    """A database the test may build schemas in: files for SQLite, schemas for PostgreSQL."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.schemas: list[str] = []

    def new(self) -> tuple[Settings, str | None]:
        if self.backend == "sqlite":
            url = f"sqlite+aiosqlite:///{self.tmp_path / f'{uuid.uuid4().hex[:8]}.sqlite3'}"
            return Settings(database_url=url, secret_key="x", db_pool_size=0), None
        schema = f"m_{uuid.uuid4().hex[:12]}"
        _ddl(f'CREATE SCHEMA "{schema}"')
        self.schemas.append(schema)
        return Settings(database_url=POSTGRES_URL, secret_key="x", db_pool_size=0), schema

    def migrated(self) -> tuple[Settings, str | None]:
        settings, schema = self.new()
        upgrade(settings.database_url, schema=schema)
        return settings, schema

    def modelled(self, target: MetaData = metadata) -> Snapshot:
        settings, schema = self.new()
        _create_all(settings, schema, target)
        snap: Snapshot = _inspect(settings, schema, snapshot)
        return snap

    def drop(self) -> None:
        for schema in self.schemas:
            _ddl(f'DROP SCHEMA "{schema}" CASCADE')


def _ddl(statement: str) -> None:
    async def run() -> None:
        admin = create_async_engine(POSTGRES_URL)
        try:
            async with admin.begin() as conn:
                await conn.execute(text(statement))
        finally:
            await admin.dispose()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "postgres" and not POSTGRES_URL:
        if POSTGRES_REQUIRED:
            pytest.fail("PostgreSQL required but SEOULRUN_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured")
    place = Target(request.param, tmp_path)
    try:
        yield place
    finally:
        if request.param == "postgres":
            place.drop()


# --- the tests ---------------------------------------------------------------------------------------


def test_migrations_match_the_models(target: Target) -> None:
    settings, schema = target.migrated()
    assert _inspect(settings, schema, _compare_metadata) == []
    migrated = _inspect(settings, schema, snapshot)
    assert differences(migrated, target.modelled()) == []
    # The invariants are really there (a comparison of two empty lists would pass too).
    assert "ck_slot_taken_within_capacity" in migrated["slot"]["checks"]
    assert migrated["booking"]["indexes"]["uq_booking_active_user_slot"][2]
    upgrade(settings.database_url, schema=schema)  # running it again is a no-op


def test_the_comparison_sees_a_check_or_a_partial_index_gone_from_the_models(target: Target) -> None:
    """Removing ``taken_within_capacity`` from the Slot model, or the WHERE of a partial index, must turn
    the comparison red, although ``compare_metadata`` alone stays silent about both."""
    settings, schema = target.migrated()
    migrated = _inspect(settings, schema, snapshot)

    without_check = _copy(metadata)
    slot = without_check.tables["slot"]
    check = next(c for c in slot.constraints if isinstance(c, CheckConstraint) and "<= capacity" in str(c.sqltext))
    slot.constraints.discard(check)
    assert differences(migrated, target.modelled(without_check)) == [
        "slot: check ck_slot_taken_within_capacity is in the migrations, not in the models"
    ]

    without_where = _copy(metadata)
    index = next(i for i in without_where.tables["booking"].indexes if i.name == "uq_booking_active_user_slot")
    index.dialect_options["sqlite"]["where"] = None
    index.dialect_options["postgresql"]["where"] = None
    (line,) = differences(migrated, target.modelled(without_where))
    assert line.startswith("booking: index uq_booking_active_user_slot differs")


def test_the_migrated_catalogue_version_has_every_shard(tmp_path: Path) -> None:
    """A shard missing would swallow the bumps that land on it: cached reads would stay out of date."""
    import sqlite3

    from core.catalogue_version import ROWS
    from server.migrate import upgrade

    path = tmp_path / "shards.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*), sum(version) FROM catalogue_version").fetchone() == (ROWS, 0)


def test_the_migrated_audit_log_refuses_updates_and_deletes(target: Target) -> None:
    """The append-only guard of ``audit_entry`` is in the migrated schema too, not only in create_all's."""
    settings, schema = target.migrated()

    async def run() -> list[str]:
        engine = create_engine(settings, schema=schema)
        refusals = []
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO audit_entry (at, actor_role, action, subject_kind, subject_id, details) "
                        "VALUES (CURRENT_TIMESTAMP, 'system', 'venue.updated', 'venue', 1, '{}')"
                    )
                )
            statements = ["UPDATE audit_entry SET action = 'x'", "DELETE FROM audit_entry"]
            if target.backend == "postgres":
                statements.append("TRUNCATE audit_entry")
            for statement in statements:
                try:
                    async with engine.begin() as conn:
                        await conn.execute(text(statement))
                except Exception as exc:  # the driver's error, wrapped by SQLAlchemy
                    refusals.append(str(exc))
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT action FROM audit_entry")) == "venue.updated"
        finally:
            await engine.dispose()
        return refusals

    refusals = asyncio.run(run())
    assert len(refusals) == (3 if target.backend == "postgres" else 2)
    assert all("append-only" in r for r in refusals)
