"""A booking and its place: a new booking takes one (or joins the waitlist), a waitlisted one moves up
into one, an ending one gives its place back. Every place goes through ``venues.places``, the only
writer of places; this module decides which booking row goes with it and writes its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.errors import AlreadyBooked, SoldOut
from booking.history import History
from booking.models import TAKING, Booking, BookingStatus
from booking.placement import Placement
from booking.ways import Way
from core.clock import kst
from core.database import constraint_of
from venues import places

# The one active booking per citizen per slot, whatever the races.
ONE_PER_SLOT = "uq_booking_active_user_slot"


class _NoPlace(Exception):
    """Inside a savepoint: no place was there; roll it back (no booking, no history, no room)."""

    def __init__(self, key: str = "", **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class Guest:
    """A walk-in at the door, known by name: never an account."""

    name: str
    phone: str | None = None


def _actor_id(actor: User | None, holder: User | None) -> int | None:
    who = actor or holder
    return who.id if who is not None else None


class Holding:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.history = History(session, now)

    def _new_row(
        self,
        status: str,
        holder: User | None,
        placement: Placement,
        party_size: int,
        actor: User | None,
        guest: Guest | None,
    ) -> Booking:
        slot = placement.slot
        assert slot is not None
        return Booking(
            user_id=holder.id if holder is not None else None,
            venue_id=placement.venue.id,
            space_id=placement.space.id,
            slot_id=slot.id,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            party_size=party_size,
            units=placement.units(party_size),
            status=status,
            walk_in=guest is not None,
            guest_name=guest.name if guest is not None else None,
            guest_phone=guest.phone if guest is not None else None,
            created_by_id=_actor_id(actor, holder),
        )

    async def _take(self, booking: Booking, placement: Placement) -> None:
        """The place of a booking row already written: a camp family's room first, then the slot's
        units. The slot's row is the one everybody waits for in a rush, so its lock is taken last and
        held only until the commit."""
        assert booking.slot_id is not None
        if placement.is_camp:
            camp = placement.program_session
            assert camp is not None
            assert camp.check_in is not None
            assert camp.check_out is not None
            room = await places.give_room(
                self.session, camp.id, (camp.check_out - camp.check_in).days, booking.party_size, booking.id
            )
            if room is None:
                raise _NoPlace("sold_out.no_room", party_size=booking.party_size)
            booking.space_id = room
            await self.session.flush()
        if not await places.take(self.session, booking.slot_id, booking.units):
            raise _NoPlace

    async def new(
        self,
        way: Way,
        holder: User | None,
        placement: Placement,
        party_size: int,
        *,
        waitlist: bool = False,
        actor: User | None = None,
        guest: Guest | None = None,
    ) -> Booking:
        """A new booking of a slot holding its place; else a place in the queue when ``waitlist``, else
        ``sold_out``. The rules were checked before (``booking.eligibility``).

        A refusal leaves what it wrote for the caller to roll back, as every refusal does: the request's
        unit of work, or the savepoint of a caller that goes on (``web.forms.attempt``, a course's
        sessions)."""
        actor_id = _actor_id(actor, holder)
        if not placement.is_camp:
            return await self._new_of_slot(way, holder, placement, party_size, waitlist, actor, guest)
        try:
            try:
                async with self.session.begin_nested():
                    booking = self._new_row(BookingStatus.CONFIRMED, holder, placement, party_size, actor, guest)
                    self.session.add(booking)
                    await self.session.flush()
                    await self.history.record(booking, None, booking.status, way, actor_id)
                    await self._take(booking, placement)
                return booking
            except _NoPlace as no_place:
                refusal = no_place
            if not waitlist:
                assert placement.slot is not None
                left = await places.remaining(self.session, placement.slot.id)
                if refusal.key:
                    raise SoldOut(refusal.key, remaining=left, **refusal.params)
                raise SoldOut("sold_out.places_left", remaining=left)
            async with self.session.begin_nested():
                booking = self._new_row(BookingStatus.WAITLISTED, holder, placement, party_size, actor, guest)
                self.session.add(booking)
                await self.session.flush()
                reason = "waitlisted" if way == Way.BOOKING else f"{way}_waitlisted"
                await self.history.record(booking, None, booking.status, reason, actor_id)
            return booking
        except IntegrityError as exc:
            if constraint_of(exc) == ONE_PER_SLOT:
                raise AlreadyBooked("already_booked.slot") from exc
            raise

    async def _new_of_slot(
        self,
        way: Way,
        holder: User | None,
        placement: Placement,
        party_size: int,
        waitlist: bool,
        actor: User | None,
        guest: Guest | None,
    ) -> Booking:
        """``new`` for a slot's units (no camp room): the guarded UPDATE first, so that a slot with no
        place left has nothing to undo and no savepoint is needed (two round trips fewer). Its lock is
        held from there to the commit, as long as before: the INSERT that follows it took the place of
        the savepoint's release."""
        slot = placement.slot
        assert slot is not None
        if await places.take(self.session, slot.id, placement.units(party_size)):
            status, reason = BookingStatus.CONFIRMED, str(way)
        elif waitlist:
            status = BookingStatus.WAITLISTED
            reason = "waitlisted" if way == Way.BOOKING else f"{way}_waitlisted"
        else:
            raise SoldOut("sold_out.places_left", remaining=await places.remaining(self.session, slot.id))
        booking = self._new_row(status, holder, placement, party_size, actor, guest)
        self.session.add(booking)
        try:
            await self.session.flush()
        except IntegrityError as exc:  # the places taken are undone with the rest by the caller's rollback
            if constraint_of(exc) == ONE_PER_SLOT:
                raise AlreadyBooked("already_booked.slot") from exc
            raise
        await self.history.record(booking, None, booking.status, reason, _actor_id(actor, holder))
        return booking

    async def queue(self, way: Way, holder: User, placement: Placement, party_size: int) -> Booking:
        """A place in a slot's line without trying for a place first (a lottery's waitlist, in drawn order)."""
        try:
            async with self.session.begin_nested():
                booking = self._new_row(BookingStatus.WAITLISTED, holder, placement, party_size, None, None)
                self.session.add(booking)
                await self.session.flush()
                await self.history.record(booking, None, booking.status, f"{way}_waitlisted", holder.id)
        except IntegrityError as exc:
            if constraint_of(exc) == ONE_PER_SLOT:
                raise AlreadyBooked("already_booked.slot") from exc
            raise
        return booking

    async def new_stay(
        self, holder: User, placement: Placement, check_in: date, check_out: date, party_size: int
    ) -> Booking:
        """A stay: the room's nights from check-in to check-out, all of them or none."""
        rules = placement.rules
        nights = [check_in + timedelta(days=n) for n in range((check_out - check_in).days)]
        taken = await places.taken_nights(self.session, placement.space.id, nights)
        if taken:
            raise SoldOut("sold_out.night_taken", night=taken[0].isoformat())
        booking = Booking(
            user_id=holder.id,
            venue_id=placement.venue.id,
            space_id=placement.space.id,
            check_in=check_in,
            check_out=check_out,
            starts_at=kst(check_in, rules.stay_check_in),
            ends_at=kst(check_out, rules.stay_check_out),
            party_size=party_size,
            units=0,
            status=BookingStatus.CONFIRMED,
            created_by_id=holder.id,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(booking)
                await self.session.flush()
                if not await places.take_nights(self.session, placement.space.id, nights, booking.id):
                    raise _NoPlace
        except _NoPlace:
            raise SoldOut("sold_out.night_taken_meanwhile") from None
        await self.history.record(booking, None, booking.status, Way.BOOKING, holder.id)
        return booking

    async def move_up(self, booking: Booking, placement: Placement) -> bool:
        """A waitlisted booking takes the place it waited for, if it is there (its room, for a camp
        family); nothing is taken when it is not."""
        try:
            async with self.session.begin_nested():
                await self._take(booking, placement)
        except _NoPlace:
            await self.session.refresh(booking)
            return False
        return True

    async def release(self, booking: Booking, previous_status: str) -> None:
        """Give back what a booking held: its units of the slot, and its nights or its camp room."""
        if previous_status in TAKING and booking.slot_id is not None:
            await places.give_back(self.session, booking.slot_id, booking.units)
        await places.free_nights(self.session, booking.id)
