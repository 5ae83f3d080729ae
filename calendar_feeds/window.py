"""A feed's window: the Seoul days it covers, and which slots and bookings within them it shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, or_

from booking.models import Booking
from calendar_feeds.render import ENDED_BOOKING_STATUSES
from core.clock import kst, to_kst
from venues.models import Slot, SlotOrigin

WINDOW_BACK_DAYS: Final = 30
WINDOW_AHEAD_DAYS: Final = 180
CANCELLED_KEPT_DAYS: Final = 30


@dataclass(frozen=True, slots=True)
class FeedWindow:
    """Seoul days from 30 days back to 180 days ahead, and the instants that bound them."""

    today: date
    first_day: date
    last_day: date
    start: datetime  # UTC, 00:00 KST of first_day
    end: datetime  # UTC, 24:00 KST of last_day
    today_start: datetime  # UTC, 00:00 KST today
    cancelled_since: datetime  # cancellations older than this are dropped from the feed

    @classmethod
    def at(cls, now: datetime) -> FeedWindow:
        today = to_kst(now).date()
        first_day = today - timedelta(days=WINDOW_BACK_DAYS)
        last_day = today + timedelta(days=WINDOW_AHEAD_DAYS)
        return cls(
            today=today,
            first_day=first_day,
            last_day=last_day,
            start=kst(first_day, time(0)),
            end=kst(last_day + timedelta(days=1), time(0)),
            today_start=kst(today, time(0)),
            # By day, not by the second: the body stays the same all day long and caches well.
            cancelled_since=kst(today - timedelta(days=CANCELLED_KEPT_DAYS), time(0)),
        )

    def overlaps(self, starts: Any, ends: Any) -> ColumnElement[bool]:
        return and_(starts < self.end, ends > self.start)


def shown_slot() -> ColumnElement[bool]:
    """Slots staff follow: sessions and one-off slots always; generated slots once someone booked them
    (an empty practice hour every hour of every day would bury the calendar). The version query filters
    with it too, so that the ETag covers the slots shown and no others."""
    return or_(Slot.origin != SlotOrigin.GENERATED, Slot.taken > 0)


def shown_booking(window: FeedWindow) -> ColumnElement[bool]:
    """Live bookings, and ended ones (cancelled, expired, no-show) for 30 days after they ended."""
    return or_(Booking.status.not_in(ENDED_BOOKING_STATUSES), Booking.updated_at >= window.cancelled_since)
