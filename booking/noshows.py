"""No-shows, written once: a booking not checked in by its start plus the grace time is a no-show and its
place is released; K no-shows within the window suspend the citizen's booking for D days (the venue's
rules); a no-show overturned by a scan synced later is taken back, and so is the suspension it caused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.log import record as audit
from booking.history import History
from booking.holding import Holding
from booking.locks import lock_booking, lock_citizen
from booking.models import Booking, BookingStatus
from booking.placement import of_booking
from booking.waitlist import Waitlist
from core.clock import KST, kst, to_kst
from core.i18n import msg
from venues import places
from venues.rules import Rules


def no_show_due(booking: Booking, rules: Rules) -> datetime:
    """When a booking not checked in becomes a no-show: start plus grace for slots; for stays, the end
    of the arrival day (arrivals are expected all afternoon and evening)."""
    if booking.slot_id is None:
        return kst(booking.starts_at.astimezone(KST).date() + timedelta(days=1), datetime.min.time())
    return booking.starts_at + timedelta(minutes=rules.no_show_grace_minutes)


class NoShows:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.history = History(session, now)
        self.holding = Holding(session, now)

    async def count(self, user_id: int, rules: Rules) -> int:
        """A citizen's no-shows within the rules' window: the one count the suspension rule uses."""
        since = self.now - timedelta(days=rules.no_show_window_days)
        total = await self.session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.user_id == user_id, Booking.status == BookingStatus.NO_SHOW, Booking.starts_at >= since)
        )
        return int(total or 0)

    async def due(self, limit: int = 2000) -> list[int]:
        """Confirmed bookings that have started, oldest first (candidates: each is checked against its own
        rules, and those marked leave the set, so a long backlog drains run after run)."""
        return list(
            (
                await self.session.scalars(
                    select(Booking.id)
                    .where(Booking.status == BookingStatus.CONFIRMED, Booking.starts_at <= self.now)
                    .order_by(Booking.starts_at, Booking.id)
                    .limit(limit)
                )
            ).all()
        )

    async def mark(self, booking_id: int) -> bool:
        """One booking: a no-show if it is due; the citizen is locked first (lock order), then the booking."""
        user_id = await self.session.scalar(select(Booking.user_id).where(Booking.id == booking_id))
        citizen = await lock_citizen(self.session, user_id) if user_id is not None else None
        booking = await lock_booking(self.session, booking_id)
        if booking.status != BookingStatus.CONFIRMED:
            return False
        placement = await of_booking(self.session, booking)
        if self.now < no_show_due(booking, placement.rules):
            return False
        if not await self.history.transition(
            booking, [BookingStatus.CONFIRMED], BookingStatus.NO_SHOW, "no_show", None
        ):
            return False
        await self.holding.release(booking, BookingStatus.CONFIRMED)
        if booking.slot_id is not None:
            Waitlist(self.session, self.now).promote_later(booking.slot_id)
        if citizen is not None:
            await self._suspend_if_repeated(citizen, placement.rules)
        return True

    async def _suspend_if_repeated(self, citizen: User, rules: Rules) -> None:
        no_shows = await self.count(citizen.id, rules)
        if no_shows < rules.no_show_limit:
            return
        until = self.now + timedelta(days=rules.suspension_days)
        if citizen.suspended_until is not None and citizen.suspended_until >= until:
            return
        citizen.suspended_until = until
        await audit(
            self.session,
            "account.suspended",
            "account",
            citizen.id,
            venue_id=None,
            details={"until": to_kst(until).isoformat(), "no_shows": no_shows},
            now=self.now,
        )
        await self.history.notify(
            citizen.id,
            "suspended",
            msg("notice.suspended.title", suspended_until=to_kst(until)),
            msg("notice.suspended.body", no_shows=no_shows, suspended_until=to_kst(until), days=rules.suspension_days),
        )
        await self.session.flush()

    async def overturn(self, booking: Booking, actor_id: int) -> None:
        """A no-show proved wrong (a scan made offline, synced later): the booking is confirmed again,
        takes its place back if it is still free (they were in the room: the counter never goes over
        capacity, so it may hold none), and the suspension goes if the count falls under the limit."""
        citizen = await lock_citizen(self.session, booking.user_id) if booking.user_id is not None else None
        booking = await lock_booking(self.session, booking.id)
        if booking.status != BookingStatus.NO_SHOW:
            return
        placement = await of_booking(self.session, booking)
        units = booking.units
        if booking.slot_id is not None and not await places.take_back(self.session, booking.slot_id, units):
            units = 0
        await self.history.transition(
            booking, [BookingStatus.NO_SHOW], BookingStatus.CONFIRMED, "no_show_revoked", actor_id, units=units
        )
        if (
            citizen is not None
            and citizen.suspended_until is not None
            and await self.count(citizen.id, placement.rules) < placement.rules.no_show_limit
        ):
            citizen.suspended_until = None
            await self.session.flush()
