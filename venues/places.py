"""The only writer of places: ``slot.taken`` and the stay nights of rooms.

Every way to a place (a booking, a waitlist promotion, a course, a lottery win, a walk-in, a camp
family) ends in one of these functions, and each is a single guarded statement, so that the database,
not a check in Python, decides who gets the last place whatever runs at the same time:
- a slot's place: ``UPDATE slot SET taken = taken + n WHERE id = :id AND status = 'open' AND
  taken + n <= capacity``, backed by ``CHECK (taken BETWEEN 0 AND capacity)``;
- a room's night: one ``stay_night`` row per room and night, unique, so a night cannot be sold twice;
- a camp family's room: ``UPDATE stay_night SET booking_id = :b WHERE program_session_id = :s AND
  space_id = :room AND booking_id IS NULL`` for every night of the camp at once.

Callers run these inside a savepoint and roll it back when a function answers that there was no place.
Lock order across the engine: the citizen's account row, then the booking, then the slot, then nights.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Final

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.database import constraint_of
from venues.models import Slot, SlotStatus, Space, StayNight

NIGHT_TAKEN = "uq_stay_night_space_night"


# Each made once (module constants, run with their parameters): the guarded UPDATE runs in every
# booking, while the slot's lock is held, so it builds no SQL of its own there.
_TAKE: Final = (
    update(Slot)
    .where(
        Slot.id == bindparam("slot_id"),
        Slot.status == SlotStatus.OPEN,
        Slot.taken + bindparam("units") <= Slot.capacity,
    )
    .values(taken=Slot.taken + bindparam("units"))
    .execution_options(synchronize_session=False)
)
_TAKE_BACK: Final = (
    update(Slot)
    .where(Slot.id == bindparam("slot_id"), Slot.taken + bindparam("units") <= Slot.capacity)
    .values(taken=Slot.taken + bindparam("units"))
    .execution_options(synchronize_session=False)
)
_GIVE_BACK: Final = (
    update(Slot)
    .where(Slot.id == bindparam("slot_id"))
    .values(taken=Slot.taken - bindparam("units"))
    .execution_options(synchronize_session=False)
)
_REMAINING: Final = select(Slot.capacity - Slot.taken).where(Slot.id == bindparam("slot_id"))
# The places left in a slot that takes bookings (no row: not there or not open); also read outside any
# session, the way the catalogue version is (``booking.rush``).
LEFT_IF_OPEN: Final = select(Slot.capacity - Slot.taken).where(
    Slot.id == bindparam("slot_id"), Slot.status == SlotStatus.OPEN
)


async def take(session: AsyncSession, slot_id: int, units: int) -> bool:
    """Take ``units`` of an open slot if they are there."""
    if units == 0:
        return True
    result = await session.execute(_TAKE, {"slot_id": slot_id, "units": units})
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def take_back(session: AsyncSession, slot_id: int, units: int) -> bool:
    """Take ``units`` again for someone who was already there (a no-show overturned by a synced scan):
    within capacity, whatever the slot's status now."""
    if units == 0:
        return True
    result = await session.execute(_TAKE_BACK, {"slot_id": slot_id, "units": units})
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def give_back(session: AsyncSession, slot_id: int, units: int) -> None:
    if units == 0:
        return
    await session.execute(_GIVE_BACK, {"slot_id": slot_id, "units": units})


async def remaining(session: AsyncSession, slot_id: int) -> int:
    left = await session.scalar(_REMAINING, {"slot_id": slot_id})
    return max(int(left or 0), 0)


async def left_if_open(session: AsyncSession, slot_id: int) -> int | None:
    """The places left in a slot that takes bookings; None when it is not there or not open."""
    left = await session.scalar(LEFT_IF_OPEN, {"slot_id": slot_id})
    return None if left is None else int(left)


async def take_nights(session: AsyncSession, space_id: int, nights: Sequence[date], booking_id: int) -> bool:
    """A room's nights for a stay booking: all of them, or none (run in a savepoint)."""
    session.add_all(StayNight(space_id=space_id, night=night, booking_id=booking_id) for night in nights)
    try:
        await session.flush()
    except IntegrityError as exc:
        if constraint_of(exc) == NIGHT_TAKEN:
            return False
        raise
    return True


async def taken_nights(session: AsyncSession, space_id: int, nights: Sequence[date]) -> list[date]:
    return sorted(
        (
            await session.scalars(
                select(StayNight.night).where(StayNight.space_id == space_id, StayNight.night.in_(nights))
            )
        ).all()
    )


async def hold_for_camp(
    session: AsyncSession, program_session_id: int, rooms: Sequence[int], nights: Sequence[date]
) -> tuple[int, date] | None:
    """Hold every room of a camp for its nights; the first room and night already taken, if any (then
    nothing is held; run in a savepoint)."""
    clash = (
        await session.execute(
            select(StayNight.space_id, StayNight.night)
            .where(StayNight.space_id.in_(rooms), StayNight.night.in_(nights))
            .order_by(StayNight.night, StayNight.space_id)
            .limit(1)
        )
    ).first()
    if clash is not None:
        return int(clash[0]), clash[1]
    session.add_all(
        StayNight(space_id=room, night=night, program_session_id=program_session_id)
        for room in rooms
        for night in nights
    )
    try:
        await session.flush()
    except IntegrityError as exc:
        if constraint_of(exc) == NIGHT_TAKEN:
            return -1, nights[0]  # taken meanwhile by a stay booked at the same moment
        raise
    return None


async def release_camp(session: AsyncSession, program_session_id: int) -> None:
    """A cancelled camp gives back the rooms no family holds."""
    await session.execute(
        delete(StayNight).where(StayNight.program_session_id == program_session_id, StayNight.booking_id.is_(None))
    )


async def give_room(
    session: AsyncSession, program_session_id: int, nights: int, party_size: int, booking_id: int
) -> int | None:
    """A camp family gets the smallest free room of the camp that fits the party, for every night of
    the camp at once; None when no room is left for a party that size."""
    free = (
        await session.execute(
            select(StayNight.space_id)
            .join(Space, Space.id == StayNight.space_id)
            .where(
                StayNight.program_session_id == program_session_id,
                StayNight.booking_id.is_(None),
                Space.max_party >= party_size,
            )
            .group_by(StayNight.space_id, Space.max_party)
            .having(func.count() == nights)
            .order_by(Space.max_party, StayNight.space_id)
        )
    ).all()
    for (room,) in free:
        given = await session.execute(
            update(StayNight)
            .where(
                StayNight.program_session_id == program_session_id,
                StayNight.space_id == room,
                StayNight.booking_id.is_(None),
            )
            .values(booking_id=booking_id)
            .execution_options(synchronize_session=False)
        )
        if given.rowcount == nights:  # type: ignore[attr-defined]
            return int(room)
        if given.rowcount:  # type: ignore[attr-defined]
            # Another family took one of this room's nights between the look and the UPDATE: the
            # caller's savepoint rolls back what this one took.
            return None
    return None


async def free_nights(session: AsyncSession, booking_id: int) -> None:
    """A booking's nights go: a stay's own rows are deleted, a camp room goes back to its camp."""
    await session.execute(
        delete(StayNight).where(StayNight.booking_id == booking_id, StayNight.program_session_id.is_(None))
    )
    await session.execute(
        update(StayNight)
        .where(StayNight.booking_id == booking_id, StayNight.program_session_id.is_not(None))
        .values(booking_id=None)
        .execution_options(synchronize_session=False)
    )


async def free_camp_rooms(session: AsyncSession, program_session_id: int) -> list[tuple[int, int]]:
    """A camp's rooms that no family holds for any of its nights: (room id, largest party)."""
    taken = select(StayNight.space_id).where(
        StayNight.program_session_id == program_session_id, StayNight.booking_id.is_not(None)
    )
    rows = await session.execute(
        select(StayNight.space_id, Space.max_party)
        .join(Space, Space.id == StayNight.space_id)
        .where(StayNight.program_session_id == program_session_id, StayNight.space_id.not_in(taken))
        .group_by(StayNight.space_id, Space.max_party)
        .order_by(Space.max_party, StayNight.space_id)
    )
    return [(int(room), int(max_party)) for room, max_party in rows]
