"""Scheduled work of the booking engine. Each job takes one item per transaction, locks in the engine's
order (citizen, then booking, then slot) and is idempotent: running it twice, or in two processes at
once, changes nothing the second time (every change is a conditional UPDATE that only one run wins)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from booking.lottery import Lottery
from booking.models import Booking, BookingStatus
from booking.noshows import NoShows
from booking.waitlist import Waitlist, promote_all, slots_with_free_places_and_a_queue
from core.clock import utcnow
from core.database import unit_of_work
from core.settings import Settings
from venues.slots import extend_horizon


async def _each(
    engine: AsyncEngine,
    find: Callable[[AsyncSession], Awaitable[list[int]]],
    work: Callable[[AsyncSession, int], Awaitable[bool]],
) -> int:
    """Find the items in one transaction, then do each in a transaction of its own."""
    async with unit_of_work(engine) as session:
        items = await find(session)
    done = 0
    for item in items:
        async with unit_of_work(engine) as session:
            done += bool(await work(session, item))
    return done


async def extend_slot_horizon(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    async with unit_of_work(engine) as session:
        return await extend_horizon(session, now=now)


async def expire_offers(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    at = now or utcnow()

    async def due(session: AsyncSession) -> list[int]:
        return list(
            (
                await session.scalars(
                    select(Booking.id)
                    .where(Booking.status == BookingStatus.OFFERED, Booking.offer_expires_at <= at)
                    .order_by(Booking.id)
                )
            ).all()
        )

    return await _each(engine, due, lambda session, booking_id: Waitlist(session, at).expire(booking_id))


async def mark_no_shows(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    at = now or utcnow()
    return await _each(
        engine,
        lambda session: NoShows(session, at).due(),
        lambda session, booking_id: NoShows(session, at).mark(booking_id),
    )


async def draw_lotteries(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    at = now or utcnow()
    return await _each(
        engine,
        lambda session: Lottery(session, at).due(),
        lambda session, program_id: Lottery(session, at).draw(program_id),
    )


async def promote_waitlists(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    """The safety net of the waitlist: slots with a free place and a queue (a follow-up that failed, a
    capacity raised) get their queue moved up."""
    at = now or utcnow()
    async with unit_of_work(engine) as session:
        slot_ids = await slots_with_free_places_and_a_queue(session, at)
    return sum([await promote_all(engine, slot_id, at) for slot_id in slot_ids])
