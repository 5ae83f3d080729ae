"""Venues, spaces and their slots as tables. Constraints written here are the last guard of their sanity."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from advanced_alchemy.base import IdentityAuditBase
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship


class VenueKind(StrEnum):
    PRACTICE_SITE = "practice_site"
    DIGITAL_PLAZA = "digital_plaza"
    STARTUP_ACADEMY = "startup_academy"
    VITALITY_TOWN = "vitality_town"


class SpaceShape(StrEnum):
    EXCLUSIVE = "exclusive"  # one party per slot
    SHARED = "shared"  # a capacity of people per slot
    STAY = "stay"  # nights, one party per room per night


class SpaceKind(StrEnum):
    LAB = "lab"
    CLASSROOM = "classroom"
    WORKSHOP = "workshop"
    EXPERIENCE_ZONE = "experience_zone"
    HELP_DESK = "help_desk"
    MEETING_ROOM = "meeting_room"
    STUDIO = "studio"
    HOT_DESK = "hot_desk"
    LODGING_ROOM = "lodging_room"
    MEDITATION_ROOM = "meditation_room"
    TRAIL = "trail"
    HALL = "hall"


def _enum_check(column: str, enum: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


class SlotStatus(StrEnum):
    OPEN = "open"
    BLOCKED = "blocked"  # by a manager: no new bookings
    CLOSED = "closed"  # by a closure: its bookings were cancelled


class SlotOrigin(StrEnum):
    GENERATED = "generated"  # from opening hours and slot length
    EXTRA = "extra"  # a one-off slot added by a manager
    SESSION = "session"  # a programme session


class Venue(IdentityAuditBase):
    __tablename__ = "venue"
    __table_args__ = (
        _enum_check("kind", VenueKind),
        CheckConstraint("lat IS NULL OR (lat BETWEEN -90 AND 90)", name="lat_range"),
        CheckConstraint("lon IS NULL OR (lon BETWEEN -180 AND 180)", name="lon_range"),
        Index("ix_venue_kind_district", "kind", "district"),
    )

    slug: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(32), index=True)
    address: Mapped[str] = mapped_column(String(300))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    opens_on_holidays: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Overrides of the venue kind's booking rules (venues.rules); only the keys that differ.
    rules: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)

    spaces: Mapped[list[Space]] = relationship(
        back_populates="venue", order_by="Space.id", cascade="all, delete-orphan", lazy="raise"
    )
    opening_hours: Mapped[list[OpeningHours]] = relationship(
        order_by="(OpeningHours.weekday, OpeningHours.opens)", cascade="all, delete-orphan", lazy="raise"
    )


class Space(IdentityAuditBase):
    __tablename__ = "space"
    __table_args__ = (
        UniqueConstraint("venue_id", "slug", name="uq_space_venue_slug"),
        _enum_check("kind", SpaceKind),
        _enum_check("shape", SpaceShape),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("max_party >= 1 AND max_party <= capacity", name="max_party_range"),
        CheckConstraint(
            "(shape = 'stay' AND slot_minutes IS NULL) OR (shape <> 'stay' AND slot_minutes BETWEEN 10 AND 1440)",
            name="slot_minutes_by_shape",
        ),
    )

    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(32))
    shape: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(Integer)
    max_party: Mapped[int] = mapped_column(Integer, default=1)
    slot_minutes: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)

    venue: Mapped[Venue] = relationship(back_populates="spaces", lazy="raise")


class OpeningHours(IdentityAuditBase):
    """One opening interval on a weekday (0 = Monday); a day may have several (a lunch break)."""

    __tablename__ = "opening_hours"
    __table_args__ = (
        UniqueConstraint("venue_id", "weekday", "opens", name="uq_opening_hours_start"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("opens < closes", name="opens_before_closes"),
    )

    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)


class Closure(IdentityAuditBase):
    """Dates (inclusive, Seoul) when a venue, or one space of it, is closed, with the reason people see."""

    __tablename__ = "closure"
    __table_args__ = (
        CheckConstraint("start_date <= end_date", name="start_before_end"),
        Index("ix_closure_venue_dates", "venue_id", "start_date", "end_date"),
    )

    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id", ondelete="CASCADE"))
    space_id: Mapped[int | None] = mapped_column(ForeignKey("space.id", ondelete="CASCADE"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(300))
    reason_en: Mapped[str] = mapped_column(String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class Slot(IdentityAuditBase):
    """A window of time of a space that can be booked: generated from opening hours, added by a manager,
    or a programme session. ``taken`` changes only through the booking engine's guarded UPDATEs."""

    __tablename__ = "slot"
    __table_args__ = (
        # Generated slots are keyed by space and start, so that generation is idempotent; sessions and
        # one-off slots may start at the same time as a generated slot they replace (which gets blocked).
        Index(
            "uq_slot_generated_space_start",
            "space_id",
            "starts_at",
            unique=True,
            sqlite_where=text("origin = 'generated'"),
            postgresql_where=text("origin = 'generated'"),
        ),
        Index("ix_slot_space_start", "space_id", "starts_at"),
        CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint("taken >= 0 AND taken <= capacity", name="taken_within_capacity"),
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        CheckConstraint("status IN ('open', 'blocked', 'closed')", name="status_valid"),
        Index("ix_slot_venue_start", "venue_id", "starts_at"),
    )

    space_id: Mapped[int] = mapped_column(ForeignKey("space.id", ondelete="CASCADE"))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # For an exclusive space capacity is 1 (one party); for a shared one, people.
    capacity: Mapped[int] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=SlotStatus.OPEN)
    origin: Mapped[str] = mapped_column(String(16), default=SlotOrigin.GENERATED)
    note: Mapped[str] = mapped_column(String(300), default="")
    # Bumped on every change of time or status (calendar feeds use it as SEQUENCE).
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # The closure that closed this slot (so that removing the closure reopens it).
    closure_id: Mapped[int | None] = mapped_column(ForeignKey("closure.id", ondelete="SET NULL"), index=True)
    # A generated slot blocked because a programme session or a one-off slot took its time: that slot.
    held_by_id: Mapped[int | None] = mapped_column(ForeignKey("slot.id", ondelete="SET NULL"), index=True)

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.taken, 0) if self.status == SlotStatus.OPEN else 0


class StayNight(IdentityAuditBase):
    """One night of a room, held by a stay booking or by a camp session; the unique key makes a room's
    night impossible to sell twice. A camp's nights have ``program_session_id`` and get the ``booking_id``
    of the family given the room."""

    __tablename__ = "stay_night"
    __table_args__ = (
        UniqueConstraint("space_id", "night", name="uq_stay_night_space_night"),
        CheckConstraint("booking_id IS NOT NULL OR program_session_id IS NOT NULL", name="held_by_someone"),
    )

    space_id: Mapped[int] = mapped_column(ForeignKey("space.id", ondelete="CASCADE"))
    night: Mapped[date] = mapped_column(Date)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"), index=True)
    program_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("program_session.id", ondelete="CASCADE"), index=True
    )
