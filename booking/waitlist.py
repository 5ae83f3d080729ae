"""The waitlist: a freed place goes to the first in line who may take it, confirmed at once or offered for
a while (the venue's rule), and an offer is accepted or expires to the next in line.

A promotion runs in a transaction of its own, after the one that freed the place has committed
(``core.database.after_commit``): it locks the next citizen before the slot, as every booking does. A
scheduled job sweeps slots with free places and a queue, should a follow-up have failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts.models import User
from audit.context import as_system
from booking.eligibility import Eligibility, Wanted
from booking.errors import InvalidTransition, OfferExpired
from booking.history import History
from booking.holding import Holding
from booking.locks import lock_booking, lock_citizen
from booking.models import Booking, BookingStatus
from booking.placement import of_slot
from booking.ways import Way
from core.clock import to_kst, utcnow
from core.database import after_commit, unit_of_work
from core.errors import DomainError, NotFound
from core.i18n import msg
from venues import places
from venues.models import Slot, SlotStatus


class Waitlist:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.history = History(session, now)
        self.holding = Holding(session, now)
        self.eligibility = Eligibility(session, now)

    def promote_later(self, slot_id: int) -> None:
        """Once this transaction has committed, offer the slot's freed places to its queue."""

        now = self.now  # the follow-up keeps the clock of what freed the place

        async def promote(engine: AsyncEngine) -> object:
            # The next in line moves up by the system's act, not by whoever freed the place.
            with as_system():
                return await promote_all(engine, slot_id, now)

        promote.__qualname__ = f"promote_all(slot={slot_id})"
        after_commit(self.session, promote, key=("promote", slot_id))

    async def promote_next(self, slot_id: int) -> Booking | None:
        """The first in line who may take a freed place gets it; those the rules now pass over (suspended,
        at their quota, booked elsewhere at that time, or too big a party for what is free) keep their
        place in line. None when nobody moved up."""
        placement = await of_slot(self.session, slot_id)
        passed_over: set[int] = set()
        while True:
            query = select(Booking).where(Booking.slot_id == slot_id, Booking.status == BookingStatus.WAITLISTED)
            if passed_over:
                query = query.where(Booking.id.not_in(passed_over))
            candidate = await self.session.scalar(query.order_by(Booking.id).limit(1))
            if candidate is None:
                return None
            citizen = await lock_citizen(self.session, candidate.user_id) if candidate.user_id is not None else None
            candidate = await lock_booking(self.session, candidate.id)
            if candidate.status != BookingStatus.WAITLISTED:
                passed_over.add(candidate.id)
                continue
            try:
                await self.eligibility.check(
                    Way.PROMOTION,
                    citizen,
                    [Wanted.slot(placement)],
                    candidate.party_size,
                    exclude_booking_id=candidate.id,
                )
            except DomainError:
                passed_over.add(candidate.id)
                continue
            if not await self.holding.move_up(candidate, placement):
                if await places.remaining(self.session, slot_id) <= 0:
                    return None
                passed_over.add(candidate.id)  # too big a party for what is free: the next may fit
                continue
            await self._moved_up(candidate, placement.rules.waitlist_offer_minutes)
            return candidate

    async def _moved_up(self, booking: Booking, offer_minutes: int | None) -> None:
        when = to_kst(booking.starts_at)
        if offer_minutes is None:
            await self.history.transition(
                booking, [BookingStatus.WAITLISTED], BookingStatus.CONFIRMED, Way.PROMOTION, None
            )
            await self.history.notify(
                booking.user_id,
                "waitlist_confirmed",
                msg("notice.waitlist_confirmed.title"),
                msg("notice.waitlist_confirmed.body", starts_at=when),
                booking=booking,
            )
            return
        expires = self.now + timedelta(minutes=offer_minutes)
        await self.history.transition(
            booking, [BookingStatus.WAITLISTED], BookingStatus.OFFERED, "offered", None, offer_expires_at=expires
        )
        await self.history.notify(
            booking.user_id,
            "waitlist_offer",
            msg("notice.waitlist_offer.title"),
            msg("notice.waitlist_offer.body", starts_at=when, expires_at=to_kst(expires)),
            booking=booking,
        )

    # --- offers --------------------------------------------------------------------------------------

    async def accept(self, user: User, booking_id: int) -> Booking:
        citizen = await lock_citizen(self.session, user.id)
        booking = await lock_booking(self.session, booking_id)
        if booking.user_id != user.id:
            raise NotFound("not_found.booking", booking_id=booking_id)
        if booking.status == BookingStatus.CONFIRMED:
            return booking  # accepting twice changes nothing
        if booking.status == BookingStatus.EXPIRED or (
            booking.status == BookingStatus.OFFERED
            and booking.offer_expires_at is not None
            and booking.offer_expires_at <= self.now
        ):
            raise OfferExpired("offer_expired.detail")  # the expiry job gives the place to the next in line
        if booking.status != BookingStatus.OFFERED:
            raise InvalidTransition("invalid_transition.not_offered", booking_status=booking.status)
        placement = await of_slot(self.session, booking.slot_id) if booking.slot_id is not None else None
        if placement is not None:
            await self.eligibility.check(
                Way.OFFER, citizen, [Wanted.slot(placement)], booking.party_size, exclude_booking_id=booking.id
            )
        if await self.history.transition(booking, [BookingStatus.OFFERED], BookingStatus.CONFIRMED, Way.OFFER, user.id):
            await self.history.confirmed(booking)
        return booking

    async def expire(self, booking_id: int) -> bool:
        """An offer past its deadline: the place goes back, then to the next in line."""
        booking = await lock_booking(self.session, booking_id)
        if (
            booking.status != BookingStatus.OFFERED
            or booking.offer_expires_at is None
            or booking.offer_expires_at > self.now
        ):
            return False
        if not await self.history.transition(
            booking, [BookingStatus.OFFERED], BookingStatus.EXPIRED, "offer_expired", None
        ):
            return False
        await self.holding.release(booking, BookingStatus.OFFERED)
        await self.history.notify(
            booking.user_id,
            "offer_expired",
            msg("notice.offer_expired.title"),
            msg("notice.offer_expired.body", starts_at=to_kst(booking.starts_at)),
            booking=booking,
        )
        if booking.slot_id is not None:
            self.promote_later(booking.slot_id)
        return True


async def promote_all(engine: AsyncEngine, slot_id: int, now: datetime | None = None) -> int:
    """Move people up into a slot's free places, one citizen per transaction, until nobody moves."""
    moved = 0
    capacity = 0
    async with unit_of_work(engine) as session:
        capacity = int(await session.scalar(select(Slot.capacity).where(Slot.id == slot_id)) or 0)
    for _ in range(capacity):
        async with unit_of_work(engine) as session:
            if await Waitlist(session, now or utcnow()).promote_next(slot_id) is None:
                break
        moved += 1
    return moved


async def slots_with_free_places_and_a_queue(session: AsyncSession, now: datetime) -> list[int]:
    waiting = select(Booking.slot_id).where(Booking.status == BookingStatus.WAITLISTED, Booking.starts_at > now)
    return list(
        (
            await session.scalars(
                select(Slot.id)
                .where(Slot.id.in_(waiting), Slot.status == SlotStatus.OPEN, Slot.taken < Slot.capacity)
                .order_by(Slot.id)
            )
        ).all()
    )
