"""Whole courses: one enrolment takes a seat in every remaining session of the course, or none."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.eligibility import Eligibility, Wanted
from booking.errors import InvalidTransition, WindowClosed
from booking.history import History
from booking.holding import Holding
from booking.locks import lock_citizen
from booking.models import Booking
from booking.placement import Placement, of_slot
from booking.ways import Way
from core.clock import to_kst
from core.i18n import msg
from programs.models import Allocation, Enrolment, Program
from programs.services import ProgramService


async def open_sessions(session: AsyncSession, program: Program, now: datetime) -> list[Placement]:
    """The sessions still to come and not cancelled, in slot id order: every enrolment locks them in
    that order, so that two enrolments never wait for each other's slots in a circle."""
    rows = await ProgramService(session, now=now).sessions(program.id, include_cancelled=False)
    placements = [await of_slot(session, slot.id) for _, slot in sorted(rows, key=lambda r: r[1].id)]
    return [p for p in placements if p.slot is not None and p.slot.starts_at > now]


class Courses:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.holding = Holding(session, now)
        self.eligibility = Eligibility(session, now)

    async def enrol(self, user: User, program_id: int, party_size: int) -> list[Booking]:
        citizen = await lock_citizen(self.session, user.id)
        program = await ProgramService(self.session, now=self.now).get(program_id)
        if program.allocation == Allocation.LOTTERY:
            raise InvalidTransition("invalid_transition.lottery_apply", program_id=program.id)
        if program.enrolment != Enrolment.COURSE:
            raise InvalidTransition("invalid_transition.drop_in_book", program_id=program.id)
        placements = await open_sessions(self.session, program, self.now)
        if not placements:
            raise WindowClosed("window_closed.no_sessions_left")
        await self.eligibility.check(Way.COURSE, citizen, [Wanted.slot(p) for p in placements], party_size)
        bookings = await self.take_all(Way.COURSE, citizen, placements, party_size)
        first = min(bookings, key=lambda b: b.starts_at)
        await History(self.session, self.now).notify(
            citizen.id,
            "booking_confirmed",
            msg("notice.course_confirmed.title", title=program.title, title_en=program.title_en),
            msg("notice.course_confirmed.body", sessions=len(bookings), starts_at=to_kst(first.starts_at)),
            booking=first,
        )
        return bookings

    async def take_all(self, way: Way, citizen: User, placements: list[Placement], party_size: int) -> list[Booking]:
        """A place in every session, or none: one savepoint around them all."""
        async with self.session.begin_nested():
            return [await self.holding.new(way, citizen, p, party_size) for p in placements]
