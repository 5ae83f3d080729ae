"""The rows the benches need, written straight into the bench's database.

SQLAlchemy Core over the schema reflected from the migrated database: the benches depend on the tables
(migrations/), never on the project's service classes or model modules, which may move. Timestamps are
aware UTC instants, written as the app writes them on either database. Tokens are what the app stores:
the SHA-256 (hex) of an opaque token, in ``access_token.token_hash``.

Two venues of the bench's own, beside the demo catalogue:
- ``bench-busy``: a practice site whose two labs have six one-hour slots a day (09:00 to 14:00 KST) for
  167 days (2,000 slots), with bookings that ``--scale`` multiplies: its calendar feed, its staff day
  view, the availability of its month and the "my bookings" of one regular citizen are measured there;
- ``bench-door``: a practice site with a weekly quota of 1,000 (so that one citizen's many bench bookings
  are never refused for the quota), where the QR scans, the booking rush, the sold-out answers and the
  confirmed path take place, each on slots of their own.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import MetaData, Table, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

KST = timezone(timedelta(hours=9))
TAKING = ("held", "confirmed", "offered", "checked_in")  # bookings that hold places (booking/models.py)
BUSY_HOURS = (9, 10, 11, 12, 13, 14)  # the one-hour slots of bench-busy's two labs, KST
BUSY_DAYS = 167
BUSY_SLOTS = 2000  # as many events as the feed of the old feeds bench: six a day per lab, 167 days
REGULAR_PER_SLOT = 1  # bookings per bench-busy slot, times the scale
HOT_PER_SCALE = 30  # bookings added to one bench-busy slot per unit of scale
MINE_PER_SCALE = 5  # the regular citizen's bookings per unit of scale
BIRTH_YEAR = 1975
NO_LOGIN = "!bench: this account has a token and no password"


def utcnow() -> datetime:
    return datetime.now(UTC)


def today_kst() -> date:
    return datetime.now(KST).date()


def kst(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=KST).astimezone(UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    token: str


@dataclass(frozen=True, slots=True)
class People:
    citizens: tuple[Person, ...]
    staff: Person  # staff of both bench venues
    regular: Person  # the citizen whose "my bookings" is measured


@dataclass(frozen=True, slots=True)
class Venues:
    busy: int
    labs: tuple[int, int]  # the spaces of bench-busy
    door: int
    door_space: int  # QR scans
    seats: int  # the rush
    rooms: int  # the confirmed path (a slot per citizen)
    last_demo_venue: int  # the demo catalogue's venues have ids up to this one


class Db:
    """An engine on the bench's database and its reflected tables."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # No pool: the benches call in here from one asyncio.run after another, and a pooled asyncpg
        # connection belongs to the event loop that opened it.
        args: dict[str, Any] = {"connect_args": {"timeout": 60}} if self.is_sqlite else {}
        self.engine: AsyncEngine = create_async_engine(url, poolclass=NullPool, **args)
        self.meta = MetaData()

    async def open(self) -> Db:
        async with self.engine.connect() as conn:
            await conn.run_sync(self.meta.reflect)
        return self

    async def close(self) -> None:
        await self.engine.dispose()

    def t(self, name: str) -> Table:
        return self.meta.tables[name]

    async def insert(self, name: str, rows: Sequence[Mapping[str, Any]], returning: str | None = "id") -> list[Any]:
        """Insert rows (``created_at``/``updated_at`` filled in); returns the ``returning`` column, in order."""
        if not rows:
            return []
        table = self.t(name)
        now = utcnow()
        stamped = [{"created_at": now, "updated_at": now, **row} for row in rows]
        async with self.engine.begin() as conn:
            if returning is None:
                await conn.execute(insert(table), stamped)
                return []
            statement = insert(table).returning(table.c[returning], sort_by_parameter_order=True)
            result = await conn.execute(statement, stamped)
            return [row[0] for row in result.all()]

    async def execute(self, sql: str, **params: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(sql), params)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())


# --- people and venues -----------------------------------------------------------------------------


async def add_people(db: Db, count: int, stamp: str) -> list[Person]:
    """``count`` citizens, each with a bearer token of their own (no password: nobody logs in)."""
    users = [
        {
            "email": f"bench{i:05d}.{stamp}@bench.seoulrun4050.example",
            "password_hash": NO_LOGIN,
            "name": f"벤치 {i:05d}",
            "birth_year": BIRTH_YEAR,
            "role": "citizen",
            "is_active": True,
        }
        for i in range(count)
    ]
    ids = await db.insert("user_account", users)
    return await _tokens(db, ids)


async def _tokens(db: Db, user_ids: Sequence[int]) -> list[Person]:
    tokens = [secrets.token_urlsafe(32) for _ in user_ids]
    expires = utcnow() + timedelta(days=14)
    await db.insert(
        "access_token",
        [
            {"token_hash": token_hash(token), "user_id": uid, "expires_at": expires, "revoked": False}
            for uid, token in zip(user_ids, tokens, strict=True)
        ],
        returning=None,
    )
    return [Person(uid, token) for uid, token in zip(user_ids, tokens, strict=True)]


def _venue(slug: str, name: str, name_en: str, rules: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "slug": slug,
        "kind": "practice_site",
        "name": name,
        "name_en": name_en,
        "district": "gangbuk",
        "address": "서울특별시 강북구 삼양로 173",
        "lat": 37.64,
        "lon": 127.01,
        "description": "",
        "description_en": "",
        "is_sample": True,
        "opens_on_holidays": True,
        "is_active": True,
        "rules": dict(rules),
    }


def _space(venue_id: int, slug: str, name_en: str, capacity: int, kind: str = "lab") -> dict[str, Any]:
    return {
        "venue_id": venue_id,
        "slug": slug,
        "kind": kind,
        "shape": "shared",
        "name": f"벤치 {slug}",
        "name_en": name_en,
        "capacity": capacity,
        "max_party": 4,
        "slot_minutes": 60,
        "is_active": True,
        "rules": {},
    }


async def add_bench_world(db: Db, citizens: int) -> tuple[Venues, People]:
    """The two bench venues, their spaces and opening hours, the citizens, a staff member, a regular."""
    stamp = utcnow().strftime("%H%M%S")
    last_demo = int(await db.scalar("SELECT max(id) FROM venue"))
    busy, door = await db.insert(
        "venue",
        [
            _venue("bench-busy", "벤치 붐비는 실습장", "Bench busy practice site", {}),
            # A weekly quota far above what the benches book, so that no bench answer is quota_exceeded.
            _venue("bench-door", "벤치 출입 실습장", "Bench door practice site", {"weekly_quota": 1000}),
        ],
    )
    lab1, lab2, door_space, seats, rooms = await db.insert(
        "space",
        [
            _space(busy, "lab-1", "Busy lab 1", 10_000),
            _space(busy, "lab-2", "Busy lab 2", 10_000),
            _space(door, "door", "Door hall", 10_000, kind="hall"),
            _space(door, "seats", "Rush classroom", 30, kind="classroom"),
            _space(door, "rooms", "Confirmed-path rooms", 10, kind="classroom"),
        ],
    )
    hours = [
        {"venue_id": venue, "weekday": day, "opens": time(0, 0), "closes": time(23, 59)}
        for venue in (busy, door)
        for day in range(7)
    ]
    await db.insert("opening_hours", hours, returning=None)
    people = await add_people(db, citizens, stamp)
    staff_id, regular_id = await db.insert(
        "user_account",
        [
            {
                "email": f"bench.staff.{stamp}@bench.seoulrun4050.example",
                "password_hash": NO_LOGIN,
                "name": "벤치 직원",
                "role": "staff",
                "is_active": True,
            },
            {
                "email": f"bench.regular.{stamp}@bench.seoulrun4050.example",
                "password_hash": NO_LOGIN,
                "name": "벤치 단골",
                "birth_year": BIRTH_YEAR,
                "role": "citizen",
                "is_active": True,
            },
        ],
    )
    await db.insert("venue_assignment", [{"user_id": staff_id, "venue_id": v} for v in (busy, door)], returning=None)
    staff, regular = await _tokens(db, [staff_id, regular_id])
    venues = Venues(busy, (lab1, lab2), door, door_space, seats, rooms, last_demo)
    return venues, People(tuple(people), staff, regular)


# --- slots and bookings ----------------------------------------------------------------------------


def slot_row(venue: int, space: int, starts: datetime, minutes: int, capacity: int, note: str) -> dict[str, Any]:
    return {
        "space_id": space,
        "venue_id": venue,
        "starts_at": starts,
        "ends_at": starts + timedelta(minutes=minutes),
        "capacity": capacity,
        "taken": 0,
        "status": "open",
        "origin": "extra",
        "note": note,
        "sequence": 0,
    }


async def add_slots(db: Db, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    return [int(i) for i in await db.insert("slot", rows)]


def booking_row(user: int, slot: Mapping[str, Any], slot_id: int, status: str = "confirmed") -> dict[str, Any]:
    return {
        "user_id": user,
        "venue_id": slot["venue_id"],
        "space_id": slot["space_id"],
        "slot_id": slot_id,
        "starts_at": slot["starts_at"],
        "ends_at": slot["ends_at"],
        "party_size": 1,
        "units": 1,
        "status": status,
        "late_cancel": False,
        "sequence": 0,
        "walk_in": False,
        "qr_version": 0,
    }


async def add_bookings(db: Db, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(rows), 2000):
        ids += [int(i) for i in await db.insert("booking", rows[start : start + 2000])]
    return ids


async def sync_taken(db: Db, venue_id: int) -> None:
    """``slot.taken`` = the places held by the slot's bookings, for every slot of a venue."""
    slot, booking = db.t("slot"), db.t("booking")
    held = (
        select(func.coalesce(func.sum(booking.c.units), 0))
        .where(booking.c.slot_id == slot.c.id, booking.c.status.in_(TAKING))
        .scalar_subquery()
    )
    async with db.engine.begin() as conn:
        await conn.execute(update(slot).where(slot.c.venue_id == venue_id).values(taken=held))


def max_scale(citizens: int) -> int:
    """The highest scale that ``citizens`` citizens can fill without booking a slot twice."""
    return min(citizens // (REGULAR_PER_SLOT + HOT_PER_SCALE), BUSY_SLOTS // 2 // MINE_PER_SCALE)


@dataclass(frozen=True, slots=True)
class Busy:
    """What bench-busy holds at a scale: the slots (fixed) and how many bookings are where."""

    slot_ids: tuple[int, ...]
    slot_rows: tuple[dict[str, Any], ...]
    hot_slot: int
    day: date  # the day of the hot slot (the staff day view)
    scale: int


def busy_slots(venues: Venues, first_day: date) -> list[dict[str, Any]]:
    rows = [
        slot_row(venues.busy, lab, kst(first_day + timedelta(days=d), hour), 60, 10_000, "bench-busy")
        for d in range(BUSY_DAYS)
        for hour in BUSY_HOURS
        for lab in venues.labs
    ]
    return rows[:BUSY_SLOTS]


async def grow_busy(db: Db, venues: Venues, people: People, busy: Busy | None, scale: int) -> Busy:
    """Bring bench-busy's bookings to ``scale`` (from ``busy.scale``; from nothing when ``busy`` is None):
    ``REGULAR_PER_SLOT × scale`` on each slot, ``HOT_PER_SCALE × scale`` more on the hot slot (the first
    of the fifth day), and ``MINE_PER_SCALE × scale`` for the regular citizen (the first lab's first
    slots)."""
    citizens = people.citizens
    if busy is None:
        rows = busy_slots(venues, today_kst() + timedelta(days=1))
        ids = await add_slots(db, rows)
        hot_index = 4 * len(BUSY_HOURS) * len(venues.labs)
        busy = Busy(tuple(ids), tuple(rows), ids[hot_index], rows[hot_index]["starts_at"].astimezone(KST).date(), 0)
    before, hot_index = busy.scale, busy.slot_ids.index(busy.hot_slot)
    top = max_scale(len(citizens))
    if scale > top:
        raise ValueError(f"scale {scale} needs more citizens than {len(citizens)} (at most scale {top})")
    n = len(citizens)
    bookings = []
    # Slot j's bookings are those of citizens j*7, j*7+1, ... (mod n); the hot slot's extra ones start
    # after the last citizen its regular bookings can reach at the highest scale, so none books it twice.
    for j, (slot_id, row) in enumerate(zip(busy.slot_ids, busy.slot_rows, strict=True)):
        for i in range(REGULAR_PER_SLOT * before, REGULAR_PER_SLOT * scale):
            bookings.append(booking_row(citizens[(j * 7 + i) % n].id, row, slot_id))
    hot_row, offset = busy.slot_rows[hot_index], hot_index * 7 + REGULAR_PER_SLOT * top
    for i in range(HOT_PER_SCALE * before, HOT_PER_SCALE * scale):
        bookings.append(booking_row(citizens[(offset + i) % n].id, hot_row, busy.hot_slot))
    # The regular citizen's bookings: the first slots of the first lab, one after the other.
    first_lab = [j for j, row in enumerate(busy.slot_rows) if row["space_id"] == venues.labs[0]]
    for j in first_lab[MINE_PER_SCALE * before : MINE_PER_SCALE * scale]:
        bookings.append(booking_row(people.regular.id, busy.slot_rows[j], busy.slot_ids[j]))
    await add_bookings(db, bookings)
    await sync_taken(db, venues.busy)
    return Busy(busy.slot_ids, busy.slot_rows, busy.hot_slot, busy.day, scale)


async def multiply_venues(db: Db, venues: Venues, copies_before: int, copies_after: int) -> None:
    """Copies ``copies_before+1 .. copies_after`` of every demo venue, with its spaces, opening hours and
    generated slots (no bookings): the catalogue becomes (1 + copies_after) times the demo's."""
    last = venues.last_demo_venue
    for k in range(copies_before + 1, copies_after + 1):
        suffix = f"-x{k}"
        params: dict[str, Any] = {"suffix": suffix, "last": last}
        await db.execute(
            "INSERT INTO venue (slug, kind, name, name_en, district, address, lat, lon, phone, description, "
            "description_en, is_sample, opens_on_holidays, is_active, rules, created_at, updated_at) "
            "SELECT slug || :suffix, kind, name || :suffix, name_en || :suffix, district, address, lat, lon, "
            "phone, description, description_en, is_sample, opens_on_holidays, is_active, rules, created_at, "
            "updated_at FROM venue WHERE id <= :last",
            **params,
        )
        await db.execute(
            "INSERT INTO space (venue_id, slug, kind, shape, name, name_en, capacity, max_party, slot_minutes, "
            "is_active, rules, created_at, updated_at) SELECT nv.id, s.slug, s.kind, s.shape, s.name, s.name_en, "
            "s.capacity, s.max_party, s.slot_minutes, s.is_active, s.rules, s.created_at, s.updated_at "
            "FROM space s JOIN venue ov ON ov.id = s.venue_id JOIN venue nv ON nv.slug = ov.slug || :suffix "
            "WHERE ov.id <= :last",
            **params,
        )
        await db.execute(
            "INSERT INTO opening_hours (venue_id, weekday, opens, closes, created_at, updated_at) "
            "SELECT nv.id, h.weekday, h.opens, h.closes, h.created_at, h.updated_at FROM opening_hours h "
            "JOIN venue ov ON ov.id = h.venue_id JOIN venue nv ON nv.slug = ov.slug || :suffix "
            "WHERE ov.id <= :last",
            **params,
        )
        await db.execute(
            "INSERT INTO slot (space_id, venue_id, starts_at, ends_at, capacity, taken, status, origin, note, "
            "sequence, created_at, updated_at) SELECT ns.id, ns.venue_id, sl.starts_at, sl.ends_at, sl.capacity, "
            "0, sl.status, sl.origin, sl.note, sl.sequence, sl.created_at, sl.updated_at FROM slot sl "
            "JOIN space os ON os.id = sl.space_id "
            "JOIN venue ov ON ov.id = os.venue_id JOIN venue nv ON nv.slug = ov.slug || :suffix "
            "JOIN space ns ON ns.venue_id = nv.id AND ns.slug = os.slug "
            "WHERE ov.id <= :last AND sl.origin = 'generated'",
            **params,
        )
    if not db.is_sqlite:
        await db.execute("ANALYZE")


async def add_scan_bookings(db: Db, venues: Venues, people: People) -> tuple[datetime, list[tuple[int, Person]]]:
    """A slot of bench-door starting in ten minutes (its check-in window is open: 30 minutes before to 15
    after), with a confirmed booking for every citizen; returns the start and (booking id, holder)."""
    starts = (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    row = slot_row(venues.door, venues.door_space, starts, 60, len(people.citizens), "bench scans")
    (slot_id,) = await add_slots(db, [row])
    ids = await add_bookings(db, [booking_row(c.id, row, slot_id) for c in people.citizens])
    await sync_taken(db, venues.door)
    return starts, list(zip(ids, people.citizens, strict=True))


@dataclass(frozen=True, slots=True)
class Ledger:
    """What the database says about some slots."""

    confirmed: int
    bookings: int
    units_taking: int
    taken: int
    slots_out_of_step: int  # slots whose ``taken`` differs from the places their bookings hold

    def as_json(self) -> dict[str, int]:
        return {
            "confirmed": self.confirmed,
            "bookings": self.bookings,
            "units_taking": self.units_taking,
            "taken": self.taken,
            "slots_out_of_step": self.slots_out_of_step,
        }


async def ledger(db: Db, slot_ids: Iterable[int]) -> Ledger:
    ids = list(slot_ids)
    booking, slot = db.t("booking"), db.t("slot")
    async with db.engine.connect() as conn:
        of = booking.c.slot_id.in_(bindparam("ids", expanding=True))
        confirmed = await conn.scalar(
            select(func.count()).select_from(booking).where(of, booking.c.status == "confirmed"), {"ids": ids}
        )
        count = await conn.scalar(select(func.count()).select_from(booking).where(of), {"ids": ids})
        units = await conn.scalar(
            select(func.coalesce(func.sum(booking.c.units), 0)).where(of, booking.c.status.in_(TAKING)), {"ids": ids}
        )
        taken = await conn.scalar(
            select(func.coalesce(func.sum(slot.c.taken), 0)).where(slot.c.id.in_(bindparam("ids", expanding=True))),
            {"ids": ids},
        )
        held = (
            select(func.coalesce(func.sum(booking.c.units), 0))
            .where(booking.c.slot_id == slot.c.id, booking.c.status.in_(TAKING))
            .scalar_subquery()
        )
        out_of_step = await conn.scalar(
            select(func.count())
            .select_from(slot)
            .where(slot.c.id.in_(bindparam("ids", expanding=True)), slot.c.taken != held),
            {"ids": ids},
        )
    return Ledger(int(confirmed or 0), int(count or 0), int(units or 0), int(taken or 0), int(out_of_step or 0))


# --- the pgbench yardstick -------------------------------------------------------------------------


async def prepare_hot_row(db: Db, venues: Venues) -> int:
    """PostgreSQL: a slot with room for any number of places, and ``bench_hot_booking``, a copy of the
    booking table (columns, defaults, CHECKs and indexes, the unique partial one included; no foreign
    keys) for pgbench's inserts. Returns the slot's id."""
    await db.execute(
        "CREATE TABLE bench_hot_booking (LIKE booking INCLUDING DEFAULTS INCLUDING IDENTITY "
        "INCLUDING CONSTRAINTS INCLUDING INDEXES)"
    )
    await db.execute("CREATE SEQUENCE bench_hot_user")
    starts = kst(today_kst() + timedelta(days=20), 14)
    (slot_id,) = await add_slots(db, [slot_row(venues.door, venues.rooms, starts, 60, 2_000_000_000, "pgbench")])
    return slot_id


async def drop_hot_row(db: Db, slot_id: int) -> int:
    """Removes what ``prepare_hot_row`` made; returns the places pgbench took."""
    taken = int(await db.scalar("SELECT taken FROM slot WHERE id = :id", id=slot_id) or 0)
    async with db.engine.begin() as conn:
        await conn.execute(update(db.t("slot")).where(db.t("slot").c.id == slot_id).values(taken=0))
        await conn.execute(db.t("slot").delete().where(db.t("slot").c.id == slot_id))
    await db.execute("DROP TABLE bench_hot_booking")
    await db.execute("DROP SEQUENCE bench_hot_user")
    return taken


# --- pgbench's booking transaction (the confirmed path's own yardstick) ------------------------------


def _week_bounds(instant: datetime) -> tuple[datetime, datetime]:
    """The Seoul week (Monday to Monday) of ``instant``, in UTC: the bounds of the weekly quota."""
    local = instant.astimezone(KST)
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday, time(0), KST).astimezone(UTC)
    return start, start + timedelta(days=7)


async def prepare_booking_tx(db: Db, venues: Venues, count: int) -> int:
    """PostgreSQL: what ``bench/booking_tx.sql`` books: ``count`` citizens with a token each, ``count``
    one-place slots in a space of bench-door of its own, and ``bench_tx_pair``, the n-th transaction's
    citizen, slot and times (taken in turn from ``bench_tx_seq``). Returns the space. Its bookings stay
    when pgbench is done (the audit log they write is append-only); no later measurement reads that
    space or those citizens."""
    (space,) = await db.insert("space", [_space(venues.door, "pgbench", "pgbench's bookings", 4, kind="classroom")])
    people = await add_people(db, count, "pgbench")
    starts = kst(today_kst() + timedelta(days=5), 10)
    slots = await add_slots(db, [slot_row(venues.door, space, starts, 60, 1, "pgbench") for _ in people])
    week_start, week_end = _week_bounds(starts)
    await db.execute(
        "CREATE TABLE bench_tx_pair (n bigint PRIMARY KEY, user_id bigint NOT NULL, slot_id bigint NOT NULL, "
        "token_hash text NOT NULL, space_id bigint NOT NULL, starts_at timestamptz NOT NULL, "
        "ends_at timestamptz NOT NULL, week_start timestamptz NOT NULL, week_end timestamptz NOT NULL)"
    )
    await db.execute("CREATE SEQUENCE bench_tx_seq")
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO bench_tx_pair (n, user_id, slot_id, token_hash, space_id, starts_at, ends_at, "
                "week_start, week_end) VALUES (:n, :user_id, :slot_id, :token_hash, :space_id, :starts_at, "
                ":ends_at, :week_start, :week_end)"
            ),
            [
                {
                    "n": n,
                    "user_id": person.id,
                    "slot_id": slot,
                    "token_hash": token_hash(person.token),
                    "space_id": space,
                    "starts_at": starts,
                    "ends_at": starts + timedelta(minutes=60),
                    "week_start": week_start,
                    "week_end": week_end,
                }
                for n, (person, slot) in enumerate(zip(people, slots, strict=True), start=1)
            ],
        )
    return space


async def finish_booking_tx(db: Db, space: int) -> tuple[int, int]:
    """Removes ``bench_tx_pair`` and its sequence; returns the bookings pgbench confirmed in ``space`` and
    the places its slots say are taken (the same, if every transaction did what the app does)."""
    confirmed = await db.scalar(
        "SELECT count(*) FROM booking WHERE space_id = :space AND status = 'confirmed'", space=space
    )
    taken = await db.scalar("SELECT coalesce(sum(taken), 0) FROM slot WHERE space_id = :space", space=space)
    await db.execute("DROP TABLE bench_tx_pair")
    await db.execute("DROP SEQUENCE bench_tx_seq")
    return int(confirmed or 0), int(taken or 0)
