"""The reminder the day before: at 18:00 in Seoul, every confirmed booking of the next day gets one
notice (and its messages), once per booking however often the job runs, and in however many processes:
the notice's unique index on (booking, kind) lets only the first write through
(``notifications.models.ONCE_PER_BOOKING``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from booking.history import History, about_booking
from booking.models import Booking, BookingStatus
from core.clock import day_bounds_utc, to_kst, today_kst, utcnow
from core.database import unit_of_work
from core.i18n import msg
from core.settings import Settings


async def send_reminders(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    """Remind the holders of tomorrow's confirmed bookings (Seoul days), one booking per transaction."""
    at = now or utcnow()
    start, end = day_bounds_utc(today_kst(at) + timedelta(days=1))
    async with unit_of_work(engine) as session:
        booking_ids = list(
            (
                await session.scalars(
                    select(Booking.id)
                    .where(
                        Booking.status == BookingStatus.CONFIRMED,
                        Booking.user_id.is_not(None),
                        Booking.starts_at >= start,
                        Booking.starts_at < end,
                    )
                    .order_by(Booking.starts_at, Booking.id)
                )
            ).all()
        )
    reminded = 0
    for booking_id in booking_ids:
        async with unit_of_work(engine) as session:
            booking = await session.get(Booking, booking_id)
            # Read again in its own transaction: cancelled or moved since the list was made.
            if booking is None or booking.status != BookingStatus.CONFIRMED or not start <= booking.starts_at < end:
                continue
            about = await about_booking(session, booking)
            when = to_kst(booking.starts_at)
            told = await History(session, at).notify(
                booking.user_id,
                "reminder",
                msg("notice.reminder.title", starts_at=when),
                msg("notice.reminder.body", starts_at=when, venue=about.venue, venue_en=about.venue_en),
                booking=booking,
            )
            reminded += told
    return reminded
