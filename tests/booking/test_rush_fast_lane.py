"""The rush's "sold out" from memory (``server.fast_lane``, ``booking.rush``): the same answer as the
booking route's, given without the route, and never when the route would answer otherwise."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event, func, select, update

from accounts.models import User
from booking.models import Booking, BookingEvent
from booking.rush import FullSlots
from core.catalogue_version import VersionReader
from core.clock import utcnow
from core.database import unit_of_work
from core.settings import Rate
from notifications.models import Notice, OutboxMessage
from server.app import create_app
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client, book, slot_state
from tests.conftest import Account, Database, MakeSlot, MakeSpace, MakeUser
from venues.models import Slot


@contextmanager
def statements_of(db: Database, *, bumps: bool = False) -> Iterator[list[str]]:
    """The SQL the engine runs meanwhile, version reads aside (on SQLite they never reach the engine);
    with ``bumps``, the statements that bump the version too."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (
            "catalogue_version" not in statement or (bumps and "UPDATE catalogue_version" in statement)
        ) and not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def keyed(client: Client, account: Account, slot_id: int, key: str | None = None, **headers: str) -> Any:
    extra = {"Idempotency-Key": key or uuid.uuid4().hex, **headers}
    return await client.post("/api/bookings", json={"slot_id": slot_id}, headers={**account.headers, **extra})


async def full_slot(make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser, client: Client) -> Any:
    space = await make_space(capacity=1)
    slot = await make_slot(space)
    holder = await make_user()
    assert (await book(client, holder.headers, slot_id=slot.id)).status_code == 201
    return slot, holder


async def refused_once(make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser, client: Client) -> Any:
    """A full slot, and a citizen refused it once (the slot and the citizen now remembered)."""
    slot, _ = await full_slot(make_space, make_slot, make_user, client)
    citizen = await make_user()
    assert_problem(await keyed(client, citizen, slot.id), 409, "sold_out")
    return slot, citizen


async def test_a_sold_out_slot_is_refused_from_memory_after_the_first_answer(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot, _ = await full_slot(make_space, make_slot, make_user, client)
    citizen = await make_user()
    assert_problem(await keyed(client, citizen, slot.id), 409, "sold_out")  # reads the slot, the account
    with statements_of(db) as statements:
        for _ in range(3):  # each with a new key, as a browser retrying sends
            problem = assert_problem(await keyed(client, citizen, slot.id), 409, "sold_out")
            assert problem["remaining"] == 0
    assert statements == []  # no route, no account query, no transaction
    assert await slot_state(db, slot.id) == (1, 1)


@pytest.mark.parametrize("who", ["someone else", "the holder", "the holder, suspended since"])
async def test_the_answer_from_memory_is_the_routes_own(
    client: Client,
    db: Database,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
    who: str,
) -> None:
    """``sold_out``, or ``already_booked`` to the holder, by both ways in: even to a holder suspended
    since they booked (a rule the route checks only after the citizen's lock)."""
    slot, booked = await full_slot(make_space, make_slot, make_user, client)
    citizen = await make_user() if who == "someone else" else booked
    if who == "the holder, suspended since":
        async with unit_of_work(db.engine) as session:
            await session.execute(
                update(User).where(User.id == booked.id).values(suspended_until=utcnow() + timedelta(days=7))
            )
    code = "sold_out" if who == "someone else" else "already_booked"
    answers = {}
    for language in ("ko", "en"):
        await keyed(client, citizen, slot.id, **{"Accept-Language": language})  # makes the answer's bytes
        fast = await keyed(client, citizen, slot.id, **{"Accept-Language": language})  # given from them
        with monkeypatch.context() as patched:
            patched.setattr(FullSlots, "refusal", lambda *args: _none())
            with statements_of(db) as statements:
                ordinary = await keyed(client, citizen, slot.id, **{"Accept-Language": language})
            assert statements  # this one went the ordinary way
        assert (fast.status_code, fast.content) == (ordinary.status_code, ordinary.content)
        skip = {"date", "x-request-id"}
        assert {k: v for k, v in fast.headers.items() if k not in skip} == {
            k: v for k, v in ordinary.headers.items() if k not in skip
        }
        answers[language] = fast.json()
    assert answers["ko"]["detail"] != answers["en"]["detail"]
    assert answers["en"]["code"] == code
    assert (await keyed(client, citizen, slot.id, Cookie="lang=en")).json()["detail"] == answers["en"]["detail"]


async def _none() -> None:
    return None


async def test_a_slot_with_places_is_read_once_on_the_way_to_the_route(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    """The lane's look at the slot (places left) is handed to the route, which does not look again. The
    lane reads it the way the catalogue version is read (``VersionReader.fetch_row``: on a SQLite file
    its own connection, which the engine never sees), with no session of its own."""
    slot = await make_slot(await make_space(capacity=2))
    looks: list[str] = []
    fetch_row = VersionReader.fetch_row

    async def seen(self: VersionReader, sql: str, params: tuple[Any, ...] = ()) -> Any:
        looks.append(sql)
        return await fetch_row(self, sql, params)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(VersionReader, "fetch_row", seen)
        for citizen in (await make_user(), await make_user()):  # a place, then the last place
            looks.clear()
            with statements_of(db) as statements:
                assert (await keyed(client, citizen, slot.id)).status_code == 201
            assert sum("slot.capacity - slot.taken" in s for s in looks) == 1
            # The engine sees no other look: on PostgreSQL without a pool (the tests') the reader's own
            # read goes through the engine; on a SQLite file it never does.
            through_engine = 0 if db.backend == "sqlite" else 1
            assert sum("slot.capacity - slot.taken" in s for s in statements) == through_engine


async def test_the_holder_is_answered_from_memory_and_a_retry_by_the_route(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=1)
    slot = await make_slot(space)
    holder, other = await make_user(), await make_user()
    first = await keyed(client, holder, slot.id, "first-try")
    assert first.status_code == 201
    assert_problem(await keyed(client, other, slot.id), 409, "sold_out")  # the slot is known full now
    assert_problem(await keyed(client, holder, slot.id), 409, "already_booked")  # reads their keys
    with statements_of(db) as statements:
        assert_problem(await keyed(client, holder, slot.id), 409, "already_booked")
    assert statements == []  # a holder asking again, as at 10:00, is answered from memory
    retry = await keyed(client, holder, slot.id, "first-try")
    assert (retry.status_code, retry.json()["id"]) == (201, first.json()["id"])
    assert retry.headers["Idempotency-Replayed"] == "true"
    # The holder cancels: the retry with the first key still gets the first answer, not "sold out".
    assert (await client.post(f"/api/bookings/{first.json()['id']}/cancel", headers=holder.headers)).is_success
    assert (await keyed(client, other, slot.id)).status_code == 201  # the place freed is taken at once
    again = await keyed(client, holder, slot.id, "first-try")
    assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])
    # A key used for another slot is a mismatch, whichever slot is full.
    elsewhere = await make_slot(await make_space(capacity=5))
    assert (await keyed(client, holder, elsewhere.id, "used-elsewhere")).status_code == 201
    assert_problem(await keyed(client, holder, slot.id, "used-elsewhere"), 409, "idempotency_mismatch")


async def test_a_freed_place_or_a_bigger_slot_is_seen_at_once(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot, holder = await full_slot(make_space, make_slot, make_user, client)
    waiting, later = await make_user(), await make_user()
    assert_problem(await keyed(client, waiting, slot.id), 409, "sold_out")
    mine = (await client.get("/api/me/bookings", headers=holder.headers)).json()["items"][0]
    assert (await client.post(f"/api/bookings/{mine['id']}/cancel", headers=holder.headers)).is_success
    assert (await keyed(client, waiting, slot.id)).status_code == 201
    assert_problem(await keyed(client, later, slot.id), 409, "sold_out")
    async with unit_of_work(db.engine) as s:  # a manager gives the slot a second place
        await s.execute(update(Slot).where(Slot.id == slot.id).values(capacity=2))
    assert (await keyed(client, later, slot.id)).status_code == 201
    assert await slot_state(db, slot.id) == (2, 2)


async def test_a_revoked_token_is_refused_though_it_was_remembered(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot, citizen = await refused_once(make_space, make_slot, make_user, client)
    assert (await client.post("/api/auth/logout", headers=citizen.headers)).is_success
    assert_problem(await keyed(client, citizen, slot.id), 401, "unauthenticated")


async def test_who_a_token_is_is_remembered_through_other_peoples_bookings(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    """In a rush every booking moves the version, and what was read under it is read again (the slot,
    the citizen's keys); who the token is is kept: a booking changes no token (the accounts version)."""
    slot, citizen = await refused_once(make_space, make_slot, make_user, client)
    other = await make_user()
    assert (await keyed(client, other, (await make_slot(await make_space())).id)).status_code == 201
    with statements_of(db) as statements:
        assert_problem(await keyed(client, citizen, slot.id), 409, "sold_out")
    assert statements  # the slot and the keys, under the new version
    assert not any("access_token" in statement for statement in statements), statements


async def test_a_citizens_first_refusal_reads_their_token_and_keys_on_one_connection(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    """At 10:00 most citizens ask once: their first refusal is the one that counts. Who the token is and
    which keys its holder used come from one session (one connection from the pool), not one each."""
    newcomer = await make_user()  # first: a new account moves the version (the slot would be read again)
    slot, _ = await refused_once(make_space, make_slot, make_user, client)  # the slot now remembered
    # The connections themselves, kept alive: ids of freed ones could be given again.
    used: dict[str, list[object]] = {"access_token": [], "idempotency_record": []}

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        for table, connections in used.items():
            if table in statement:
                connections.append(conn.connection.dbapi_connection)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        assert_problem(await keyed(client, newcomer, slot.id), 409, "sold_out")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)
    assert len(used["access_token"]) == 1, used  # read once, then remembered
    assert len(used["idempotency_record"]) == 1, used
    assert used["idempotency_record"][0] is used["access_token"][0], used


async def test_bad_requests_get_the_routes_answers(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot, citizen = await refused_once(make_space, make_slot, make_user, client)
    bad_key = await client.post(
        "/api/bookings", json={"slot_id": slot.id}, headers={**citizen.headers, "Idempotency-Key": "x" * 256}
    )
    assert_problem(bad_key, 400, "validation_error")
    unknown = await client.post("/api/bookings", json={"slot_id": slot.id, "seat": 3}, headers=citizen.headers)
    assert_problem(unknown, 400, "validation_error")
    nobody = await client.post("/api/bookings", json={"slot_id": slot.id}, headers={"Authorization": "Bearer nope"})
    assert_problem(nobody, 401, "unauthenticated")
    waitlisted = await client.post(
        "/api/bookings", json={"slot_id": slot.id, "join_waitlist": True}, headers=citizen.headers
    )
    assert waitlisted.status_code == 201
    assert waitlisted.json()["status"] == "waitlisted"


async def test_refusals_from_memory_count_in_the_abuse_limits(
    db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    settings = dataclasses.replace(db.settings, rate_limit_booking_account=Rate(3, 60))
    async with AsyncTestClient(app=create_app(settings, engine=db.engine)) as client:
        slot, _ = await full_slot(make_space, make_slot, make_user, client)
        citizen = await make_user()
        for _ in range(3):
            assert_problem(await keyed(client, citizen, slot.id), 409, "sold_out")
        limited = assert_problem(await keyed(client, citizen, slot.id), 429, "rate_limited")
        assert limited["limit"] == "booking"


async def test_a_confirmed_booking_locks_its_citizen_with_its_token_and_writes_its_bookkeeping_with_the_commit(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    """The booking route's authentication takes the citizen's lock (no second statement for it); the
    history row, audit entry, notice, its message and the first answer go with the commit, on PostgreSQL
    in one statement with the catalogue version's bump."""
    slot = await make_slot(await make_space(capacity=2))
    citizen = await make_user()
    with statements_of(db, bumps=True) as statements:
        assert (await keyed(client, citizen, slot.id)).status_code == 201
    assert not any("user_account.suspended_until \nFROM user_account" in s for s in statements)
    token_reads = [s for s in statements if "JOIN access_token" in s]
    assert len(token_reads) == 1
    bookkeeping = ("booking_event", "audit_entry", "notice", "outbox_message", "idempotency_record")
    writes = [s for s in statements if any(f"INSERT INTO {table} " in s for table in bookkeeping)]
    if db.backend == "postgres":
        assert "FOR UPDATE OF user_account" in token_reads[0]
        assert len(writes) == 1
        assert all(f"INSERT INTO {table} " in writes[0] for table in bookkeeping)
        assert "UPDATE catalogue_version" in writes[0]
    else:
        assert len(writes) == len(bookkeeping)
    async with unit_of_work(db.engine) as s:
        booking_id = await s.scalar(select(Booking.id).where(Booking.user_id == citizen.id))
        assert booking_id is not None
        assert await s.scalar(select(func.count()).where(BookingEvent.booking_id == booking_id)) == 1
        notice_id = await s.scalar(select(Notice.id).where(Notice.booking_id == booking_id))
        assert await s.scalar(select(func.count()).where(OutboxMessage.notice_id == notice_id)) == 1
