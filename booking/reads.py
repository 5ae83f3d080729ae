"""Bookings and slots as answers: instants in Asia/Seoul, venues and spaces as small references, a
waitlisted booking's place in line. Reading only; loads what several answers need in a few queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from accounts.models import User
from accounts.privacy import mask_name
from booking.models import Booking, BookingEvent, BookingStatus
from booking.schemas import BookingEventRead, BookingRead, SlotRead, SpaceRef, StaffBookingRead, VenueRef
from core.clock import to_kst
from venues.models import Slot, Space, Venue

_Row = TypeVar("_Row", Venue, Space)


def booking_read(booking: Booking, venue: Venue, space: Space, *, position: int | None = None) -> BookingRead:
    return BookingRead(
        id=booking.id,
        status=booking.status,
        party_size=booking.party_size,
        start=to_kst(booking.starts_at),
        end=to_kst(booking.ends_at),
        venue=VenueRef(id=venue.id, name=venue.name, name_en=venue.name_en, address=venue.address, kind=venue.kind),
        space=SpaceRef(id=space.id, name=space.name, name_en=space.name_en, kind=space.kind, shape=space.shape),
        slot_id=booking.slot_id,
        check_in=booking.check_in,
        check_out=booking.check_out,
        late_cancel=booking.late_cancel,
        offer_expires_at=to_kst(booking.offer_expires_at) if booking.offer_expires_at else None,
        checked_in_at=to_kst(booking.checked_in_at) if booking.checked_in_at else None,
        created_at=to_kst(booking.created_at),
        waitlist_position=position,
        walk_in=booking.walk_in,
    )


def slot_read(slot: Slot, *, with_space: bool = False) -> SlotRead:
    return SlotRead(
        id=slot.id,
        start=to_kst(slot.starts_at),
        end=to_kst(slot.ends_at),
        capacity=slot.capacity,
        remaining=slot.remaining,
        status=slot.status,
        space_id=slot.space_id if with_space else None,
        origin=slot.origin if with_space else None,
    )


def holder_name(booking: Booking, user: User | None) -> str:
    """Who holds a booking: the citizen, or the guest named at the door."""
    if user is not None:
        return user.name
    return booking.guest_name or ""


def staff_read(booking: Booking, user: User | None, space: Space) -> StaffBookingRead:
    name = holder_name(booking, user)
    return StaffBookingRead(
        id=booking.id,
        status=booking.status,
        party_size=booking.party_size,
        start=to_kst(booking.starts_at),
        end=to_kst(booking.ends_at),
        space_id=space.id,
        space_name=space.name,
        slot_id=booking.slot_id,
        holder=mask_name(name),
        holder_name=name,
        holder_phone=user.phone if user is not None else booking.guest_phone,
        walk_in=booking.walk_in,
        checked_in_at=to_kst(booking.checked_in_at) if booking.checked_in_at else None,
    )


def event_read(event: BookingEvent) -> BookingEventRead:
    return BookingEventRead(
        at=to_kst(event.at),
        from_status=event.from_status,
        to_status=event.to_status,
        reason=event.reason,
        actor_id=event.actor_id,
        note=event.note,
    )


async def waitlist_positions(session: AsyncSession, bookings: Sequence[Booking]) -> dict[int, int]:
    """Each waitlisted booking's place in its slot's line (1 = next), in one query."""
    waiting = [b for b in bookings if b.status == BookingStatus.WAITLISTED and b.slot_id is not None]
    if not waiting:
        return {}
    ahead = Booking.__table__.alias("ahead")
    rows = await session.execute(
        select(Booking.id, func.count(ahead.c.id))
        .select_from(Booking)
        .join(
            ahead,
            (ahead.c.slot_id == Booking.slot_id)
            & (ahead.c.status == BookingStatus.WAITLISTED)
            & (ahead.c.id < Booking.id),
            isouter=True,
        )
        .where(Booking.id.in_([b.id for b in waiting]))
        .group_by(Booking.id)
    )
    return {booking_id: int(count) + 1 for booking_id, count in rows}


async def _loaded(session: AsyncSession, model: type[_Row], ids: set[int]) -> dict[int, _Row]:
    """The rows with these ids: those the session holds already (a booking just made holds its venue and
    space), the others in one query."""
    held = session.sync_session.identity_map
    found: dict[int, _Row] = {}
    for row_id in ids:
        row = held.get(identity_key(model, row_id))
        if isinstance(row, model):
            found[row_id] = row
    missing = ids - found.keys()
    if missing:
        found.update((r.id, r) for r in (await session.scalars(select(model).where(model.id.in_(missing)))).all())
    return found


async def reads(session: AsyncSession, bookings: Sequence[Booking]) -> list[BookingRead]:
    """Answers for several bookings, their venues and spaces loaded in two queries."""
    if not bookings:
        return []
    venues = await _loaded(session, Venue, {b.venue_id for b in bookings})
    spaces = await _loaded(session, Space, {b.space_id for b in bookings})
    positions = await waitlist_positions(session, bookings)
    return [booking_read(b, venues[b.venue_id], spaces[b.space_id], position=positions.get(b.id)) for b in bookings]
