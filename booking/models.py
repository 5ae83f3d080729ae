"""Bookings, stay nights, their history and idempotency keys (slots are in ``venues.models``).

The booking invariant lives in these tables, so that it holds with many server processes on SQLite and
on PostgreSQL:
- ``slot.taken`` is changed only by guarded UPDATEs (``taken + n <= capacity``) and is backed by
  ``CHECK (taken BETWEEN 0 AND capacity)``: a slot can never be oversold.
- one active booking per citizen per slot: a unique partial index;
- one active booking per stay room per night: one ``stay_night`` row per night, unique per room and date;
- a citizen's own bookings never overlap: checked while the citizen's account row is locked.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from advanced_alchemy.base import IdentityAuditBase
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column


class BookingStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    OFFERED = "offered"
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    EXPIRED = "expired"


# Bookings that take a place (count against the slot's capacity).
TAKING = (BookingStatus.HELD, BookingStatus.CONFIRMED, BookingStatus.OFFERED, BookingStatus.CHECKED_IN)
# Bookings that are still alive for their holder (a place, or a place in the queue).
ACTIVE = (*TAKING, BookingStatus.WAITLISTED)
_ACTIVE_SQL = ", ".join(f"'{s.value}'" for s in ACTIVE)


class Booking(IdentityAuditBase):
    __tablename__ = "booking"
    __table_args__ = (
        CheckConstraint("party_size >= 1", name="party_positive"),
        CheckConstraint("units >= 0", name="units_nonnegative"),
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        CheckConstraint(
            "(slot_id IS NOT NULL AND check_in IS NULL) OR (slot_id IS NULL AND check_in < check_out)",
            name="slot_or_stay",
        ),
        CheckConstraint(
            "status IN ('held', 'confirmed', 'waitlisted', 'offered', 'checked_in', 'checked_out', "
            "'cancelled', 'no_show', 'expired')",
            name="status_valid",
        ),
        # A booking is a citizen's, or a walk-in guest's named at the door: never someone else's account.
        CheckConstraint(
            "user_id IS NOT NULL OR (walk_in AND guest_name IS NOT NULL)",
            name="holder_or_guest",
        ),
        # One active booking per citizen per slot, whatever the races (already_booked).
        Index(
            "uq_booking_active_user_slot",
            "user_id",
            "slot_id",
            unique=True,
            sqlite_where=text(f"status IN ({_ACTIVE_SQL}) AND slot_id IS NOT NULL"),
            postgresql_where=text(f"status IN ({_ACTIVE_SQL}) AND slot_id IS NOT NULL"),
        ),
        Index("ix_booking_user_start", "user_id", "starts_at"),
        Index("ix_booking_slot_status", "slot_id", "status"),
        Index("ix_booking_venue_start", "venue_id", "starts_at"),
        Index("ix_booking_status_start", "status", "starts_at"),
    )

    # The citizen holding the booking; none for a walk-in guest, who is known by name only.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id", ondelete="CASCADE"))
    space_id: Mapped[int] = mapped_column(ForeignKey("space.id", ondelete="CASCADE"))
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"))
    check_in: Mapped[date | None] = mapped_column(Date)
    check_out: Mapped[date | None] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    party_size: Mapped[int] = mapped_column(Integer)
    # What the booking takes from its slot while it holds a place: the party for shared spaces, 1 for
    # exclusive ones, 0 for stays (nights are held in stay_night).
    units: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    late_cancel: Mapped[bool] = mapped_column(Boolean, default=False)
    offer_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # Bumped on every change of time or status (calendar feeds use it as SEQUENCE).
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    walk_in: Mapped[bool] = mapped_column(Boolean, default=False)
    guest_name: Mapped[str | None] = mapped_column(String(100))
    guest_phone: Mapped[str | None] = mapped_column(String(40))
    # The QR code's generation: reissuing the code bumps it, and codes of older generations are refused.
    qr_version: Mapped[int] = mapped_column(Integer, default=0)
    # How many of the party came through the door (a booking for 4 may check in with 3).
    arrived: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class BookingEvent(IdentityAuditBase):
    """The history of a booking: every change of status, who made it, when and why."""

    __tablename__ = "booking_event"

    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(String(500), default="")


class IdempotencyRecord(IdentityAuditBase):
    """The first answer to a request with an ``Idempotency-Key``, replayed to its retries."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JsonB)
