"""Free places of a space, or of every space of a venue, over a range of Seoul days: slots with their
places left, and nights of rooms free or taken. Reading only, in a few queries whatever the range."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.placement import of_space
from booking.schemas import Availability, NightRead, SlotRead
from core.clock import day_bounds_utc, to_kst
from core.validation import check_date_range
from venues.days import day_statuses
from venues.models import Slot, SlotStatus, Space, SpaceShape, StayNight, Venue
from venues.services import VenueService

MAX_AVAILABILITY_DAYS = 62


async def of_space_between(session: AsyncSession, space_id: int, start: date, end: date) -> Availability:
    check_date_range(start, end, MAX_AVAILABILITY_DAYS)
    placement = await of_space(session, space_id)
    return (await _availability(session, placement.venue, [placement.space], start, end))[0]


async def of_venue_between(session: AsyncSession, venue_id: int, start: date, end: date) -> list[Availability]:
    check_date_range(start, end, MAX_AVAILABILITY_DAYS)
    venue = await VenueService(session).get(venue_id)
    spaces = (
        await session.scalars(
            select(Space).where(Space.venue_id == venue_id, Space.is_active.is_(True)).order_by(Space.id)
        )
    ).all()
    return await _availability(session, venue, list(spaces), start, end)


async def _availability(
    session: AsyncSession, venue: Venue, spaces: list[Space], start: date, end: date
) -> list[Availability]:
    lower, _ = day_bounds_utc(start)
    _, upper = day_bounds_utc(end)
    slot_space_ids = [s.id for s in spaces if s.shape != SpaceShape.STAY]
    slots_by_space: dict[int, list[SlotRead]] = {sid: [] for sid in slot_space_ids}
    if slot_space_ids:
        rows = await session.execute(
            select(Slot.id, Slot.space_id, Slot.starts_at, Slot.ends_at, Slot.capacity, Slot.taken, Slot.status)
            .where(Slot.space_id.in_(slot_space_ids), Slot.starts_at >= lower, Slot.starts_at < upper)
            .order_by(Slot.space_id, Slot.starts_at)
        )
        for sid, space_id, starts_at, ends_at, capacity, taken, status in rows:
            remaining = max(capacity - taken, 0) if status == SlotStatus.OPEN else 0
            slots_by_space[space_id].append(
                SlotRead(
                    id=sid,
                    start=to_kst(starts_at),
                    end=to_kst(ends_at),
                    capacity=capacity,
                    remaining=remaining,
                    status=status,
                )
            )
    stay_spaces = [s for s in spaces if s.shape == SpaceShape.STAY]
    taken_nights: set[tuple[int, date]] = set()
    if stay_spaces:
        taken_rows = await session.execute(
            select(StayNight.space_id, StayNight.night).where(
                StayNight.space_id.in_([s.id for s in stay_spaces]), StayNight.night >= start, StayNight.night <= end
            )
        )
        taken_nights = {(sid, night) for sid, night in taken_rows}
    result: list[Availability] = []
    for space in spaces:
        if space.shape == SpaceShape.STAY:
            days = await day_statuses(session, venue, start, end, space_id=space.id)
            nights = [
                NightRead(date=d.date, available=d.open and (space.id, d.date) not in taken_nights and space.is_active)
                for d in days
            ]
            result.append(Availability(space_id=space.id, shape=space.shape, nights=nights))
        else:
            result.append(Availability(space_id=space.id, shape=space.shape, slots=slots_by_space[space.id]))
    return result
