"""The booking engine's front: what the routes, the web pages and check-in call. It composes the modules
that hold the rules (``eligibility``, ``ways``), the places (``holding`` over ``venues.places``), the
history (``history``), the waitlist (``waitlist``) and the readings (``reads``, ``availability``,
``operations``); it holds no rule of its own beyond the order in which they run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Final

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User
from booking import availability, operations
from booking.closures import Closures
from booking.eligibility import Eligibility, Wanted
from booking.errors import (
    AlreadyBooked,
    Closed,
    IdempotencyMismatch,
    InvalidTransition,
    SoldOut,
    TooLateToCancel,
    WindowClosed,
)
from booking.history import History
from booking.holding import Guest, Holding
from booking.locks import lock_booking, lock_citizen
from booking.models import ACTIVE, TAKING, Booking, BookingEvent, BookingStatus, IdempotencyRecord
from booking.placement import Placement, of_booking, of_slot, of_space
from booking.reads import event_read, reads
from booking.schemas import (
    Availability,
    BookingCreate,
    BookingEventRead,
    BookingRead,
    ClosurePreview,
    SlotCreate,
    StaffBookingRead,
)
from booking.standing import cancel_deadline
from booking.waitlist import Waitlist
from booking.ways import Way
from core.clock import to_kst, utcnow
from core.database import insert_row, write_at_commit
from core.errors import NotFound, ValidationFailed, field_error
from core.pagination import Page, count
from venues import places
from venues.days import day_statuses
from venues.models import Slot, SlotStatus, SpaceShape
from venues.schemas import ClosureCreate
from venues.services import VenueService

MAX_STAY_NIGHTS = 14
# A citizen's first answer to a request with this key (made once: every keyed booking reads it, and
# writes it by one INSERT with the commit: no object, whose flush cost more than the statement).
_NEW_RECORD: Final = insert_row(IdempotencyRecord)
_RECORD: Final = select(IdempotencyRecord).where(
    IdempotencyRecord.user_id == bindparam("user_id"), IdempotencyRecord.key == bindparam("key")
)


def request_fingerprint(data: BookingCreate) -> str:
    canonical = json.dumps(msgspec.to_builtins(data), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class BookingService:
    def __init__(self, session: AsyncSession, *, now: datetime | None = None) -> None:
        self.session = session
        self.now = now or utcnow()
        self.history = History(session, self.now)
        self.holding = Holding(session, self.now)
        self.eligibility = Eligibility(session, self.now)
        self.waitlist = Waitlist(session, self.now)

    # --- reading ----------------------------------------------------------------------------------

    async def get(self, booking_id: int) -> Booking:
        booking = await self.session.get(Booking, booking_id)
        if booking is None:
            raise NotFound("not_found.booking", booking_id=booking_id)
        return booking

    @staticmethod
    def can_see(user: User, booking: Booking) -> bool:
        return booking.user_id == user.id or user.can_work_at(booking.venue_id, Role.STAFF, Role.MANAGER)

    async def visible(self, user: User, booking_id: int) -> Booking:
        booking = await self.get(booking_id)
        if not self.can_see(user, booking):
            # Other people's bookings do not exist for you (no probing of ids).
            raise NotFound("not_found.booking", booking_id=booking_id)
        return booking

    async def read(self, booking: Booking) -> BookingRead:
        return (await reads(self.session, [booking]))[0]

    async def reads(self, bookings: Sequence[Booking]) -> list[BookingRead]:
        return await reads(self.session, bookings)

    async def mine(self, user: User, *, statuses: list[str] | None, limit: int, offset: int) -> Page[BookingRead]:
        query = select(Booking).where(Booking.user_id == user.id)
        if statuses:
            query = query.where(Booking.status.in_(statuses))
        total = await count(self.session, query)
        rows = (
            await self.session.scalars(query.order_by(Booking.starts_at, Booking.id).limit(limit).offset(offset))
        ).all()
        return Page(items=await reads(self.session, rows), total=total, limit=limit, offset=offset)

    async def history_of(self, booking: Booking) -> list[BookingEventRead]:
        events = (
            await self.session.scalars(
                select(BookingEvent).where(BookingEvent.booking_id == booking.id).order_by(BookingEvent.id)
            )
        ).all()
        return [event_read(e) for e in events]

    async def availability(self, space_id: int, start: date, end: date) -> Availability:
        return await availability.of_space_between(self.session, space_id, start, end)

    async def venue_availability(self, venue_id: int, start: date, end: date) -> list[Availability]:
        return await availability.of_venue_between(self.session, venue_id, start, end)

    async def of_venue_day(
        self, venue_id: int, day: date, *, statuses: list[str] | None, limit: int, offset: int
    ) -> Page[StaffBookingRead]:
        return await operations.of_venue_day(self.session, venue_id, day, statuses=statuses, limit=limit, offset=offset)

    async def preview_closure(self, venue_id: int, data: ClosureCreate) -> ClosurePreview:
        """The bookings and sessions saving this closure would cancel, found as saving it finds them."""
        closure = await VenueService(self.session).closure_of(venue_id, data, created_by_id=None)
        return await Closures(self.session, self.now).preview(closure)

    async def add_slot(self, space_id: int, data: SlotCreate) -> Slot:
        return await operations.add_slot(self.session, space_id, data)

    async def set_slot_status(self, staff: User, slot_id: int, status: SlotStatus, note: str = "") -> Slot:
        return await operations.set_slot_status(self.session, staff, slot_id, status, note)

    # --- booking ----------------------------------------------------------------------------------

    async def book(
        self, user: User, data: BookingCreate, *, idempotency_key: str | None = None, known_not_full: bool = False
    ) -> tuple[BookingRead, bool]:
        """Book for ``user`` online; returns the answer and whether it replays an earlier request.
        ``known_not_full``: the slot was found not full for this very request (``booking.rush.NOT_FULL``),
        so the look for a full slot is not made again."""
        fingerprint = request_fingerprint(data) if idempotency_key else ""
        if data.slot_id is not None and not data.join_waitlist and not known_not_full:
            await self._refuse_if_full(user, data.slot_id, idempotency_key)
        citizen = await lock_citizen(self.session, user.id)
        if idempotency_key:
            record = await self.session.scalar(_RECORD, {"user_id": user.id, "key": idempotency_key})
            if record is not None:
                if record.request_hash != fingerprint:
                    raise IdempotencyMismatch("idempotency_mismatch.detail")
                return msgspec.convert(record.response, BookingRead), True
        # The placement is kept while the answer is made: its venue and space stay in the session, and
        # the notice and the answer read them from there instead of the database.
        if data.slot_id is not None:
            if data.space_id is not None or data.check_in is not None or data.check_out is not None:
                raise ValidationFailed("validation.slot_or_stay", errors=[field_error("slot_id", "field.slot_or_stay")])
            booking, _placement = await self._book_slot(citizen, data)
        elif data.space_id is not None and data.check_in is not None and data.check_out is not None:
            booking, _placement = await self._book_stay(
                citizen, data.space_id, data.check_in, data.check_out, data.party_size
            )
        else:
            raise ValidationFailed(
                "validation.slot_or_stay_needed", errors=[field_error("slot_id", "field.slot_or_stay")]
            )
        if booking.status == BookingStatus.CONFIRMED:
            await self.history.confirmed(booking)
        answer = await self.read(booking)
        if idempotency_key:  # with the commit: the citizen's lock keeps a retry waiting until then
            await write_at_commit(
                self.session,
                _NEW_RECORD,
                {
                    "user_id": user.id,
                    "key": idempotency_key,
                    "request_hash": fingerprint,
                    "status_code": 201,
                    "response": msgspec.to_builtins(answer),
                },
            )
        return answer, False

    async def _refuse_if_full(self, user: User, slot_id: int, idempotency_key: str | None) -> None:
        """The rush's fast path: most requests for a popular slot come after its last place is gone.
        Answer those before the slot's lock and the rules (``sold_out``, or ``already_booked`` to a
        citizen who holds one of its places and asks again; the API's route has the citizen's own lock
        already, taken with their token); the guarded UPDATE stays the only guard of the places."""
        remaining = await places.left_if_open(self.session, slot_id)
        if remaining is None or remaining > 0:
            return  # not there, not open, or places left: the full path gives the right answer
        mine = await self.session.scalar(
            select(Booking.id).where(Booking.user_id == user.id, Booking.slot_id == slot_id, Booking.status.in_(ACTIVE))
        )
        replay = idempotency_key is not None and await self.session.scalar(
            select(IdempotencyRecord.id).where(
                IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == idempotency_key
            )
        )
        if replay:
            return  # a retry gets its first answer
        if mine is not None:  # what the rules would say, without the citizen's lock
            raise AlreadyBooked("already_booked.slot")
        raise SoldOut("sold_out.places_left", remaining=0)

    async def _book_slot(self, citizen: User, data: BookingCreate) -> tuple[Booking, Placement]:
        assert data.slot_id is not None
        placement = await of_slot(self.session, data.slot_id)
        if placement.space.shape == SpaceShape.STAY:
            raise ValidationFailed(
                "validation.book_stays_by_dates", errors=[field_error("slot_id", "field.stay_space")]
            )
        await self.eligibility.check(Way.BOOKING, citizen, [Wanted.slot(placement)], data.party_size)
        booking = await self.holding.new(
            Way.BOOKING, citizen, placement, data.party_size, waitlist=data.join_waitlist, actor=citizen
        )
        return booking, placement

    async def _book_stay(
        self, citizen: User, space_id: int, check_in: date, check_out: date, party: int
    ) -> tuple[Booking, Placement]:
        placement = await of_space(self.session, space_id)
        if placement.space.shape != SpaceShape.STAY:
            raise ValidationFailed("validation.not_a_stay_space", errors=[field_error("space_id", "field.not_stay")])
        nights = (check_out - check_in).days
        if nights < 1 or nights > MAX_STAY_NIGHTS:
            raise ValidationFailed(
                "validation.stay_nights",
                errors=[field_error("check_out", "field.stay_nights", max_nights=MAX_STAY_NIGHTS)],
                max_nights=MAX_STAY_NIGHTS,
            )
        await self.eligibility.check(Way.BOOKING, citizen, [Wanted.stay(placement, check_in, check_out)], party)
        last_night = check_in + timedelta(days=nights - 1)
        for day in await day_statuses(self.session, placement.venue, check_in, last_night, space_id=space_id):
            if not day.open:
                raise Closed("closed.day", date=day.date.isoformat(), reason=day.reason, reason_en=day.reason_en)
        return await self.holding.new_stay(citizen, placement, check_in, check_out, party), placement

    async def walk_in(self, staff: User, venue_id: int, slot_id: int, party_size: int, guest: Guest) -> Booking:
        """Staff book a free place for a guest at the door (then check-in checks them in)."""
        operations.require_staff(staff, venue_id)
        placement = await of_slot(self.session, slot_id)
        if placement.venue.id != venue_id:
            raise ValidationFailed(
                "validation.slot_of_other_venue", errors=[field_error("slot_id", "field.other_venue")]
            )
        if placement.space.shape == SpaceShape.STAY:
            raise ValidationFailed(
                "validation.book_stays_by_dates", errors=[field_error("slot_id", "field.stay_space")]
            )
        slot = placement.slot
        assert slot is not None
        if self.now >= slot.ends_at:
            raise WindowClosed("window_closed.slot_over")
        await self.eligibility.check(Way.WALK_IN, None, [Wanted.slot(placement)], party_size)
        return await self.holding.new(Way.WALK_IN, None, placement, party_size, actor=staff, guest=guest)

    # --- cancelling and offers ---------------------------------------------------------------------

    async def cancel(self, actor: User, booking_id: int) -> Booking:
        booking = await lock_booking(self.session, booking_id)
        is_holder = booking.user_id == actor.id
        is_staff = actor.can_work_at(booking.venue_id, Role.STAFF, Role.MANAGER)
        if not is_holder and not is_staff:
            raise NotFound("not_found.booking", booking_id=booking_id)
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
            return booking  # cancelling again changes nothing
        if booking.status not in ACTIVE:
            raise InvalidTransition("invalid_transition.cannot_cancel", booking_status=booking.status)
        placement = await of_booking(self.session, booking)
        if self.now >= booking.starts_at and booking.status != BookingStatus.WAITLISTED and not is_staff:
            raise TooLateToCancel("too_late_to_cancel.started")
        deadline = cancel_deadline(booking.starts_at, placement.rules)
        late = self.now > deadline and booking.status in TAKING
        if late and not placement.rules.late_cancel_allowed and not is_staff:
            raise TooLateToCancel("too_late_to_cancel.deadline", deadline=to_kst(deadline))
        previous = booking.status
        reason = "cancelled_by_holder" if is_holder else "cancelled_by_staff"
        if not await self.history.transition(
            booking, ACTIVE, BookingStatus.CANCELLED, reason, actor.id, late_cancel=late
        ):
            return booking
        await self.holding.release(booking, previous)
        if previous in TAKING and booking.slot_id is not None:
            self.waitlist.promote_later(booking.slot_id)
        return booking

    async def accept_offer(self, user: User, booking_id: int) -> Booking:
        return await self.waitlist.accept(user, booking_id)
