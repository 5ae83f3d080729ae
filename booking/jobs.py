"""Scheduled work of the booking engine. Each job is idempotent and safe to run in two processes at once:
slot generation inserts with ON CONFLICT DO NOTHING, and every change of a booking is a conditional
UPDATE that only one run can win."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from booking.services import BookingService
from core.database import unit_of_work
from core.settings import Settings
from venues.models import Closure
from venues.slots import extend_horizon


async def extend_slot_horizon(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    async with unit_of_work(engine) as session:
        return await extend_horizon(session, now=now)


async def expire_offers(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    async with unit_of_work(engine) as session:
        return await BookingService(session, now=now).expire_offers()


async def mark_no_shows(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    async with unit_of_work(engine) as session:
        return await BookingService(session, now=now).mark_no_shows()


async def draw_lotteries(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    from booking.enrolment import EnrolmentService

    async with unit_of_work(engine) as session:
        return await EnrolmentService(session, now=now).draw_due()


async def on_closure_added(session: AsyncSession, closure: Closure) -> None:
    """Registered in ``venues.services.closure_hooks``: a new closure cancels the bookings it hits."""
    await BookingService(session).cancel_for_closure(closure)
