"""Imports every domain's models so that the metadata knows all tables (Alembic, tests, create_all)."""

from accounts.models import AccessToken, User, VenueAssignment
from booking.models import Booking, BookingEvent, IdempotencyRecord, Notice, StayNight
from venues.models import Closure, OpeningHours, Slot, Space, Venue

__all__ = [
    "AccessToken",
    "Booking",
    "BookingEvent",
    "Closure",
    "IdempotencyRecord",
    "Notice",
    "OpeningHours",
    "Slot",
    "Space",
    "StayNight",
    "User",
    "Venue",
    "VenueAssignment",
]
