"""Fixtures: a fresh database per test on SQLite and on PostgreSQL, the app, a client, and factories.

Every database test runs twice, ``[sqlite]`` and ``[postgres]``. PostgreSQL comes from
``SEOULRUN_TEST_POSTGRES_URL``; without it the ``[postgres]`` runs are skipped, unless
``SEOULRUN_TEST_POSTGRES_REQUIRED=1`` (as in ``.ci/run``), where a missing or unreachable server fails them.
Isolation: SQLite gets a new file per test; PostgreSQL a new schema per test, dropped afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

import server.models  # noqa: F401 - all tables on the metadata
from accounts.models import Role, User, VenueAssignment
from accounts.services import AccountService
from core.clock import KST, kst, utcnow
from core.database import create_engine, metadata, unit_of_work
from core.settings import Settings
from server.app import create_app
from venues.models import OpeningHours, Slot, SlotStatus, Space, Venue

pytest_plugins = ["tests.checkin.door"]

POSTGRES_URL = os.environ.get("SEOULRUN_TEST_POSTGRES_URL", "")
POSTGRES_REQUIRED = os.environ.get("SEOULRUN_TEST_POSTGRES_REQUIRED", "") == "1"
BACKENDS = ["sqlite", "postgres"]

PASSWORD = "correct-horse-4050"


def _settings(url: str) -> Settings:
    return Settings(
        database_url=url,
        secret_key="test-secret-key",
        base_url="http://testserver",
        scheduler_enabled=False,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        db_pool_size=0,  # the test client serves from its own event loop: no connection may cross loops
    )


@dataclass
class Database:
    backend: str
    settings: Settings
    engine: AsyncEngine
    schema: str | None = None

    def new_engine(self) -> AsyncEngine:
        """Another engine on the same database (its own connections), for tests of concurrency."""
        return create_engine(self.settings, schema=self.schema)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests (a real server, the OpenAPI fuzz) first: started last, they would leave one of the
    two workers running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


async def sqlite_database(tmp_path: Path, **settings: Any) -> AsyncIterator[Database]:
    """A test's SQLite database (``settings`` overriding the tests' own), for ``db`` and for the tests
    of what only SQLite has (one write lock per file)."""
    configured = dataclasses.replace(_settings(f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"), **settings)
    engine = create_engine(configured)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield Database("sqlite", configured, engine)
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    backend: str = request.param
    if backend == "sqlite":
        async for database in sqlite_database(tmp_path):
            yield database
        return
    if not POSTGRES_URL:
        if POSTGRES_REQUIRED:
            pytest.fail("SEOULRUN_TEST_POSTGRES_REQUIRED=1 but SEOULRUN_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set SEOULRUN_TEST_POSTGRES_URL)")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(POSTGRES_URL)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OSError as exc:  # server down: fail or skip, never pass silently
        await admin.dispose()
        if POSTGRES_REQUIRED:
            pytest.fail(f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    settings = _settings(POSTGRES_URL)
    engine = create_engine(settings, schema=schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield Database(backend, settings, engine, schema)
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    """A unit of work for service-level tests; committed when the test ends cleanly."""
    async with unit_of_work(db.engine) as s:
        yield s


@pytest.fixture
def settings(db: Database) -> Settings:
    return db.settings


@pytest.fixture
def app(db: Database) -> Litestar:
    return create_app(db.settings, engine=db.engine)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as c:
        yield c


class RacingClient:
    """An HTTP client whose requests really overlap inside the app, for race tests.

    Litestar's ``AsyncTestClient`` runs one request after another, so ``asyncio.gather`` over it races
    nothing. This one calls the app through ``httpx.ASGITransport`` on the test's event loop: gathered
    requests run as concurrent tasks, each with its own database session and connection (the tests'
    engines have no pool), and interleave wherever one awaits the database. ``peak`` counts the most
    requests that were inside the app at once, so a race test can show that it raced.
    """

    def __init__(self, app: Litestar) -> None:
        self._app = app
        self.in_flight = 0
        self.peak = 0
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self._counting), base_url="http://testserver")

    async def _counting(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self._app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.http.post(url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(url, **kwargs)


@pytest.fixture
async def racing(app: Litestar, client: AsyncTestClient[Litestar]) -> AsyncIterator[RacingClient]:
    """A racing client on the same app as ``client`` (whose lifespan has started the app on this loop)."""
    racer = RacingClient(app)
    async with racer.http:
        yield racer


# --- factories -------------------------------------------------------------------------------------

MakeVenue = Callable[..., Awaitable[Venue]]
MakeSpace = Callable[..., Awaitable[Space]]
MakeUser = Callable[..., Awaitable["Account"]]


@dataclass
class Account:
    user: User
    token: str

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


_counter = iter(range(1, 1_000_000))

WEEKDAYS_9_TO_18: list[tuple[int, str, str]] = [(d, "09:00", "18:00") for d in range(7)]


@pytest.fixture
def make_venue(db: Database) -> MakeVenue:
    async def make(**overrides: Any) -> Venue:
        from venues.services import parse_hhmm

        n = next(_counter)
        hours = overrides.pop("hours", WEEKDAYS_9_TO_18)
        fields: dict[str, Any] = {
            "slug": f"venue-{n}",
            "kind": "practice_site",
            "name": f"테스트 장소 {n}",
            "name_en": f"Test venue {n}",
            "district": "jongno",
            "address": "서울특별시 종로구 종로 1",
            "lat": 37.57,
            "lon": 126.98,
            "rules": {},
        }
        fields.update(overrides)
        async with unit_of_work(db.engine) as s:
            venue = Venue(
                **fields,
                opening_hours=[OpeningHours(weekday=w, opens=parse_hhmm(o), closes=parse_hhmm(c)) for w, o, c in hours],
                spaces=[],
            )
            s.add(venue)
        return venue

    return make


@pytest.fixture
def make_space(db: Database, make_venue: MakeVenue) -> MakeSpace:
    async def make(venue: Venue | None = None, **overrides: Any) -> Space:
        venue = venue or await make_venue()
        n = next(_counter)
        fields: dict[str, Any] = {
            "slug": f"space-{n}",
            "kind": "lab",
            "shape": "shared",
            "name": f"실습실 {n}",
            "name_en": f"Lab {n}",
            "capacity": 20,
            "max_party": 1,
            "slot_minutes": 60,
            "rules": {},
        }
        fields.update(overrides)
        async with unit_of_work(db.engine) as s:
            space = Space(venue_id=venue.id, **fields)
            s.add(space)
        return space

    return make


@pytest.fixture
def make_user(db: Database) -> MakeUser:
    async def make(role: Role | str = Role.CITIZEN, venues: list[Venue] | None = None, **overrides: Any) -> Account:
        from accounts import passwords

        n = next(_counter)
        fields: dict[str, Any] = {
            "email": f"user{n}@example.com",
            "name": f"김시민{n}",
            "birth_year": 1975,
            "role": str(role),
        }
        fields.update(overrides)
        password = fields.pop("password", PASSWORD)
        async with unit_of_work(db.engine) as s:
            user = User(
                **fields,
                password_hash=await passwords.hash_password(
                    password, time_cost=db.settings.argon2_time_cost, memory_kib=db.settings.argon2_memory_kib
                ),
                assignments=[VenueAssignment(venue_id=v.id) for v in venues or []],
            )
            s.add(user)
            await s.flush()
            token, _ = await AccountService(s, db.settings).issue_token(user)
        return Account(user, token)

    return make


MakeCitizens = Callable[[int], Awaitable[list["Account"]]]


async def create_citizens(engine: AsyncEngine, settings: Settings, n: int, *, prefix: str = "racer") -> list[Account]:
    """``n`` citizens with a bearer token each, written in one transaction (races need many people)."""
    from accounts import passwords

    password_hash = await passwords.hash_password(
        PASSWORD, time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
    )
    first = next(_counter)
    for _ in range(n - 1):
        next(_counter)
    async with unit_of_work(engine) as s:
        users = [
            User(
                email=f"{prefix}{first + i}@example.com",
                name=f"경주자{first + i}",
                birth_year=1975,
                role=str(Role.CITIZEN),
                password_hash=password_hash,
                assignments=[],
            )
            for i in range(n)
        ]
        s.add_all(users)
        await s.flush()
        service = AccountService(s, settings)
        return [Account(user, (await service.issue_token(user))[0]) for user in users]


@pytest.fixture
def make_citizens(db: Database) -> MakeCitizens:
    async def make(n: int) -> list[Account]:
        return await create_citizens(db.engine, db.settings, n)

    return make


MakeSlot = Callable[..., Awaitable[Slot]]


def in_days(days: int, at: time = time(14, 0)) -> datetime:
    """A Seoul wall-clock time ``days`` from today, as aware UTC."""
    return kst(utcnow().astimezone(KST).date() + timedelta(days=days), at)


@pytest.fixture
def make_slot(db: Database) -> MakeSlot:
    async def make(space: Space, start: datetime | None = None, **overrides: Any) -> Slot:
        start = start or in_days(2)
        fields: dict[str, Any] = {
            "space_id": space.id,
            "venue_id": space.venue_id,
            "starts_at": start,
            "ends_at": start + timedelta(minutes=space.slot_minutes or 60),
            "capacity": 1 if space.shape == "exclusive" else space.capacity,
            "taken": 0,
            "status": SlotStatus.OPEN,
        }
        fields.update(overrides)
        async with unit_of_work(db.engine) as s:
            slot = Slot(**fields)
            s.add(slot)
        return slot

    return make
