"""A booking's life as it is written down: every change of status through one conditional UPDATE that
records who made it and why, and the notices that tell people about it (``notifications``).

A change is ``UPDATE booking SET status = :to WHERE id = :id AND status IN (:expected)``: of two
processes changing the same booking at once, exactly one wins, and only the winner records the change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from audit.log import record as audit
from booking.models import Booking, BookingEvent, BookingStatus
from core.clock import to_kst
from core.database import insert_row, write_at_commit
from core.i18n import Message, msg
from notifications import outbox
from notifications.templates import About
from venues.models import Venue

# The audit action of a change of status (audit.actions lists them all); ``booking.created`` for a new
# booking. An event that keeps the status is a new code or a moved session; a new kind of either needs
# its action added there, and a KeyError in the tests says so.
_ACTIONS = {
    BookingStatus.CONFIRMED: "booking.confirmed",
    BookingStatus.OFFERED: "booking.offered",
    BookingStatus.CHECKED_IN: "booking.checked_in",
    BookingStatus.CHECKED_OUT: "booking.checked_out",
    BookingStatus.CANCELLED: "booking.cancelled",
    BookingStatus.NO_SHOW: "booking.no_show",
    BookingStatus.EXPIRED: "booking.expired",
}
_SAME_STATUS = {"code_reissued": "booking.qr_reissued", "session_moved": "booking.moved"}
# A history row, written by one INSERT with the commit (``History.record``, ``core.database.write_at_commit``).
_EVENT: Final = insert_row(BookingEvent)


def audit_action(from_status: str | None, to_status: str, reason: str) -> str:
    if from_status is None:
        return "booking.created"
    if from_status == to_status:
        return _SAME_STATUS[reason]
    if from_status == BookingStatus.CHECKED_IN and to_status == BookingStatus.CONFIRMED:
        return "booking.check_in_undone"
    return _ACTIONS[BookingStatus(to_status)]


class History:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now

    async def record(
        self,
        booking: Booking,
        from_status: str | None,
        to_status: str,
        reason: str,
        actor_id: int | None,
        note: str = "",
    ) -> None:
        """A change of ``booking`` written down: its history row and its audit entry, each one INSERT
        with the commit (``core.database.write_at_commit``; no objects: the unit of work's flush of them
        cost more than the statements)."""
        await write_at_commit(
            self.session,
            _EVENT,
            {
                "booking_id": booking.id,
                "at": self.now,
                "from_status": from_status,
                "to_status": to_status,
                "actor_id": actor_id,
                "reason": reason,
                "note": note[:500],
            },
        )
        # Every change of a booking passes here, whichever way in made it: its audit entry too.
        details: dict[str, Any] = {"from": from_status, "to": to_status, "reason": reason}
        if note:
            details["note"] = note[:200]
        if from_status is None:
            details["party_size"] = booking.party_size
        await audit(
            self.session,
            audit_action(from_status, to_status, reason),
            "booking",
            booking.id,
            venue_id=booking.venue_id,
            details=details,
            now=self.now,
        )

    async def transition(
        self,
        booking: Booking,
        expected: Iterable[str],
        to_status: str,
        reason: str,
        actor_id: int | None,
        note: str = "",
        **values: Any,
    ) -> bool:
        """Move ``booking`` to ``to_status`` if it is still in one of ``expected``, and record it.
        False if another change got there first (the booking is then refreshed)."""
        result = await self.session.execute(
            update(Booking)
            .where(Booking.id == booking.id, Booking.status.in_(tuple(expected)))
            .values(status=to_status, sequence=Booking.sequence + 1, updated_at=self.now, **values)
            .execution_options(synchronize_session=False)
        )
        from_status = booking.status
        await self.session.refresh(booking)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        await self.record(booking, from_status, to_status, reason, actor_id, note)
        return True

    async def notify(
        self,
        user_id: int | None,
        kind: str,
        title: Message,
        body: Message | None = None,
        *,
        booking: Booking | None = None,
    ) -> bool:
        """Tell a person: the notice and its messages (``notifications.outbox.notify``), with the booking's
        time and place for the messages. Walk-in guests have no account and get nothing: staff tell them
        at the door."""
        if user_id is None:
            return False
        about = await about_booking(self.session, booking) if booking is not None else None
        return await outbox.notify(self.session, user_id, kind, title, body, about=about, now=self.now)

    async def confirmed(self, booking: Booking) -> bool:
        """A booking confirmed by the citizen's own act (booked, an offer accepted): the notice that says
        so. Promotions, courses and lottery wins say it in their own words."""
        about = await about_booking(self.session, booking)
        return await self.notify(
            booking.user_id,
            "booking_confirmed",
            msg("notice.booking_confirmed.title"),
            msg(
                "notice.booking_confirmed.body",
                starts_at=to_kst(booking.starts_at),
                venue=about.venue,
                venue_en=about.venue_en,
            ),
            booking=booking,
        )


async def about_booking(session: AsyncSession, booking: Booking) -> About:
    venue = await session.get(Venue, booking.venue_id)
    assert venue is not None
    return About(
        booking_id=booking.id,
        starts_at=booking.starts_at,
        venue=venue.name,
        venue_en=venue.name_en,
        address=venue.address,
    )
