"""What the managers' pages show when they need more than one service call (as ``web.views`` for the
public pages): small functions over the domain services' public methods, no queries and no rules.

The pages' paths name the venue (``/manage/venues/{venue_id}/...``) and the page dependency checks that
the viewer manages it; a space, programme or slot named next to it must then belong to that venue, so
that a manager of one venue cannot reach another venue's things through their own venue's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User
from booking.reads import slot_read
from booking.schemas import ClosurePreview, SlotCreate, SlotRead
from booking.services import BookingService
from calendar_feeds.schemas import FeedRead
from calendar_feeds.services import FeedService
from core.clock import today_kst
from core.errors import NotFound
from core.pagination import Page
from core.settings import Settings
from programs.schemas import ProgramDetail, ProgramSummary
from programs.services import ProgramService
from venues.models import Closure
from venues.schemas import ClosureCreate, ClosureRead, SpaceRead, VenueDetail, VenueSummary
from venues.services import ClosureHooks, VenueService

# The closures a venue's page lists: those not over yet, up to this many.
CLOSURES_SHOWN = 100
PROGRAMS_SHOWN = 50
FEEDS_READ = 500


async def managed_venues(session: AsyncSession, user: User, *, limit: int, offset: int) -> Page[VenueSummary]:
    """The venues ``user`` manages: all of them for an administrator, else those they are assigned to."""
    service = VenueService(session)
    if user.role == Role.ADMIN:
        return await service.search(kind=None, district=None, q=None, limit=limit, offset=offset)
    ids = sorted(user.venue_ids) if user.role == Role.MANAGER else []
    venues = [await service.detail(venue_id) for venue_id in ids[offset : offset + limit]]
    summaries = [VenueSummary(**{f: getattr(v, f) for f in VenueSummary.__struct_fields__}) for v in venues]
    return Page(items=summaries, total=len(ids), limit=limit, offset=offset)


@dataclass(frozen=True, slots=True)
class SpaceSlots:
    space: SpaceRead
    slots: Sequence[SlotRead]


@dataclass
class ManagedVenue:
    """The manager's page of one venue."""

    venue: VenueDetail
    day: date
    today: date
    closures: Page[ClosureRead]
    slots: list[SpaceSlots]
    programs: Sequence[ProgramSummary]
    feeds: list[FeedRead] = field(default_factory=list)

    def space_name(self, space_id: int | None) -> tuple[str, str] | None:
        space = next((s for s in self.venue.spaces if s.id == space_id), None)
        return (space.name, space.name_en) if space else None


async def venue_feeds(session: AsyncSession, settings: Settings, user: User, venue: VenueDetail) -> list[FeedRead]:
    """The viewer's live calendar feeds of this venue and of its spaces (their urls are shown only once,
    when made)."""
    page = await FeedService(session, settings).mine(user, limit=FEEDS_READ, offset=0)
    spaces = {s.id for s in venue.spaces}
    return [
        f
        for f in page.items
        if (f.scope == "venue" and f.target_id == venue.id) or (f.scope == "space" and f.target_id in spaces)
    ]


async def managed_venue(
    session: AsyncSession, settings: Settings, user: User, venue_id: int, day: date | None, *, now: datetime
) -> ManagedVenue:
    venues = VenueService(session)
    venue = await venues.detail(venue_id)
    today = today_kst(now)
    shown = day or today
    closures = await venues.list_closures(venue_id, since=today, limit=CLOSURES_SHOWN, offset=0)
    availability = await BookingService(session, now=now).venue_availability(venue_id, shown, shown)
    by_id = {s.id: s for s in venue.spaces}
    slots = [SpaceSlots(by_id[a.space_id], a.slots or []) for a in availability if a.space_id in by_id and a.slots]
    programs = await ProgramService(session).search(
        venue_id=venue_id, kind=None, age=None, q=None, start=None, end=None, limit=PROGRAMS_SHOWN, offset=0
    )
    feeds = await venue_feeds(session, settings, user, venue)
    return ManagedVenue(venue, shown, today, closures, slots, programs.items, feeds)


async def space_of_venue(session: AsyncSession, venue_id: int, space_id: int) -> tuple[VenueDetail, SpaceRead]:
    venue = await VenueService(session).detail(venue_id)
    space = next((s for s in venue.spaces if s.id == space_id), None)
    if space is None:
        raise NotFound("space.not_at_venue", venue_id=venue_id, space_id=space_id)
    return venue, space


async def program_of_venue(session: AsyncSession, venue_id: int, program_id: int) -> tuple[VenueDetail, ProgramDetail]:
    venue = await VenueService(session).detail(venue_id)
    program = await ProgramService(session).detail(program_id)
    if program.venue_id != venue_id:
        raise NotFound("program.not_found", program_id=program_id)
    return venue, program


async def add_slot(session: AsyncSession, venue_id: int, space_id: int, data: SlotCreate) -> SlotRead:
    """A one-off slot in a space of this venue."""
    await space_of_venue(session, venue_id, space_id)
    return slot_read(await BookingService(session).add_slot(space_id, data), with_space=True)


@dataclass(frozen=True, slots=True)
class ClosureSaved:
    preview: ClosurePreview  # what it cancels (or would), found just before saving
    closure: Closure | None = None  # None: not saved, the bookings it would cancel are not those shown


async def save_closure(
    session: AsyncSession, hooks: ClosureHooks, user: User, venue_id: int, data: ClosureCreate, seen: frozenset[int]
) -> ClosureSaved:
    """Save the closure the manager confirmed, if it still cancels the bookings they were shown
    (``seen``); when bookings came or went since, nothing is saved and the new preview is given back."""
    preview = await BookingService(session).preview_closure(venue_id, data)
    if frozenset(b.id for b in preview.bookings) != seen:
        return ClosureSaved(preview)
    closure = await VenueService(session, closure_hooks=hooks).add_closure(venue_id, data, created_by_id=user.id)
    return ClosureSaved(preview, closure)
