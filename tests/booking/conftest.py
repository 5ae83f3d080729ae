"""Factories for the booking tests: slots at times relative to now, and a booking helper over HTTP."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from booking.eligibility import Eligibility
from booking.models import TAKING, Booking
from core.database import unit_of_work
from tests.conftest import Database
from venues.models import Slot

Client = AsyncTestClient[Litestar]


def switch_off_overlap_rule(monkeypatch: Any) -> None:
    """The rules about a citizen's own bookings without the overlap rule (the limits stay), so that a
    second booking of the same slot reaches the database's one-booking-per-slot constraint."""
    own_record = Eligibility.own_record

    async def without_overlap(self: Eligibility, *args: Any, **kwargs: Any) -> None:
        await own_record(self, *args, **{**kwargs, "overlap": False})

    monkeypatch.setattr(Eligibility, "own_record", without_overlap)


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
