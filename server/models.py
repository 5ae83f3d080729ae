"""Imports every domain's models so that the metadata knows all tables (Alembic, tests, create_all)."""

from accounts.models import AccessToken, User, VenueAssignment
from audit.models import AuditEntry
from booking.models import Booking, BookingEvent, IdempotencyRecord
from calendar_feeds.models import CalendarFeed
from checkin.models import CheckinKey, CheckinScan
from notifications.models import Notice, NotificationPreference, OutboxMessage
from programs.models import Application, Program, ProgramInstructor, ProgramSession
from server.job_runs import JobRun
from server.lease import SchedulerLease
from venues.models import Closure, OpeningHours, Slot, Space, StayNight, Venue

__all__ = [
    "AccessToken",
    "Application",
    "AuditEntry",
    "Booking",
    "BookingEvent",
    "CalendarFeed",
    "CheckinKey",
    "CheckinScan",
    "Closure",
    "IdempotencyRecord",
    "JobRun",
    "Notice",
    "NotificationPreference",
    "OpeningHours",
    "OutboxMessage",
    "Program",
    "ProgramInstructor",
    "ProgramSession",
    "SchedulerLease",
    "Slot",
    "Space",
    "StayNight",
    "User",
    "Venue",
    "VenueAssignment",
]
