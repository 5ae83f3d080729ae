"""Check-in at the door: codes for bookings, scans with one unambiguous answer, check-out, walk-ins and
undoing a mistaken check-in. Every change is a conditional UPDATE recorded in the booking's history
(``booking.history``), so two scans at once check a booking in once. Scans made offline are in
``checkin.offline``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from accounts.models import User, Worker
from accounts.privacy import mask_name
from booking.errors import InvalidTransition
from booking.history import History
from booking.holding import Guest
from booking.locks import lock_booking
from booking.models import Booking, BookingStatus
from booking.operations import require_staff
from booking.reads import booking_read, holder_name
from booking.schemas import BookingRead
from booking.services import BookingService
from checkin import tokens
from checkin.keys import key_ring
from checkin.models import CheckinScan
from checkin.schemas import ScanResult, WalkInCreate
from core.clock import kst, to_kst, utcnow
from core.errors import NotFound, ValidationFailed, field_error
from core.i18n import msg
from core.settings import Settings
from venues.models import Space, Venue
from venues.rules import Rules, effective_rules

# How long after its end a code stays valid (a late check-out, a stay's last morning).
CODE_GRACE: Final = timedelta(hours=6)


# Made once (module constants, run with their parameters): a door scans one code after another.
# The look: everything a scan's answer needs in one query (the booking, its venue and space, the
# holder's name), the booking as the database has it now.
_LOOK: Final = (
    select(Booking, Venue, Space, User)
    .join(Venue, Venue.id == Booking.venue_id)
    .join(Space, Space.id == Booking.space_id)
    .outerjoin(User, User.id == Booking.user_id)
    .where(Booking.id == bindparam("booking_id"))
    .execution_options(populate_existing=True)
)
_CHECK_IN: Final = (
    update(Booking)
    .where(Booking.id == bindparam("booking_id"), Booking.status == BookingStatus.CONFIRMED)
    .values(
        status=BookingStatus.CHECKED_IN,
        checked_in_at=bindparam("at"),
        arrived=bindparam("arrived"),
        sequence=Booking.sequence + 1,
        updated_at=bindparam("now"),
    )
    .execution_options(synchronize_session=False)
)


def checkin_window(booking: Booking, rules: Rules) -> tuple[datetime, datetime]:
    """When a booking may be checked in: around a slot's start, or from a stay's arrival time to its end."""
    if booking.check_in is not None:
        return kst(booking.check_in, rules.stay_check_in), booking.ends_at
    return (
        booking.starts_at - timedelta(minutes=rules.checkin_opens_minutes_before),
        booking.starts_at + timedelta(minutes=rules.checkin_closes_minutes_after),
    )


# The answer of each scan result, in words, for the door (API.md lists the results).
SCAN_MESSAGES: Final = {
    "checked_in": "scan.checked_in",
    "already_checked_in": "scan.already_checked_in",
    "wrong_venue": "scan.wrong_venue",
    "too_early": "scan.too_early",
    "too_late": "scan.too_late",
    "cancelled": "scan.cancelled",
    "not_found": "scan.not_found",
    "invalid": "scan.invalid",
}


# Answers given without writing and whatever the clock says: the same scan gets the same answer for as
# long as nothing is written (``server.fast_lane`` gives it again from memory).
REPEATABLE_RESULTS: Final = frozenset({"already_checked_in", "cancelled", "wrong_venue", "invalid", "not_found"})


@dataclass(slots=True)
class Arrival:
    """A scan that checks its booking in: what ``CheckinService.read_scan`` found for the write."""

    booking: Booking
    venue: Venue
    space: Space
    about: dict[str, object]  # the holder's masked name and the party, for the answer


def scan_answer(result: str, booking: BookingRead | None = None, **extra: object) -> ScanResult:
    message, message_en = msg(SCAN_MESSAGES[result]).both()
    return ScanResult(
        ok=result == "checked_in",
        result=result,
        message=message,
        message_en=message_en,
        booking=booking,
        **extra,  # type: ignore[arg-type]
    )


class CheckinService:
    def __init__(self, session: AsyncSession, settings: Settings, *, now: datetime | None = None) -> None:
        self.session = session
        self.settings = settings
        self.now = now or utcnow()
        self.bookings = BookingService(session, now=self.now)
        self.history = History(session, self.now)

    async def rules_of(self, booking: Booking) -> Rules:
        row = (
            await self.session.execute(
                select(Venue.kind, Venue.rules, Space.rules)
                .join(Space, Space.venue_id == Venue.id)
                .where(Space.id == booking.space_id)
            )
        ).one()
        return effective_rules(row[0], row[1], row[2])

    # --- codes -----------------------------------------------------------------------------------

    async def code_for(self, booking: Booking) -> str:
        ring = await key_ring(self.session, self.settings.secret_key, now=self.now)
        claims = tokens.Claims(
            key_id=ring.signing_id,
            booking_id=booking.id,
            venue_id=booking.venue_id,
            qr_version=booking.qr_version,
            valid_until=booking.ends_at + CODE_GRACE,
        )
        return tokens.encode(claims, ring.signing)

    async def own_booking(self, user: User, booking_id: int) -> Booking:
        booking = await self.bookings.get(booking_id)
        if booking.user_id != user.id:
            raise NotFound("not_found.booking", booking_id=booking_id)
        return booking

    async def reissue(self, user: User, booking_id: int) -> Booking:
        booking = await self.own_booking(user, booking_id)
        await self.session.execute(
            update(Booking)
            .where(Booking.id == booking.id)
            .values(qr_version=Booking.qr_version + 1)
            .execution_options(synchronize_session=False)
        )
        await self.session.refresh(booking)
        await self.history.record(booking, booking.status, booking.status, "code_reissued", user.id)
        return booking

    async def verify(self, payload: str) -> tokens.Claims | None:
        """The claims of a code whose signature holds under one of our keys; None otherwise."""
        ring = await key_ring(self.session, self.settings.secret_key, now=self.now)
        try:
            claims = tokens.parse(payload)[0]
            if claims.key_id not in ring.public:
                ring = await key_ring(self.session, self.settings.secret_key, now=self.now, refresh=True)
            return tokens.verify(payload, ring.public)
        except tokens.TokenError:
            return None

    # --- scanning --------------------------------------------------------------------------------

    async def read_scan(
        self, staff: Worker, venue_id: int, payload: str, *, arrived: int | None = None
    ) -> ScanResult | Arrival:
        """Everything a scan decides before it writes: its answer when it writes nothing (every result
        but a check-in), or the booking to check in. Reads only, so that ``server.fast_lane`` can answer
        a door's scans from a read-only session, outside SQLite's queue of writers."""
        require_staff(staff, venue_id)
        claims = await self.verify(payload)
        if claims is None:
            return scan_answer("invalid")
        row = (await self.session.execute(_LOOK, {"booking_id": claims.booking_id})).first()
        if row is None:
            return scan_answer("not_found")
        booking, venue, space, user = row
        if claims.qr_version != booking.qr_version % 256:
            return scan_answer("invalid")  # an older code of a booking whose code was reissued
        if claims.venue_id != venue_id or booking.venue_id != venue_id:
            return scan_answer("wrong_venue", booking_read(booking, venue, space))
        about = {"holder": mask_name(holder_name(booking, user)), "party_size": booking.party_size}
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
            return scan_answer("cancelled", booking_read(booking, venue, space), **about)
        if booking.status in (BookingStatus.CHECKED_IN, BookingStatus.CHECKED_OUT):
            return scan_answer(
                "already_checked_in",
                booking_read(booking, venue, space),
                checked_in_at=to_kst(booking.checked_in_at) if booking.checked_in_at else None,
                **about,
            )
        if booking.status != BookingStatus.CONFIRMED:  # waitlisted, offered, held, no_show
            result = "too_late" if booking.status == BookingStatus.NO_SHOW else "invalid"
            return scan_answer(result, booking_read(booking, venue, space))
        opens, closes = checkin_window(booking, effective_rules(venue.kind, venue.rules, space.rules))
        if self.now < opens:
            return scan_answer("too_early", booking_read(booking, venue, space), **about)
        if self.now > closes or self.now > claims.valid_until:
            return scan_answer("too_late", booking_read(booking, venue, space), **about)
        if arrived is not None and arrived > booking.party_size:
            raise ValidationFailed(
                "validation.arrived_above_party",
                errors=[field_error("arrived", "field.at_most", max=booking.party_size)],
                party_size=booking.party_size,
            )
        return Arrival(booking, venue, space, about)

    async def scan(
        self, staff: User, venue_id: int, payload: str, *, arrived: int | None = None, device_id: str = "web"
    ) -> ScanResult:
        seen = await self.read_scan(staff, venue_id, payload, arrived=arrived)
        if isinstance(seen, ScanResult):
            return seen
        booking = seen.booking
        checked = await self.check_in(booking, staff.id, self.now, arrived, "scanned")
        self.session.add(
            CheckinScan(
                booking_id=booking.id,
                venue_id=venue_id,
                device_id=device_id,
                scanned_at=self.now,
                staff_id=staff.id,
                source="online",
                result="checked_in" if checked else "already_checked_in",
                arrived=arrived,
            )
        )
        if checked:
            # What the UPDATE wrote, without reading it back (and without marking the row dirty).
            set_committed_value(booking, "status", BookingStatus.CHECKED_IN)
            set_committed_value(booking, "checked_in_at", self.now)
            set_committed_value(booking, "arrived", arrived or booking.party_size)
        else:  # another scan won the race a moment ago
            await self.session.refresh(booking)
        return scan_answer(
            "checked_in" if checked else "already_checked_in",
            booking_read(booking, seen.venue, seen.space),
            arrived=booking.arrived,
            checked_in_at=to_kst(booking.checked_in_at) if booking.checked_in_at else None,
            **seen.about,
        )

    async def check_in(
        self, booking: Booking, actor_id: int | None, at: datetime, arrived: int | None, reason: str
    ) -> bool:
        """Confirmed → checked in, once: of two scans at the same moment, one UPDATE wins."""
        result = await self.session.execute(
            _CHECK_IN,
            {"booking_id": booking.id, "at": at, "arrived": arrived or booking.party_size, "now": self.now},
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        await self.history.record(booking, BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, reason, actor_id)
        return True

    # --- staff actions ---------------------------------------------------------------------------

    async def check_out(self, staff: User, booking_id: int) -> Booking:
        booking = await lock_booking(self.session, booking_id)
        require_staff(staff, booking.venue_id)
        if booking.status == BookingStatus.CHECKED_OUT:
            return booking
        if not await self.history.transition(
            booking, [BookingStatus.CHECKED_IN], BookingStatus.CHECKED_OUT, "checked_out", staff.id
        ):
            raise InvalidTransition("invalid_transition.check_out", booking_status=booking.status)
        return booking

    async def undo_check_in(self, staff: User, booking_id: int) -> Booking:
        booking = await lock_booking(self.session, booking_id)
        require_staff(staff, booking.venue_id)
        if booking.status == BookingStatus.CONFIRMED:
            return booking
        if not await self.history.transition(
            booking,
            [BookingStatus.CHECKED_IN],
            BookingStatus.CONFIRMED,
            "check_in_undone",
            staff.id,
            checked_in_at=None,
            arrived=None,
        ):
            raise InvalidTransition("invalid_transition.not_checked_in", booking_status=booking.status)
        return booking

    async def walk_in(self, staff: User, venue_id: int, data: WalkInCreate) -> Booking:
        """Staff book a free place for a guest at the door, named but never an account, and check them
        in at once."""
        guest = Guest(name=data.name.strip(), phone=data.phone)
        booking = await self.bookings.walk_in(staff, venue_id, data.slot_id, data.party_size, guest)
        await self.check_in(booking, staff.id, self.now, data.party_size, "walk_in")
        await self.session.refresh(booking)
        return booking
