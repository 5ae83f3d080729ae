"""Where a booking is for: the venue, the space, the rules in force there, and the slot and programme
session when there is one. Every rule of the engine reads its facts from a ``Placement``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking
from core.errors import NotFound
from programs.models import Program, ProgramKind, ProgramSession
from venues.models import Slot, Space, SpaceShape, Venue
from venues.rules import Rules, effective_rules


@dataclass(frozen=True, slots=True)
class Placement:
    venue: Venue
    space: Space
    rules: Rules
    slot: Slot | None = None
    program: Program | None = None
    program_session: ProgramSession | None = None

    @property
    def is_camp(self) -> bool:
        """A camp session's places are families, each given a lodging room of the camp."""
        return self.program is not None and self.program.kind == ProgramKind.CAMP

    @property
    def max_party(self) -> int:
        return self.program.max_party if self.program is not None else self.space.max_party

    def units(self, party_size: int) -> int:
        """What a booking takes of its slot: one party for exclusive spaces and camps, people otherwise,
        nothing for stays (their nights are held in stay_night)."""
        if self.slot is None:
            return 0
        if self.is_camp or self.space.shape == SpaceShape.EXCLUSIVE:
            return 1
        return party_size


# Made once (module constants): every booking reads its placement, and builds no SQL of its own for it.
_OF_SLOT: Final = (
    select(Slot, Space, Venue, Program, ProgramSession)
    .join(Space, Space.id == Slot.space_id)
    .join(Venue, Venue.id == Slot.venue_id)
    .outerjoin(ProgramSession, ProgramSession.slot_id == Slot.id)
    .outerjoin(Program, Program.id == ProgramSession.program_id)
    .where(Slot.id == bindparam("slot_id"))
)
_OF_SPACE: Final = select(Space, Venue).join(Venue, Venue.id == Space.venue_id).where(Space.id == bindparam("space_id"))


async def of_slot(session: AsyncSession, slot_id: int) -> Placement:
    row = (await session.execute(_OF_SLOT, {"slot_id": slot_id})).first()
    if row is None:
        raise NotFound("not_found.slot", slot_id=slot_id)
    slot, space, venue, program, program_session = row
    rules = effective_rules(venue.kind, venue.rules, space.rules)
    return Placement(venue, space, rules, slot, program, program_session)


async def of_space(session: AsyncSession, space_id: int) -> Placement:
    row = (await session.execute(_OF_SPACE, {"space_id": space_id})).first()
    if row is None:
        raise NotFound("space.not_found", space_id=space_id)
    space, venue = row
    return Placement(venue, space, effective_rules(venue.kind, venue.rules, space.rules))


async def of_booking(session: AsyncSession, booking: Booking) -> Placement:
    """A booking's placement; for a camp family the slot is the camp session's, not the room."""
    if booking.slot_id is not None:
        return await of_slot(session, booking.slot_id)
    return await of_space(session, booking.space_id)
