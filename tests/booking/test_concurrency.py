"""Races for the last places, through HTTP with real concurrency: every request has its own database
connection and transaction, so only the database's guards can keep the invariant."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from booking.models import Booking
from core.database import unit_of_work
from tests.booking.conftest import Client, book, slot_state
from tests.conftest import Account, Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from venues.models import StayNight


async def race(client: Client, accounts: list[Account], **body: Any) -> Counter[str]:
    responses = await asyncio.gather(*(book(client, a.headers, **body) for a in accounts))
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses if r.status_code >= 500]
    return Counter(r.json().get("status") if r.status_code == 201 else r.json()["code"] for r in responses)


async def test_last_seats_of_a_shared_slot_go_to_exactly_capacity_of_forty_racers(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=30, max_party=1)
    slot = await make_slot(space, taken=25)  # five seats left
    racers = [await make_user() for _ in range(40)]
    outcome = await race(client, racers, slot_id=slot.id)
    assert outcome == {"confirmed": 5, "sold_out": 35}
    taken, held = await slot_state(db, slot.id)
    assert taken == 30
    assert held == 5  # the 25 pre-taken seats have no booking rows in this test


async def test_racers_asking_for_the_waitlist_are_queued_not_oversold(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=4, max_party=2)
    slot = await make_slot(space)
    racers = [await make_user() for _ in range(20)]
    outcome = await race(client, racers, slot_id=slot.id, party_size=2, join_waitlist=True)
    assert outcome == {"confirmed": 2, "waitlisted": 18}
    assert await slot_state(db, slot.id) == (4, 4)


async def test_an_exclusive_room_goes_to_exactly_one_of_twenty_five_parties(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    room = await make_space(kind="meeting_room", shape="exclusive", capacity=8, max_party=8)
    slot = await make_slot(room)
    outcome = await race(client, [await make_user() for _ in range(25)], slot_id=slot.id, party_size=5)
    assert outcome == {"confirmed": 1, "sold_out": 24}
    assert await slot_state(db, slot.id) == (1, 1)


async def test_a_room_night_goes_to_exactly_one_of_twenty_five_families(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
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
    outcome = await race(client, [await make_user() for _ in range(25)], **body)
    assert outcome == {"confirmed": 1, "sold_out": 24}
    async with unit_of_work(db.engine) as session:
        nights = await session.scalar(select(func.count()).select_from(StayNight).where(StayNight.space_id == room.id))
    assert nights == 1


async def test_one_citizen_double_submitting_gets_one_booking(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=10)
    slot = await make_slot(space)
    citizen = await make_user()
    outcome = await race(client, [citizen] * 12, slot_id=slot.id)
    assert outcome == {"confirmed": 1, "already_booked": 11}
    assert await slot_state(db, slot.id) == (1, 1)


async def test_one_citizen_retrying_with_an_idempotency_key_gets_the_first_answer(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=10)
    slot = await make_slot(space)
    citizen = await make_user()
    headers = {**citizen.headers, "Idempotency-Key": "tap-4050-0001"}
    responses = await asyncio.gather(
        *(client.post("/api/bookings", json={"slot_id": slot.id}, headers=headers) for _ in range(12))
    )
    assert [r.status_code for r in responses] == [201] * 12
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotency-replayed") == "true" for r in responses) == 11
    async with unit_of_work(db.engine) as session:
        assert await session.scalar(select(func.count()).select_from(Booking).where(Booking.user_id == citizen.id)) == 1
    assert await slot_state(db, slot.id) == (1, 1)
    # The same key for a different request is refused, not replayed.
    other = await make_slot(space, start=in_days(4))
    reused = await client.post("/api/bookings", json={"slot_id": other.id}, headers=headers)
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_mismatch"
