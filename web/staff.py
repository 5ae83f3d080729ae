"""Page data of the staff pages (``web/routes/staff.py``): a staff member's venues, and a venue's day at
the door. Small functions over the domain services' public methods, shaping their answers for a
template; no queries and no rules of their own (who may work where is ``User.can_work_at``, what a
walk-in, a check-out or an undo may do is ``checkin.services``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User
from booking.models import BookingStatus
from booking.schemas import StaffBookingRead
from booking.services import BookingService
from checkin.services import SCAN_MESSAGES
from core.clock import to_kst, today_kst
from core.i18n import msg
from core.pagination import Page
from venues.models import SpaceShape
from venues.schemas import VenueDetail, VenueSummary
from venues.services import VenueService

# Administrators work everywhere: their chooser lists the venues in this many at most.
ADMIN_VENUES_LIMIT: Final = 200
DAY_PAGE_SIZE: Final = 100
WORK_ROLES: Final = (Role.STAFF, Role.MANAGER)


def works_at_venues(user: User) -> bool:
    """Whether the staff pages are for this account at all (staff, managers, administrators)."""
    return user.role == Role.ADMIN or user.role in WORK_ROLES


async def staff_venues(session: AsyncSession, user: User) -> list[VenueSummary]:
    """The venues where this account works: its own, or every venue for an administrator."""
    venues = VenueService(session)
    if user.role == Role.ADMIN:
        page = await venues.search(kind=None, district=None, q=None, limit=ADMIN_VENUES_LIMIT, offset=0)
        return list(page.items)
    if user.role not in WORK_ROLES:
        return []
    return await venues.summaries(user.venue_ids)


def scan_messages() -> dict[str, list[str]]:
    """Each scan result in Korean and English, as the API says it."""
    return {result: list(msg(key).both()) for result, key in SCAN_MESSAGES.items()}


@dataclass(frozen=True, slots=True)
class WalkInSlot:
    """A slot of the day a person at the door can still take."""

    slot_id: int
    space_name: str
    space_name_en: str
    start: datetime
    end: datetime
    remaining: int


@dataclass
class VenueDay:
    venue: VenueDetail
    day: date
    today: date
    bookings: Page[StaffBookingRead]
    walk_in_slots: list[WalkInSlot] = field(default_factory=list)

    @property
    def previous_day(self) -> date:
        return self.day - timedelta(days=1)

    @property
    def next_day(self) -> date:
        return self.day + timedelta(days=1)

    @property
    def is_today(self) -> bool:
        return self.day == self.today

    @property
    def coming(self) -> list[StaffBookingRead]:
        """The bookings that count for the door: everything but cancelled and expired ones."""
        gone = (BookingStatus.CANCELLED, BookingStatus.EXPIRED)
        return [b for b in self.bookings.items if b.status not in gone]

    @property
    def arrived(self) -> list[StaffBookingRead]:
        came = (BookingStatus.CHECKED_IN, BookingStatus.CHECKED_OUT)
        return [b for b in self.bookings.items if b.status in came]

    @property
    def people_expected(self) -> int:
        return sum(b.party_size for b in self.coming)

    @property
    def people_arrived(self) -> int:
        return sum(b.party_size for b in self.arrived)

    def is_stay(self, booking: StaffBookingRead) -> bool:
        """A stay (nights, no slot): checked out at departure."""
        return booking.slot_id is None

    def by_hour(self) -> list[tuple[str, list[StaffBookingRead]]]:
        """The day's bookings grouped by their Seoul start time (a stay that began before today under its
        arrival day's time)."""
        groups: dict[str, list[StaffBookingRead]] = {}
        for booking in self.bookings.items:
            groups.setdefault(to_kst(booking.start).strftime("%H:%M"), []).append(booking)
        return sorted(groups.items())


async def venue_day(session: AsyncSession, venue_id: int, day: date, *, now: datetime, offset: int = 0) -> VenueDay:
    """A venue's bookings of a Seoul day, and (today) the slots still open for walk-ins."""
    venue = await VenueService(session).detail(venue_id)
    service = BookingService(session, now=now)
    bookings = await service.of_venue_day(venue_id, day, statuses=None, limit=DAY_PAGE_SIZE, offset=offset)
    result = VenueDay(venue, day, today_kst(now), bookings)
    if not result.is_today:
        return result
    spaces = {s.id: s for s in venue.spaces}
    for availability in await service.venue_availability(venue_id, day, day):
        space = spaces.get(availability.space_id)
        if space is None or space.shape == SpaceShape.STAY:
            continue
        for slot in availability.slots or []:
            if slot.status == "open" and slot.remaining > 0 and slot.end > now:
                result.walk_in_slots.append(
                    WalkInSlot(slot.id, space.name, space.name_en, slot.start, slot.end, slot.remaining)
                )
    result.walk_in_slots.sort(key=lambda s: (s.start, s.space_name))
    return result
