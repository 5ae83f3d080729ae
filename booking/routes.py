"""HTTP endpoints of the booking engine."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import HeaderParameter, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import BEARER_SECURITY, provide_current_user, provide_locked_user, require_venue_role
from accounts.models import Role, User
from booking.courses import Courses
from booking.lottery import Lottery, application_read, draw_read
from booking.models import BookingStatus
from booking.operations import require_staff
from booking.reads import slot_read
from booking.roster import session_roster
from booking.rush import NOT_FULL
from booking.schemas import (
    Availability,
    BookingCreate,
    BookingEventRead,
    BookingRead,
    ClosurePreview,
    EnrolmentRead,
    SlotBlock,
    SlotCreate,
    SlotRead,
    StaffBookingRead,
    StandingRead,
    VenueAvailability,
)
from booking.services import BookingService
from booking.standing import Standing
from core.clock import today_kst, utcnow
from core.errors import DomainError, NotFound, ValidationFailed, field_error
from core.fields import ONE_LINE_PATTERN, Id
from core.metrics import count_booking
from core.pagination import DEFAULT_LIMIT, Limit, Offset, Page
from core.ratelimit import RateLimit, rate_limit
from core.validation import check_optional_day
from programs.schemas import ApplicationRead, DrawRead, EnrolRequest, RosterEntry
from programs.services import ProgramService
from venues.models import SlotStatus
from venues.schemas import ClosureCreate
from venues.services import VenueService

AUTH = {"current_user": Provide(provide_current_user)}
# Every way to ask for a place is limited per address and per account (core.ratelimit).
BOOKING_LIMIT = [rate_limit(RateLimit.BOOKING)]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        max_length=255,
        pattern=ONE_LINE_PATTERN,
        description="A retry with the same key returns the first answer",
    ),
]
StatusFilter = Annotated[
    str | None, Parameter(description="Comma-separated statuses, e.g. confirmed,waitlisted", max_length=200)
]
FromDate = Annotated[date | None, QueryParameter(name="from", description="First Seoul date (default today)")]
ToDate = Annotated[date | None, Parameter(description="Last Seoul date, inclusive (default from + 30 days)")]


def _statuses(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    wanted = [s.strip() for s in raw.split(",") if s.strip()]
    valid = {s.value for s in BookingStatus}
    unknown = [s for s in wanted if s not in valid]
    if unknown:
        raise ValidationFailed(
            "validation.unknown_status",
            errors=[field_error("status", "field.one_of", choices=", ".join(sorted(valid)))],
            unknown=", ".join(unknown),
        )
    return wanted


def _range(start: date | None, end: date | None) -> tuple[date, date]:
    first = check_optional_day(start, "from") or today_kst()
    return first, check_optional_day(end, "to") or first + timedelta(days=30)


class BookingController(Controller):
    path = "/api/bookings"
    tags = ["bookings"]
    dependencies = AUTH
    security = BEARER_SECURITY

    @post(
        guards=BOOKING_LIMIT,
        # The citizen's lock taken with who they are: one statement instead of two.
        dependencies={"current_user": Provide(provide_locked_user)},
        operation_id="createBooking",
        summary="Book a slot, a session or a stay (예약)",
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: BookingCreate,
        current_user: User,
        db_session: AsyncSession,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[BookingRead]:
        known_not_full = data.slot_id is not None and request.scope.get("state", {}).get(NOT_FULL) == data.slot_id
        try:
            answer, replayed = await BookingService(db_session).book(
                current_user, data, idempotency_key=idempotency_key, known_not_full=known_not_full
            )
            # Commit now rather than after the response is built: the slot's row stays locked until the
            # commit, and in a rush every other booking of that slot waits for it.
            await db_session.commit()
        except DomainError as refusal:
            count_booking(refusal.code)
            raise
        if not replayed:  # a replay answers a booking counted when it was made
            count_booking(str(answer.status))
        headers = {"Idempotency-Replayed": "true"} if replayed else {}
        return Response(answer, status_code=201, headers=headers)

    @get("/{booking_id:int}", operation_id="getBooking", summary="One booking (its holder, its venue's staff)")
    async def get_booking(self, booking_id: Id, current_user: User, db_session: AsyncSession) -> BookingRead:
        service = BookingService(db_session)
        return await service.read(await service.visible(current_user, booking_id))

    @post("/{booking_id:int}/cancel", status_code=200, operation_id="cancelBooking", summary="Cancel (취소)")
    async def cancel(self, booking_id: Id, current_user: User, db_session: AsyncSession) -> BookingRead:
        service = BookingService(db_session)
        return await service.read(await service.cancel(current_user, booking_id))

    @post(
        "/{booking_id:int}/accept",
        status_code=200,
        guards=BOOKING_LIMIT,
        operation_id="acceptOffer",
        summary="Accept a place offered from the waitlist",
    )
    async def accept(self, booking_id: Id, current_user: User, db_session: AsyncSession) -> BookingRead:
        service = BookingService(db_session)
        return await service.read(await service.accept_offer(current_user, booking_id))

    @get(
        "/{booking_id:int}/history",
        operation_id="bookingHistory",
        summary="Every change of status, who and why",
    )
    async def history(self, booking_id: Id, current_user: User, db_session: AsyncSession) -> list[BookingEventRead]:
        service = BookingService(db_session)
        return await service.history_of(await service.visible(current_user, booking_id))


class MyBookingsController(Controller):
    path = "/api/me"
    tags = ["bookings"]
    dependencies = AUTH
    security = BEARER_SECURITY

    @get("/bookings", operation_id="myBookings", summary="My bookings (내 예약)")
    async def my_bookings(
        self,
        current_user: User,
        db_session: AsyncSession,
        status: StatusFilter = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[BookingRead]:
        return await BookingService(db_session).mine(
            current_user, statuses=_statuses(status), limit=limit, offset=offset
        )

    @get(
        "/standing", operation_id="myStanding", summary="My quota, no-shows and the terms before I book (내 이용 현황)"
    )
    async def my_standing(
        self,
        current_user: User,
        db_session: AsyncSession,
        slot_id: Annotated[int | None, Parameter(description="The slot or session about to be booked")] = None,
        space_id: Annotated[int | None, Parameter(description="A stay space (with date)")] = None,
        day: Annotated[date | None, QueryParameter(name="date", description="A stay's check-in date")] = None,
    ) -> StandingRead:
        """The weekly quota used and by which bookings, the space's monthly limit, the no-show rule with
        the caller's own count, and the cancellation deadline of the slot about to be booked: the figures
        the engine decides by."""
        return await Standing(db_session, utcnow()).of(current_user, slot_id=slot_id, space_id=space_id, day=day)


class AvailabilityController(Controller):
    path = "/api"
    tags = ["availability"]

    @get(
        "/spaces/{space_id:int}/availability",
        operation_id="spaceAvailability",
        summary="Free places (예약 현황)",
    )
    async def space_availability(
        self, space_id: Id, db_session: AsyncSession, from_: FromDate = None, to: ToDate = None
    ) -> Availability:
        start, end = _range(from_, to)
        return await BookingService(db_session).availability(space_id, start, end)

    @get(
        "/venues/{venue_id:int}/availability",
        operation_id="venueAvailability",
        summary="Free places of every space of a venue, for a month at once",
    )
    async def venue_availability(
        self, venue_id: Id, db_session: AsyncSession, from_: FromDate = None, to: ToDate = None
    ) -> VenueAvailability:
        start, end = _range(from_, to)
        spaces = await BookingService(db_session).venue_availability(venue_id, start, end)
        return VenueAvailability(venue_id=venue_id, spaces=spaces)


class VenueOperationsController(Controller):
    """The day at a venue, for its staff: bookings, walk-ins, extra and blocked slots."""

    path = "/api"
    tags = ["operations"]
    dependencies = AUTH
    security = BEARER_SECURITY

    @get(
        "/venues/{venue_id:int}/bookings",
        operation_id="venueBookings",
        summary="A venue's bookings of a day (staff)",
    )
    async def venue_bookings(
        self,
        venue_id: Id,
        current_user: User,
        db_session: AsyncSession,
        day: Annotated[date | None, QueryParameter(name="date", description="Seoul date (default today)")] = None,
        status: StatusFilter = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[StaffBookingRead]:
        require_staff(current_user, venue_id)
        await VenueService(db_session).get(venue_id)
        return await BookingService(db_session).of_venue_day(
            venue_id,
            check_optional_day(day, "date") or today_kst(),
            statuses=_statuses(status),
            limit=limit,
            offset=offset,
        )

    @post(
        "/venues/{venue_id:int}/closures/preview",
        status_code=200,
        operation_id="previewClosure",
        summary="Which bookings and sessions a closure would cancel, before saving it (its managers, admin)",
    )
    async def preview_closure(
        self, venue_id: Id, data: ClosureCreate, current_user: User, db_session: AsyncSession
    ) -> ClosurePreview:
        """The same body as ``POST /api/venues/{id}/closures``; nothing is saved. Saving that closure
        then cancels exactly the ``bookings`` listed (found by the same query), unless bookings change
        in between."""
        require_venue_role(current_user, venue_id, Role.MANAGER)
        return await BookingService(db_session).preview_closure(venue_id, data)

    @post("/spaces/{space_id:int}/slots", operation_id="createSlot", summary="Add a one-off slot (managers)")
    async def create_slot(
        self, space_id: Id, data: SlotCreate, current_user: User, db_session: AsyncSession
    ) -> SlotRead:
        space = await VenueService(db_session).get_space(space_id)
        require_venue_role(current_user, space.venue_id, Role.MANAGER)
        return slot_read(await BookingService(db_session).add_slot(space_id, data), with_space=True)

    @post(
        "/slots/{slot_id:int}/block",
        status_code=200,
        operation_id="blockSlot",
        summary="Stop bookings (staff)",
    )
    async def block_slot(self, slot_id: Id, data: SlotBlock, current_user: User, db_session: AsyncSession) -> SlotRead:
        return await self._set(slot_id, SlotStatus.BLOCKED, data.note, current_user, db_session)

    @post("/slots/{slot_id:int}/unblock", status_code=200, operation_id="unblockSlot", summary="Reopen (staff)")
    async def unblock_slot(self, slot_id: Id, current_user: User, db_session: AsyncSession) -> SlotRead:
        return await self._set(slot_id, SlotStatus.OPEN, "", current_user, db_session)

    @staticmethod
    async def _set(slot_id: Id, status: SlotStatus, note: str, user: User, session: AsyncSession) -> SlotRead:
        return slot_read(await BookingService(session).set_slot_status(user, slot_id, status, note), with_space=True)


class EnrolmentController(Controller):
    """Programme enrolment: whole courses, lottery applications, and the published draw."""

    path = "/api/programs"
    tags = ["programmes"]

    @post(
        "/{program_id:int}/enrol",
        dependencies=AUTH,
        guards=BOOKING_LIMIT,
        security=BEARER_SECURITY,
        operation_id="enrolInCourse",
        summary="Enrol in a whole course: a seat in every session, or none (수강 신청)",
    )
    async def enrol(
        self, program_id: Id, data: EnrolRequest, current_user: User, db_session: AsyncSession
    ) -> EnrolmentRead:
        service = BookingService(db_session)
        bookings = await Courses(db_session, service.now).enrol(current_user, program_id, data.party_size)
        return EnrolmentRead(bookings=await service.reads(bookings))

    @post(
        "/{program_id:int}/applications",
        dependencies=AUTH,
        guards=BOOKING_LIMIT,
        security=BEARER_SECURITY,
        operation_id="applyToLottery",
        summary="Apply to a programme allocated by lottery (추첨 신청)",
    )
    async def apply(
        self, program_id: Id, data: EnrolRequest, current_user: User, db_session: AsyncSession
    ) -> ApplicationRead:
        lottery = Lottery(db_session, utcnow())
        return application_read(await lottery.apply(current_user, program_id, data.party_size))

    @get(
        "/{program_id:int}/applications/mine",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="myApplication",
        summary="My application and, after the draw, its outcome",
    )
    async def my_application(self, program_id: Id, current_user: User, db_session: AsyncSession) -> ApplicationRead:
        return application_read(await Lottery(db_session, utcnow()).mine(current_user, program_id))

    @get(
        "/{program_id:int}/sessions/{session_id:int}/roster",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="sessionRoster",
        summary="Who comes to a session (its instructors, the venue's staff)",
    )
    async def roster(
        self, program_id: Id, session_id: Id, current_user: User, db_session: AsyncSession
    ) -> list[RosterEntry]:
        return await session_roster(db_session, current_user, program_id, session_id)

    @get("/{program_id:int}/draw", operation_id="lotteryDraw", summary="The published draw: seed, order, winners")
    async def draw(self, program_id: Id, db_session: AsyncSession) -> DrawRead:
        program = await ProgramService(db_session).get(program_id)
        result = draw_read(program)
        if result is None:
            raise NotFound("not_found.not_drawn_yet")
        return result
