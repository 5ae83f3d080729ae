"""Who comes to a programme session: its bookings, for the session's instructors and the venue's staff."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User
from accounts.privacy import mask_name
from booking.models import ACTIVE, Booking, BookingStatus
from core.errors import Forbidden
from programs.schemas import RosterEntry
from programs.services import ProgramService

# Who is on a roster: everyone still coming, and those who came or did not.
ROSTER_STATUSES = (*ACTIVE, BookingStatus.CHECKED_OUT, BookingStatus.NO_SHOW)


async def session_roster(session: AsyncSession, user: User, program_id: int, session_id: int) -> list[RosterEntry]:
    programs = ProgramService(session)
    program, _, slot = await programs.session_of(program_id, session_id)
    if not (
        user.can_work_at(program.venue_id, Role.STAFF, Role.MANAGER) or await programs.is_instructor(user, program_id)
    ):
        raise Forbidden("roster.instructors_and_staff_only")
    rows = await session.execute(
        select(Booking, User)
        .join(User, User.id == Booking.user_id)
        .where(Booking.slot_id == slot.id, Booking.status.in_(ROSTER_STATUSES))
        .order_by(Booking.id)
    )
    return [
        RosterEntry(
            booking_id=b.id, holder=mask_name(u.name), holder_name=u.name, party_size=b.party_size, status=b.status
        )
        for b, u in rows.all()
    ]
