"""Races for the last places, through HTTP with real concurrency.

Every racer's request goes through ``RacingClient`` (``httpx.ASGITransport``): the requests run as
concurrent tasks inside the app, each with its own database connection and transaction, so only the
database's guards can keep the invariant. Each race asserts that it raced (more than one request was
inside the app at once), that nobody got a 5xx, and the invariant: a slot's counter equals the sum of
the units of the bookings that hold a place in it, and never passes its capacity.

On SQLite the app queues each process's writers (``server.app.write_intent_middleware``) and writers
take the file's lock at BEGIN, so these races overlap in the app but their writes take turns; the
real-server rush (``tests/server/test_real_server.py``) races two processes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Iterable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from booking.models import TAKING, Booking
from core.clock import utcnow
from core.database import unit_of_work
from tests.booking.conftest import Client, book, slot_state
from tests.conftest import (
    Account,
    Database,
    MakeCitizens,
    MakeSlot,
    MakeSpace,
    MakeUser,
    MakeVenue,
    RacingClient,
    in_days,
)
from tests.programs.test_programs_http import programme
from venues.models import Slot, StayNight


async def race(racing: RacingClient, calls: Iterable[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """Run the calls at once; every answer is below 500, and they did overlap inside the app."""
    racing.peak = 0
    responses = await asyncio.gather(*calls)
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses if r.status_code >= 500]
    assert racing.peak > 1, "the requests ran one after another: this race raced nothing"
    return list(responses)


def outcome(responses: Iterable[httpx.Response]) -> Counter[str]:
    return Counter(r.json().get("status") if r.status_code in (200, 201) else r.json()["code"] for r in responses)


async def booking_race(racing: RacingClient, accounts: list[Account], **body: Any) -> Counter[str]:
    return outcome(await race(racing, (racing.post("/api/bookings", json=body, headers=a.headers) for a in accounts)))


async def assert_counted(db: Database, slot_id: int) -> tuple[int, int]:
    """The invariant: the counter is the sum of the places held, within the capacity."""
    taken, held = await slot_state(db, slot_id)
    async with unit_of_work(db.engine) as session:
        capacity = int(await session.scalar(select(Slot.capacity).where(Slot.id == slot_id)) or 0)
    assert taken == held, f"slot {slot_id}: taken={taken} but bookings hold {held}"
    assert 0 <= taken <= capacity, f"slot {slot_id}: taken={taken} of {capacity}"
    return taken, capacity


async def statuses(db: Database, slot_id: int) -> Counter[str]:
    async with unit_of_work(db.engine) as session:
        rows = await session.execute(
            select(Booking.status, func.count()).where(Booking.slot_id == slot_id).group_by(Booking.status)
        )
        return Counter({str(status): int(n) for status, n in rows.all()})


# --- one slot, many people ---------------------------------------------------------------------------


async def test_last_seats_of_a_shared_slot_go_to_exactly_capacity_of_forty_racers(
    racing: RacingClient,
    db: Database,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
    make_citizens: MakeCitizens,
) -> None:
    space = await make_space(capacity=30, max_party=1)
    slot = await make_slot(space, taken=25)  # five seats left
    outcome_ = await booking_race(racing, await make_citizens(40), slot_id=slot.id)
    assert outcome_ == {"confirmed": 5, "sold_out": 35}
    taken, held = await slot_state(db, slot.id)
    assert taken == 30
    assert held == 5  # the 25 pre-taken seats have no booking rows in this test


async def test_racers_asking_for_the_waitlist_are_queued_not_oversold(
    racing: RacingClient,
    db: Database,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
    make_citizens: MakeCitizens,
) -> None:
    space = await make_space(capacity=4, max_party=2)
    slot = await make_slot(space)
    outcome_ = await booking_race(racing, await make_citizens(20), slot_id=slot.id, party_size=2, join_waitlist=True)
    assert outcome_ == {"confirmed": 2, "waitlisted": 18}
    assert await assert_counted(db, slot.id) == (4, 4)


async def test_an_exclusive_room_goes_to_exactly_one_of_twenty_five_parties(
    racing: RacingClient,
    db: Database,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
    make_citizens: MakeCitizens,
) -> None:
    room = await make_space(kind="meeting_room", shape="exclusive", capacity=8, max_party=8)
    slot = await make_slot(room)
    outcome_ = await booking_race(racing, await make_citizens(25), slot_id=slot.id, party_size=5)
    assert outcome_ == {"confirmed": 1, "sold_out": 24}
    assert await assert_counted(db, slot.id) == (1, 1)


async def test_a_room_night_goes_to_exactly_one_of_twenty_five_families(
    racing: RacingClient,
    db: Database,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_user: MakeUser,
    make_citizens: MakeCitizens,
) -> None:
    town = await make_venue(kind="vitality_town", opens_on_holidays=True)
    room = await make_space(town, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    night = in_days(5).date()
    body = {
        "space_id": room.id,
        "check_in": night.isoformat(),
        "check_out": in_days(6).date().isoformat(),
        "party_size": 3,
    }
    outcome_ = await booking_race(racing, await make_citizens(25), **body)
    assert outcome_ == {"confirmed": 1, "sold_out": 24}
    async with unit_of_work(db.engine) as session:
        nights = await session.scalar(select(func.count()).select_from(StayNight).where(StayNight.space_id == room.id))
        holders = await session.scalar(
            select(func.count()).select_from(Booking).where(Booking.space_id == room.id, Booking.status.in_(TAKING))
        )
    assert (nights, holders) == (1, 1)


# --- one person, many taps ---------------------------------------------------------------------------


async def test_one_citizen_double_submitting_gets_one_booking(
    racing: RacingClient, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=10)
    slot = await make_slot(space)
    citizen = await make_user()
    outcome_ = await booking_race(racing, [citizen] * 12, slot_id=slot.id)
    assert outcome_ == {"confirmed": 1, "already_booked": 11}
    assert await assert_counted(db, slot.id) == (1, 10)


async def test_one_citizen_retrying_with_an_idempotency_key_gets_the_first_answer(
    racing: RacingClient,
    client: Client,
    db: Database,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:
    space = await make_space(capacity=10)
    slot = await make_slot(space)
    citizen = await make_user()
    headers = {**citizen.headers, "Idempotency-Key": "tap-4050-0001"}
    responses = await race(
        racing, (racing.post("/api/bookings", json={"slot_id": slot.id}, headers=headers) for _ in range(12))
    )
    assert [r.status_code for r in responses] == [201] * 12
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotency-replayed") == "true" for r in responses) == 11
    async with unit_of_work(db.engine) as session:
        assert await session.scalar(select(func.count()).select_from(Booking).where(Booking.user_id == citizen.id)) == 1
    assert await assert_counted(db, slot.id) == (1, 10)
    # The same key for a different request is refused, not replayed.
    other = await make_slot(space, start=in_days(4))
    reused = await client.post("/api/bookings", json={"slot_id": other.id}, headers=headers)
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_mismatch"


# --- the other ways to a place -----------------------------------------------------------------------


async def test_cancellations_racing_new_bookings_and_the_waitlist_never_oversell_nor_idle_a_place(
    racing: RacingClient,
    client: Client,
    db: Database,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
    make_citizens: MakeCitizens,
) -> None:
    """Freed places go to the waitlist (directly confirmed at a practice site) while new citizens try to
    book the same places and others join the queue, all at once."""
    space = await make_space(capacity=4, max_party=1)
    slot = await make_slot(space)
    holders, waiting = await make_citizens(4), await make_citizens(3)
    held = [(await book(client, h.headers, slot_id=slot.id)).json() for h in holders]
    assert [b["status"] for b in held] == ["confirmed"] * 4
    for w in waiting:
        assert (await book(client, w.headers, slot_id=slot.id, join_waitlist=True)).json()["status"] == "waitlisted"
    newcomers, queuers = await make_citizens(6), await make_citizens(4)

    cancels = [
        racing.post(f"/api/bookings/{b['id']}/cancel", headers=h.headers) for b, h in zip(held, holders, strict=True)
    ]
    grabs = [racing.post("/api/bookings", json={"slot_id": slot.id}, headers=n.headers) for n in newcomers]
    queues = [
        racing.post("/api/bookings", json={"slot_id": slot.id, "join_waitlist": True}, headers=q.headers)
        for q in queuers
    ]
    responses = await race(racing, [*cancels, *grabs, *queues])
    assert [r.json()["status"] for r in responses[:4]] == ["cancelled"] * 4
    assert set(outcome(responses[4:10])) <= {"confirmed", "sold_out"}
    assert set(outcome(responses[10:])) <= {"confirmed", "waitlisted"}

    taken, capacity = await assert_counted(db, slot.id)
    states = await statuses(db, slot.id)
    assert states["cancelled"] == 4
    # Thirteen people wanted four freed places: none may stay free while anybody waits.
    assert taken == capacity, states
    assert states["confirmed"] == 4, states


async def test_a_whole_course_goes_to_exactly_capacity_of_twenty_racers_all_sessions_or_none(
    racing: RacingClient,
    client: Client,
    db: Database,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_user: MakeUser,
    make_citizens: MakeCitizens,
) -> None:
    venue = await make_venue(hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, capacity=20)
    admin = await make_user(role="admin")
    created = await client.post(
        "/api/programs",
        json=programme(venue.id, space.id, kind="course", enrolment="course", min_age=None, capacity=5),
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    course = created.json()
    slots = [s["slot_id"] for s in course["sessions"] if s["status"] == "scheduled"]
    assert len(slots) == 3
    racers = await make_citizens(20)
    responses = await race(
        racing,
        (racing.post(f"/api/programs/{course['id']}/enrol", json={"party_size": 1}, headers=r.headers) for r in racers),
    )
    enrolled = [r for r in responses if r.status_code == 201]
    assert len(enrolled) == 5, Counter(r.json().get("code") for r in responses)
    assert {r.json()["code"] for r in responses if r.status_code != 201} == {"sold_out"}
    assert all(len(r.json()["bookings"]) == 3 for r in enrolled)
    for slot_id in slots:
        assert await assert_counted(db, slot_id) == (5, 5)
    # All or none: the holders of every session are the same five people.
    async with unit_of_work(db.engine) as session:
        rows = (
            await session.execute(
                select(Booking.slot_id, Booking.user_id).where(Booking.slot_id.in_(slots), Booking.status.in_(TAKING))
            )
        ).all()
    by_slot = {slot_id: {user for s, user in rows if s == slot_id} for slot_id in slots}
    assert len({frozenset(users) for users in by_slot.values()}) == 1
    assert len(by_slot[slots[0]]) == 5


async def test_walk_ins_at_the_door_racing_online_bookings_take_only_the_places_left(
    racing: RacingClient,
    client: Client,
    db: Database,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
    make_citizens: MakeCitizens,
) -> None:
    # Bookings stay open until the start here, so that people online and at the door want the same places.
    venue = await make_venue(rules={"booking_closes_minutes_before": 0})
    space = await make_space(venue, capacity=8, max_party=2)
    staff = [await make_user(role="staff", venues=[venue]) for _ in range(2)]
    slot = await make_slot(space, start=utcnow().replace(microsecond=0) + timedelta(minutes=10))
    early = await make_citizens(3)
    for citizen in early:  # five of eight places left
        assert (await book(client, citizen.headers, slot_id=slot.id)).json()["status"] == "confirmed"
    online = await make_citizens(8)

    walk_ins = [
        racing.post(
            f"/api/checkin/venues/{venue.id}/walk-ins",
            json={"slot_id": slot.id, "name": f"현장손님{i}", "party_size": 1},
            headers=staff[i % 2].headers,
        )
        for i in range(8)
    ]
    bookings = [racing.post("/api/bookings", json={"slot_id": slot.id}, headers=c.headers) for c in online]
    responses = await race(racing, [*walk_ins, *bookings])
    won = Counter("walk_in" if i < 8 else "online" for i, r in enumerate(responses) if r.status_code == 201)
    assert sum(won.values()) == 5, (won, outcome(responses))
    assert {r.json()["code"] for r in responses if r.status_code != 201} == {"sold_out"}
    assert [r.json()["status"] for r in responses[:8] if r.status_code == 201] == ["checked_in"] * won["walk_in"]
    assert await assert_counted(db, slot.id) == (8, 8)
