"""Factories for the booking tests: slots at times relative to now, and a booking helper over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from booking.models import TAKING, Booking
from server.clock import KST, kst, utcnow
from server.database import unit_of_work
from tests.conftest import Database
from venues.models import Slot, SlotStatus, Space

Client = AsyncTestClient[Litestar]
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


async def book(client: Client, headers: dict[str, str], **body: Any) -> Any:
    return await client.post("/api/bookings", json=body, headers=headers)


async def slot_state(db: Database, slot_id: int) -> tuple[int, int]:
    """The slot's counter, and the sum of the units of the bookings that hold a place in it."""
    async with unit_of_work(db.engine) as s:
        taken = await s.scalar(select(Slot.taken).where(Slot.id == slot_id))
        held = await s.scalar(
            select(func.coalesce(func.sum(Booking.units), 0)).where(
                Booking.slot_id == slot_id, Booking.status.in_(TAKING)
            )
        )
    return int(taken or 0), int(held or 0)
