"""A venue's day for its staff, and the slots managers add or block."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User, Worker
from audit.log import record as audit
from booking.errors import InvalidTransition
from booking.models import Booking
from booking.placement import of_slot, of_space
from booking.reads import staff_read
from booking.schemas import SlotCreate, StaffBookingRead
from core.clock import day_bounds_utc
from core.errors import Conflict, Forbidden, ValidationFailed, field_error
from core.pagination import Page, count
from core.validation import require_aware
from venues.models import Slot, SlotOrigin, SlotStatus, Space, SpaceShape
from venues.slots import slot_capacity


def require_staff(user: Worker, venue_id: int) -> None:
    if not user.can_work_at(venue_id, Role.STAFF, Role.MANAGER):
        raise Forbidden("forbidden.venue", venue_id=venue_id)


async def of_venue_day(
    session: AsyncSession, venue_id: int, day: date, *, statuses: list[str] | None, limit: int, offset: int
) -> Page[StaffBookingRead]:
    start, end = day_bounds_utc(day)
    query = (
        select(Booking, User, Space)
        .outerjoin(User, User.id == Booking.user_id)  # walk-in guests have no account
        .join(Space, Space.id == Booking.space_id)
        .where(Booking.venue_id == venue_id, Booking.starts_at < end, Booking.ends_at > start)
    )
    if statuses:
        query = query.where(Booking.status.in_(statuses))
    total = await count(session, query)
    rows = (await session.execute(query.order_by(Booking.starts_at, Booking.id).limit(limit).offset(offset))).all()
    return Page(items=[staff_read(b, u, s) for b, u, s in rows], total=total, limit=limit, offset=offset)


async def add_slot(session: AsyncSession, space_id: int, data: SlotCreate) -> Slot:
    placement = await of_space(session, space_id)
    space = placement.space
    if space.shape == SpaceShape.STAY:
        raise ValidationFailed("validation.stay_has_no_slots", errors=[field_error("space_id", "field.stay_space")])
    require_aware(data.start, "start")
    require_aware(data.end, "end")
    if data.end <= data.start or data.end - data.start > timedelta(hours=24):
        raise ValidationFailed("validation.slot_length", errors=[field_error("end", "field.after_start_within_day")])
    capacity = (
        1 if space.shape == SpaceShape.EXCLUSIVE else (slot_capacity(space) if data.capacity is None else data.capacity)
    )
    clash = await session.scalar(
        select(Slot.id).where(
            Slot.space_id == space.id,
            Slot.status == SlotStatus.OPEN,
            Slot.starts_at < data.end,
            Slot.ends_at > data.start,
        )
    )
    if clash is not None:
        raise Conflict("conflict.slot_covers_time", slot_id=clash)
    slot = Slot(
        space_id=space.id,
        venue_id=space.venue_id,
        starts_at=data.start,
        ends_at=data.end,
        capacity=capacity,
        taken=0,
        status=SlotStatus.OPEN,
        origin=SlotOrigin.EXTRA,
        note=data.note,
    )
    session.add(slot)
    await session.flush()
    await audit(
        session,
        "slot.created",
        "slot",
        slot.id,
        venue_id=slot.venue_id,
        details={"space_id": space.id, "start": data.start.isoformat(), "end": data.end.isoformat()},
    )
    return slot


async def set_slot_status(session: AsyncSession, staff: User, slot_id: int, status: SlotStatus, note: str = "") -> Slot:
    """Staff block a slot (no new bookings; those made stay) or open it again."""
    slot = (await of_slot(session, slot_id)).slot
    assert slot is not None
    require_staff(staff, slot.venue_id)
    if slot.status == SlotStatus.CLOSED:
        if slot.closure_id is not None:
            raise InvalidTransition("invalid_transition.slot_closed_by_closure", closure_id=slot.closure_id)
        raise InvalidTransition("invalid_transition.slot_session_cancelled")
    if slot.held_by_id is not None and status == SlotStatus.OPEN:
        raise InvalidTransition("invalid_transition.slot_held_by_session", held_by=slot.held_by_id)
    if slot.status != status:
        slot.sequence += 1
        action = "slot.blocked" if status == SlotStatus.BLOCKED else "slot.unblocked"
        await audit(session, action, "slot", slot.id, venue_id=slot.venue_id, details={"note": note} if note else {})
    slot.status = status
    slot.note = note
    await session.flush()
    return slot
