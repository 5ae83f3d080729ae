"""Imports every domain's models so that the metadata knows all tables (Alembic, tests, create_all)."""

from accounts.models import AccessToken, User, VenueAssignment
from venues.models import Closure, OpeningHours, Space, Venue

__all__ = ["AccessToken", "Closure", "OpeningHours", "Space", "User", "Venue", "VenueAssignment"]
