"""The queries that load what a feed shows (slots, stays, one's bookings, sessions) into render rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.models import ACTIVE, Booking, BookingStatus
from calendar_feeds.models import FeedScope
from calendar_feeds.render import (
    BookingRow,
    FeedEvent,
    Links,
    Place,
    RosterLine,
    SessionRow,
    SlotRow,
    booking_event,
    session_event,
    slot_event,
    stay_event,
)
from calendar_feeds.subscriptions import FeedTarget, ResolvedFeed
from calendar_feeds.window import FeedWindow, shown_booking, shown_slot
from programs.models import Program, ProgramSession, SessionStatus
from venues.models import Slot, Space, Venue

ROSTER_STATUSES: Final = (*ACTIVE, BookingStatus.CHECKED_OUT)


@dataclass(frozen=True, slots=True)
class FeedRows:
    """The rows of one feed, by scope: one's bookings (``me``), sessions (``program``), or the slots and
    stays of a venue or space."""

    scope: FeedScope
    bookings: list[BookingRow] = field(default_factory=list)
    sessions: list[SessionRow] = field(default_factory=list)
    slots: list[SlotRow] = field(default_factory=list)
    stays: list[BookingRow] = field(default_factory=list)

    def events(self, links: Links) -> list[FeedEvent]:
        """The calendar's events in start order. Pure, so that it runs in the render's worker thread."""
        if self.scope == FeedScope.ME:
            return [booking_event(row, links) for row in self.bookings]
        if self.scope == FeedScope.PROGRAM:
            return [session_event(row, links) for row in self.sessions]
        slot_events = [slot_event(row, links) for row in self.slots]
        stays = [stay_event(row, links) for row in self.stays]
        return sorted([*slot_events, *stays], key=lambda e: (e.start, e.uid))


def _place(venue: Venue, space_name: str, space_name_en: str, shape: str) -> Place:
    return Place(
        venue_id=venue.id,
        venue_name=venue.name,
        venue_name_en=venue.name_en,
        address=venue.address,
        lat=venue.lat,
        lon=venue.lon,
        space_name=space_name,
        space_name_en=space_name_en,
        space_shape=shape,
    )


def _booking_row(booking: Booking, place: Place, **extra: Any) -> BookingRow:
    return BookingRow(
        id=booking.id,
        place=place,
        status=booking.status,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        party_size=booking.party_size,
        sequence=booking.sequence,
        updated_at=booking.updated_at,
        check_in=booking.check_in,
        check_out=booking.check_out,
        **extra,
    )


class FeedRowQueries:
    """Reads the domains' tables for a feed; run only on a render-cache miss."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self, resolved: ResolvedFeed, window: FeedWindow) -> FeedRows:
        target = resolved.target
        if target.scope == FeedScope.ME:
            return FeedRows(target.scope, bookings=await self.my_bookings(resolved.owner.id, window))
        if target.scope == FeedScope.PROGRAM:
            return FeedRows(target.scope, sessions=await self.sessions(target, window))
        return FeedRows(target.scope, slots=await self.slots(target, window), stays=await self.stays(target, window))

    async def slots(self, target: FeedTarget, window: FeedWindow) -> list[SlotRow]:
        venue = target.venue
        assert venue is not None
        scope_filter = Slot.space_id == target.space.id if target.space is not None else Slot.venue_id == venue.id
        rows = await self.session.execute(
            select(
                Slot.id,
                Slot.starts_at,
                Slot.ends_at,
                Slot.capacity,
                Slot.taken,
                Slot.status,
                Slot.origin,
                Slot.note,
                Slot.sequence,
                Slot.updated_at,
                Space.name,
                Space.name_en,
                Space.shape,
                Program.id,
                Program.title,
                Program.title_en,
            )
            .join(Space, Space.id == Slot.space_id)
            .outerjoin(ProgramSession, ProgramSession.slot_id == Slot.id)
            .outerjoin(Program, Program.id == ProgramSession.program_id)
            .where(scope_filter, window.overlaps(Slot.starts_at, Slot.ends_at), shown_slot())
            .order_by(Slot.starts_at, Slot.id)
        )
        places: dict[tuple[str, str, str], Place] = {}
        out: list[SlotRow] = []
        for (
            slot_id,
            starts_at,
            ends_at,
            capacity,
            taken,
            status,
            origin,
            note,
            sequence,
            updated_at,
            space_name,
            space_name_en,
            shape,
            program_id,
            title,
            title_en,
        ) in rows:
            key = (space_name, space_name_en, shape)
            place = places.get(key) or places.setdefault(key, _place(venue, *key))
            out.append(
                SlotRow(
                    id=slot_id,
                    place=place,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    capacity=capacity,
                    taken=taken,
                    status=status,
                    origin=origin,
                    note=note,
                    sequence=sequence,
                    updated_at=updated_at,
                    program_id=program_id,
                    program_title=title,
                    program_title_en=title_en,
                )
            )
        return out

    async def stays(self, target: FeedTarget, window: FeedWindow) -> list[BookingRow]:
        venue = target.venue
        assert venue is not None
        scope_filter = Booking.space_id == target.space.id if target.space is not None else Booking.venue_id == venue.id
        rows = await self.session.execute(
            select(Booking, Space.name, Space.name_en, Space.shape, User.name)
            .join(Space, Space.id == Booking.space_id)
            .join(User, User.id == Booking.user_id)
            .where(
                scope_filter,
                Booking.check_in.is_not(None),
                window.overlaps(Booking.starts_at, Booking.ends_at),
                shown_booking(window),
            )
            .order_by(Booking.starts_at, Booking.id)
        )
        return [
            _booking_row(b, _place(venue, space_name, space_name_en, shape), holder_name=holder)
            for b, space_name, space_name_en, shape, holder in rows
        ]

    async def my_bookings(self, user_id: int, window: FeedWindow) -> list[BookingRow]:
        rows = await self.session.execute(
            select(Booking, Venue, Space.name, Space.name_en, Space.shape, Program.id, Program.title, Program.title_en)
            .join(Venue, Venue.id == Booking.venue_id)
            .join(Space, Space.id == Booking.space_id)
            .outerjoin(ProgramSession, ProgramSession.slot_id == Booking.slot_id)
            .outerjoin(Program, Program.id == ProgramSession.program_id)
            .where(
                Booking.user_id == user_id,
                window.overlaps(Booking.starts_at, Booking.ends_at),
                shown_booking(window),
            )
            .order_by(Booking.starts_at, Booking.id)
        )
        return [
            _booking_row(
                b,
                _place(venue, space_name, space_name_en, shape),
                program_id=program_id,
                program_title=title,
                program_title_en=title_en,
            )
            for b, venue, space_name, space_name_en, shape, program_id, title, title_en in rows
        ]

    async def sessions(self, target: FeedTarget, window: FeedWindow) -> list[SessionRow]:
        program, venue, space = target.program, target.venue, target.space
        assert program is not None
        assert venue is not None
        assert space is not None
        rows = (
            await self.session.execute(
                select(ProgramSession, Slot)
                .join(Slot, Slot.id == ProgramSession.slot_id)
                .where(
                    ProgramSession.program_id == program.id,
                    window.overlaps(Slot.starts_at, Slot.ends_at),
                    or_(
                        ProgramSession.status != SessionStatus.CANCELLED,
                        ProgramSession.updated_at >= window.cancelled_since,
                    ),
                )
                .order_by(Slot.starts_at, ProgramSession.id)
            )
        ).all()
        roster: dict[int, list[RosterLine]] = {}
        if rows:
            people = await self.session.execute(
                # A walk-in guest has no account: the name given at the door.
                select(
                    Booking.slot_id, Booking.status, Booking.party_size, func.coalesce(User.name, Booking.guest_name)
                )
                .outerjoin(User, User.id == Booking.user_id)
                .join(ProgramSession, ProgramSession.slot_id == Booking.slot_id)
                .where(ProgramSession.program_id == program.id, Booking.status.in_(ROSTER_STATUSES))
                .order_by(Booking.id)
            )
            for slot_id, status, party_size, name in people:
                roster.setdefault(slot_id, []).append(RosterLine(name, party_size, status))
        place = _place(venue, space.name, space.name_en, space.shape)
        return [
            SessionRow(
                id=s.id,
                program_id=program.id,
                title=program.title,
                title_en=program.title_en,
                place=place,
                status=s.status,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                capacity=slot.capacity,
                taken=slot.taken,
                sequence=s.sequence,
                updated_at=max(s.updated_at, slot.updated_at),
                roster=tuple(roster.get(slot.id, ())),
            )
            for s, slot in rows
        ]
