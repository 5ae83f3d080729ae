"""What a moved or cancelled programme session does to its bookings: they move with it, or are cancelled,
and each person is told. Wired to the programmes' ``SessionHooks`` by ``server.wiring``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.history import History
from booking.holding import Holding
from booking.locks import lock_booking
from booking.models import ACTIVE, Booking, BookingStatus
from core.clock import to_kst, utcnow
from core.i18n import msg
from programs.models import Program, ProgramSession
from programs.services import SessionChange
from venues.models import Slot


async def on_session_changed(
    session: AsyncSession, program: Program, program_session: ProgramSession, slot: Slot, change: SessionChange
) -> None:
    now = utcnow()
    history = History(session, now)
    holding = Holding(session, now)
    booking_ids = (
        await session.scalars(
            select(Booking.id).where(Booking.slot_id == slot.id, Booking.status.in_(ACTIVE)).order_by(Booking.id)
        )
    ).all()
    when = to_kst(slot.starts_at)
    for booking_id in booking_ids:
        booking = await lock_booking(session, booking_id)
        if change == "moved":
            booking.starts_at, booking.ends_at = slot.starts_at, slot.ends_at
            booking.sequence += 1
            await history.record(
                booking, booking.status, booking.status, "session_moved", None, f"→ {when.isoformat()}"
            )
            await history.notify(
                booking.user_id,
                "session_moved",
                msg("notice.session_moved.title", title=program.title, title_en=program.title_en, starts_at=when),
                booking=booking,
            )
            continue
        previous = booking.status
        if previous not in ACTIVE:
            continue
        if await history.transition(booking, ACTIVE, BookingStatus.CANCELLED, "session_cancelled", None):
            await holding.release(booking, previous)
            await history.notify(
                booking.user_id,
                "session_cancelled",
                msg("notice.session_cancelled.title", title=program.title, title_en=program.title_en, starts_at=when),
                booking=booking,
            )
    await session.flush()
