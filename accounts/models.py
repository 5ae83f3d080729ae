"""Accounts, their venue assignments and their access tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from advanced_alchemy.base import IdentityAuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship


class Role(StrEnum):
    CITIZEN = "citizen"
    STAFF = "staff"
    MANAGER = "manager"
    INSTRUCTOR = "instructor"
    ADMIN = "admin"


# Roles whose powers stop at the venues they are assigned to.
VENUE_SCOPED_ROLES = frozenset({Role.STAFF, Role.MANAGER})


class Worker(Protocol):
    """Who may work at venues: an account, or what is remembered of its token's holder
    (``accounts.principals.Principal``)."""

    def can_work_at(self, venue_id: int, *roles: Role) -> bool: ...


class User(IdentityAuditBase):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint("role IN ('citizen', 'staff', 'manager', 'instructor', 'admin')", name="role_valid"),
    )

    # Stored lower-cased, so the unique index is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16), default=Role.CITIZEN)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set by the booking engine after repeated no-shows: no new bookings until then.
    suspended_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    assignments: Mapped[list[VenueAssignment]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="VenueAssignment.venue_id"
    )

    @property
    def venue_ids(self) -> frozenset[int]:
        return frozenset(a.venue_id for a in self.assignments)

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    def can_work_at(self, venue_id: int, *roles: Role) -> bool:
        """Admins everywhere; the given venue-scoped roles only at their own venues."""
        if self.role == Role.ADMIN:
            return True
        return self.role in roles and venue_id in self.venue_ids


class VenueAssignment(IdentityAuditBase):
    __tablename__ = "venue_assignment"
    __table_args__ = (UniqueConstraint("user_id", "venue_id", name="uq_assignment_user_venue"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id", ondelete="CASCADE"), index=True)


class AccessToken(IdentityAuditBase):
    """A bearer token; only its SHA-256 is stored, so a leaked table grants nothing."""

    __tablename__ = "access_token"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
