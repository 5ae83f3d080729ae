"""What a page shows when it needs more than one service call: small functions over the domain services'
public methods, shaping their answers for a template. No queries and no rules of their own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from booking.services import BookingService
from core.clock import today_kst
from programs.schemas import ProgramSummary
from programs.services import ProgramService
from venues.models import SpaceShape, VenueKind
from venues.schemas import DayRead, SpaceRead, VenueDetail
from venues.services import VenueService

WEEK_DAYS = 7
# How far ahead the venue page lists closures and holidays.
CLOSURES_AHEAD_DAYS = 60


@dataclass(frozen=True, slots=True)
class KindCount:
    kind: VenueKind
    total: int


async def venue_kinds(session: AsyncSession) -> list[KindCount]:
    """How many venues of each kind there are (the home page)."""
    service = VenueService(session)
    counts = []
    for kind in VenueKind:
        page = await service.search(kind=kind, district=None, q=None, limit=1, offset=0)
        counts.append(KindCount(kind, page.total))
    return counts


@dataclass(frozen=True, slots=True)
class Cell:
    """One slot of the week grid, as the API's availability gives it."""

    slot_id: int
    start: datetime
    end: datetime
    capacity: int
    remaining: int
    status: str
    past: bool

    @property
    def state(self) -> str:
        """A word for the badge: available, few_left, full, blocked, closed or past."""
        if self.past:
            return "past"
        if self.status != "open":
            return self.status
        if self.remaining <= 0:
            return "full"
        return "few_left" if self.capacity > 1 and self.remaining * 5 <= self.capacity else "available"


@dataclass(frozen=True, slots=True)
class Night:
    date: date
    available: bool
    past: bool


@dataclass
class SpaceWeek:
    space: SpaceRead
    times: list[str] = field(default_factory=list)  # "HH:MM" rows of the grid, in order
    cells: dict[tuple[str, date], Cell] = field(default_factory=dict)
    nights: dict[date, Night] = field(default_factory=dict)
    total_remaining: int = 0

    @property
    def is_stay(self) -> bool:
        return self.space.shape == SpaceShape.STAY


@dataclass(frozen=True, slots=True)
class ClosureRange:
    """Consecutive closed days for one reason (a closure, a holiday), weekly closing days left out."""

    start: date
    end: date
    reason: str | None
    reason_en: str | None


@dataclass
class VenueWeek:
    venue: VenueDetail
    start: date
    days: list[DayRead]
    spaces: list[SpaceWeek]
    closures: list[ClosureRange]
    programs: Sequence[ProgramSummary]
    today: date

    @property
    def end(self) -> date:
        return self.start + timedelta(days=WEEK_DAYS - 1)

    @property
    def previous_start(self) -> date | None:
        return None if self.start <= self.today else max(self.start - timedelta(days=WEEK_DAYS), self.today)

    @property
    def next_start(self) -> date:
        return self.start + timedelta(days=WEEK_DAYS)

    @property
    def weekly_closed(self) -> set[int]:
        open_days = {h.weekday for h in self.venue.opening_hours}
        return {d for d in range(7) if d not in open_days}


def _closure_ranges(days: Sequence[DayRead], weekly_closed: set[int]) -> list[ClosureRange]:
    ranges: list[ClosureRange] = []
    for day in days:
        # A weekly closing day is in the opening hours already; a holiday on such a day changes nothing.
        if day.open or day.date.weekday() in weekly_closed:
            continue
        last = ranges[-1] if ranges else None
        if last and last.reason == day.reason and last.end + timedelta(days=1) == day.date:
            ranges[-1] = ClosureRange(last.start, day.date, last.reason, last.reason_en)
        else:
            ranges.append(ClosureRange(day.date, day.date, day.reason, day.reason_en))
    return ranges


async def venue_week(session: AsyncSession, venue_id: int, start: date, *, now: datetime) -> VenueWeek:
    """A venue with its spaces, its upcoming closures, its programmes, and a week of availability per
    space from ``start`` (the venue page)."""
    venues = VenueService(session)
    venue = await venues.detail(venue_id)
    end = start + timedelta(days=WEEK_DAYS - 1)
    today = today_kst(now)
    days = await venues.days(venue_id, start, end)
    ahead = await venues.days(venue_id, today, today + timedelta(days=CLOSURES_AHEAD_DAYS))
    availability = await BookingService(session).venue_availability(venue_id, start, end)
    programs = await ProgramService(session).search(
        venue_id=venue_id, kind=None, age=None, q=None, start=today, end=None, limit=20, offset=0
    )
    spaces_by_id = {s.id: s for s in venue.spaces}
    weeks: list[SpaceWeek] = []
    for item in availability:
        space = spaces_by_id.get(item.space_id)
        if space is None:
            continue
        week = SpaceWeek(space)
        for slot in item.slots or []:
            hhmm = slot.start.strftime("%H:%M")
            past = slot.start <= now
            cell = Cell(slot.id, slot.start, slot.end, slot.capacity, slot.remaining, slot.status, past)
            week.cells[(hhmm, slot.start.date())] = cell
            if not past and slot.status == "open":
                week.total_remaining += slot.remaining
        week.times = sorted({hhmm for hhmm, _ in week.cells})
        for night in item.nights or []:
            week.nights[night.date] = Night(night.date, night.available, night.date < today)
            week.total_remaining += int(night.available and night.date >= today)
        weeks.append(week)
    result = VenueWeek(venue, start, days, weeks, [], programs.items, today)
    result.closures = _closure_ranges(ahead, result.weekly_closed)
    return result
