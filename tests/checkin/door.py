"""A venue's door for check-in tests: a lab, its staff, bookings starting at a given time, scans, codes.
Registered as a pytest plugin (tests/conftest.py), so that any test can ask for ``door``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from accounts.models import User
from booking.models import Booking
from booking.schemas import BookingCreate
from booking.services import BookingService
from core.clock import utcnow
from core.database import unit_of_work
from tests.booking.conftest import Client
from tests.conftest import Account, Database, MakeSlot, MakeSpace, MakeUser, MakeVenue
from venues.models import Space, Venue


class Door:
    """A venue with a lab, its staff, and a way to book a citizen into a slot starting at a given time."""

    def __init__(self, db: Database, venue: Venue, space: Space, staff: Account, make_slot: MakeSlot) -> None:
        self.db, self.venue, self.space, self.staff, self.make_slot = db, venue, space, staff, make_slot

    async def booking(self, citizen: Account, starts_in: timedelta, party_size: int = 1, **slot: Any) -> Booking:
        start = utcnow().replace(microsecond=0) + starts_in
        made = await self.make_slot(self.space, start=start, **slot)
        async with unit_of_work(self.db.engine) as session:
            user = await session.get(User, citizen.id)
            assert user is not None
            # Booked the day before, when the window was open.
            service = BookingService(session, now=start - timedelta(days=1))
            answer, _ = await service.book(user, BookingCreate(slot_id=made.id, party_size=party_size))
            booking = await session.get(Booking, answer.id)
            assert booking is not None
            return booking

    async def scan(self, client: Client, payload: str, **extra: Any) -> dict[str, Any]:
        body = {"payload": payload, "venue_id": self.venue.id, **extra}
        response = await client.post("/api/checkin/scan", json=body, headers=self.staff.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
async def door(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser, make_slot: MakeSlot
) -> Door:
    venue = await make_venue()
    space = await make_space(venue, capacity=20, max_party=4)
    staff = await make_user(role="staff", venues=[venue])
    return Door(db, venue, space, staff, make_slot)


async def code_of(client: Client, citizen: Account, booking_id: int) -> str:
    response = await client.get(f"/api/bookings/{booking_id}/qr", headers=citizen.headers)
    assert response.status_code == 200, response.text
    payload: str = response.json()["payload"]
    return payload
