"""What the citizens' pages show when they need several service calls: a slot about to be booked with the
rules that apply to it, a programme with its sessions, the citizen's application and the published draw,
and a booking with its cancellation terms. Shapes the services' answers; no queries and no rules here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.eligibility import Wanted
from booking.lottery import Lottery, application_read, draw_read
from booking.models import ACTIVE, Booking, BookingStatus
from booking.placement import Placement, of_slot, of_space
from booking.schemas import BookingRead, CancellationTerms, StandingRead
from booking.services import MAX_STAY_NIGHTS, BookingService
from booking.standing import Standing
from core.clock import to_kst
from core.errors import NotFound
from core.pagination import Page
from programs.models import Allocation, Enrolment
from programs.schemas import ApplicationRead, DrawRead, ProgramDetail
from programs.services import ProgramService
from venues.models import SpaceShape
from venues.rules import booking_window
from venues.schemas import VenueDetail
from venues.services import VenueService

# Statuses whose QR code gets someone in at the door.
QR_STATUSES = frozenset({BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN})


@dataclass(frozen=True, slots=True)
class SlotOffer:
    """A slot (or a programme session) about to be booked, and what the citizen should know first."""

    placement: Placement
    remaining: int
    capacity: int
    starts_at: datetime
    ends_at: datetime
    opens_at: datetime
    closes_at: datetime
    standing: StandingRead

    @property
    def full(self) -> bool:
        return self.remaining <= 0

    @property
    def max_party(self) -> int:
        return self.placement.max_party

    @property
    def is_exclusive(self) -> bool:
        return self.placement.space.shape == "exclusive"


async def slot_offer(session: AsyncSession, user: User, slot_id: int, *, now: datetime) -> SlotOffer:
    placement = await of_slot(session, slot_id)
    slot = placement.slot
    assert slot is not None
    program = placement.program
    if program is not None:
        opens, closes = program.registration_opens_at, program.registration_closes_at
    else:
        opens, closes = booking_window(placement.rules, slot.starts_at)
    standing = await Standing(session, now).of(user, slot_id=slot_id)
    return SlotOffer(
        placement=placement,
        remaining=slot.remaining,
        capacity=slot.capacity,
        starts_at=to_kst(slot.starts_at),
        ends_at=to_kst(slot.ends_at),
        opens_at=to_kst(opens),
        closes_at=to_kst(closes),
        standing=standing,
    )


@dataclass(frozen=True, slots=True)
class StayOffer:
    """Nights in a lodging room (a ``stay`` space) about to be booked, and what the citizen should know
    first: check-in and check-out times, the booking window of the first night, their standing."""

    placement: Placement
    check_in: date
    check_out: date
    starts_at: datetime
    ends_at: datetime
    opens_at: datetime
    closes_at: datetime
    standing: StandingRead
    max_nights: int = MAX_STAY_NIGHTS

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days

    @property
    def max_party(self) -> int:
        return self.placement.max_party


async def stay_offer(
    session: AsyncSession, user: User, space_id: int, check_in: date, check_out: date | None, *, now: datetime
) -> StayOffer:
    """The stay page's facts for ``check_in`` to ``check_out`` (one night when none or no later date is
    given): the times and window from the engine's own ``Wanted.stay`` and ``booking_window``."""
    placement = await of_space(session, space_id)
    if placement.space.shape != SpaceShape.STAY:
        raise NotFound("space.not_found", space_id=space_id)
    if check_out is None or check_out <= check_in:
        check_out = check_in + timedelta(days=1)
    wanted = Wanted.stay(placement, check_in, check_out)
    opens, closes = booking_window(placement.rules, wanted.starts_at, wanted.first_day)
    standing = await Standing(session, now).of(user, space_id=space_id, day=check_in)
    return StayOffer(
        placement=placement,
        check_in=check_in,
        check_out=check_out,
        starts_at=to_kst(wanted.starts_at),
        ends_at=to_kst(wanted.ends_at),
        opens_at=to_kst(opens),
        closes_at=to_kst(closes),
        standing=standing,
    )


@dataclass
class ProgramPage:
    program: ProgramDetail
    venue: VenueDetail
    application: ApplicationRead | None
    draw: DrawRead | None
    now: datetime

    @property
    def is_lottery(self) -> bool:
        return self.program.allocation == Allocation.LOTTERY

    @property
    def is_course(self) -> bool:
        return self.program.enrolment == Enrolment.COURSE

    @property
    def window_state(self) -> str:
        """``not_yet``, ``open`` or ``closed``: what the page says about the registration window."""
        if self.now < self.program.registration_opens_at:
            return "not_yet"
        if self.now >= self.program.registration_closes_at or self.program.drawn_at is not None:
            return "closed"
        return "open"

    @property
    def upcoming(self) -> list[int]:
        """Slot ids of the sessions still to come and not cancelled."""
        return [s.slot_id for s in self.program.sessions if s.status != "cancelled" and s.start > self.now]

    @property
    def first_upcoming(self) -> int | None:
        return self.upcoming[0] if self.upcoming else None

    @property
    def places_by_slot(self) -> dict[int, int]:
        """A draw's places per session before the draw, for its page."""
        return {p.slot_id: p.places for p in (self.draw.places if self.draw else [])}

    def party_of(self, entry_id: int) -> int:
        return next((e.party_size for e in (self.draw.entries if self.draw else []) if e.id == entry_id), 0)


async def program_page(session: AsyncSession, program_id: int, user: User | None, *, now: datetime) -> ProgramPage:
    service = ProgramService(session, now=now)
    detail = await service.detail(program_id)
    venue = await VenueService(session).detail(detail.venue_id)
    application = None
    lottery = Lottery(session, now)
    if user is not None and detail.allocation == Allocation.LOTTERY:
        try:
            application = application_read(await lottery.mine(user, program_id))
        except NotFound:
            application = None
    draw = draw_read(await service.get(program_id))
    return ProgramPage(detail, venue, application, draw, now)


@dataclass(frozen=True, slots=True)
class MyBooking:
    booking: BookingRead
    cancellation: CancellationTerms
    program_title: str | None
    program_title_en: str | None
    program_id: int | None
    now: datetime

    @property
    def can_cancel(self) -> bool:
        return self.booking.status in ACTIVE

    @property
    def cancel_is_late(self) -> bool:
        return self.now > self.cancellation.deadline

    @property
    def shows_qr(self) -> bool:
        return self.booking.status in QR_STATUSES

    @property
    def has_offer(self) -> bool:
        expires = self.booking.offer_expires_at
        return self.booking.status == BookingStatus.OFFERED and (expires is None or expires > self.now)


async def my_booking(session: AsyncSession, user: User, booking_id: int, *, now: datetime) -> MyBooking:
    """One of the citizen's own bookings (someone else's does not exist for them: 404)."""
    service = BookingService(session, now=now)
    booking = await service.get(booking_id)
    if booking.user_id != user.id:
        raise NotFound("not_found.booking", booking_id=booking_id)
    return (await _my_bookings(session, [booking], now))[0]


async def _my_bookings(session: AsyncSession, rows: Sequence[Booking], now: datetime) -> list[MyBooking]:
    reads = await BookingService(session, now=now).reads(rows)
    standing = Standing(session, now)
    result = []
    for row, read in zip(rows, reads, strict=True):
        placement = await of_slot(session, row.slot_id) if row.slot_id is not None else None
        program = placement.program if placement is not None else None
        result.append(
            MyBooking(
                booking=read,
                cancellation=await standing.cancellation(row),
                program_title=program.title if program else None,
                program_title_en=program.title_en if program else None,
                program_id=program.id if program else None,
                now=now,
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class MyBookingsPage:
    page: Page[BookingRead]
    items: list[MyBooking]


async def my_bookings(
    session: AsyncSession, user: User, *, statuses: list[str] | None, limit: int, offset: int, now: datetime
) -> MyBookingsPage:
    service = BookingService(session, now=now)
    page = await service.mine(user, statuses=statuses, limit=limit, offset=offset)
    rows = [await service.get(b.id) for b in page.items]
    return MyBookingsPage(page, await _my_bookings(session, rows, now))
