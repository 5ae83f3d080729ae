"""Programmes (courses, classes, cohorts, camps, walks), their sessions, instructors and lottery applications."""

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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column


class ProgramKind(StrEnum):
    COURSE = "course"  # a hands-on course at a practice site
    CLASS = "class"  # a digital class at a plaza
    HELP = "help"  # one-to-one help
    COHORT = "cohort"  # a start-up academy cohort
    CAMP = "camp"  # an overnight camp of the town
    WALK = "walk"  # a guided trail walk
    MEDITATION = "meditation"


class Allocation(StrEnum):
    FIRST_COME = "first_come"
    LOTTERY = "lottery"


class Enrolment(StrEnum):
    COURSE = "course"  # one registration takes a seat in every session
    DROP_IN = "drop_in"  # each session is booked on its own


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    MOVED = "moved"
    CANCELLED = "cancelled"


class Program(IdentityAuditBase):
    __tablename__ = "program"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("min_age IS NULL OR max_age IS NULL OR min_age <= max_age", name="age_band"),
        CheckConstraint("registration_opens_at < registration_closes_at", name="window_order"),
        CheckConstraint("allocation IN ('first_come', 'lottery')", name="allocation_valid"),
        CheckConstraint("enrolment IN ('course', 'drop_in')", name="enrolment_valid"),
        Index("ix_program_venue_kind", "venue_id", "kind"),
    )

    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id", ondelete="CASCADE"))
    # The space the sessions take place in; for camps, the hall where they gather (rooms: ``rooms``).
    space_id: Mapped[int] = mapped_column(ForeignKey("space.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))
    min_age: Mapped[int | None] = mapped_column(Integer)
    max_age: Mapped[int | None] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    max_party: Mapped[int] = mapped_column(Integer, default=1)
    allocation: Mapped[str] = mapped_column(String(16), default=Allocation.FIRST_COME)
    enrolment: Mapped[str] = mapped_column(String(16), default=Enrolment.DROP_IN)
    registration_opens_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    registration_closes_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # The schedule: an RFC 5545 RRULE from a first start (Seoul wall clock), with EXDATEs.
    rrule: Mapped[str] = mapped_column(String(500))
    first_start: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    exdates: Mapped[list[str]] = mapped_column(JsonB, default=list)
    # Camps: the lodging rooms a session holds for its nights (space ids), and how many nights.
    rooms: Mapped[list[int]] = mapped_column(JsonB, default=list)
    nights: Mapped[int] = mapped_column(Integer, default=0)
    is_published: Mapped[bool] = mapped_column(Boolean, default=True)
    # The lottery draw, published so that anyone can re-run it.
    draw_seed: Mapped[str | None] = mapped_column(String(64))
    drawn_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    draw_result: Mapped[dict[str, Any] | None] = mapped_column(JsonB)


class ProgramInstructor(IdentityAuditBase):
    __tablename__ = "program_instructor"
    __table_args__ = (UniqueConstraint("program_id", "user_id", name="uq_program_instructor"),)

    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)


class ProgramSession(IdentityAuditBase):
    """One occurrence of a programme; its places are those of its slot."""

    __tablename__ = "program_session"
    __table_args__ = (
        UniqueConstraint("program_id", "occurrence", name="uq_session_occurrence"),
        UniqueConstraint("slot_id", name="uq_session_slot"),
        CheckConstraint("status IN ('scheduled', 'moved', 'cancelled')", name="status_valid"),
    )

    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"), index=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"))
    # The start the rule gave it (its RECURRENCE-ID), kept when the session is moved.
    occurrence: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.SCHEDULED)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # Camps: the nights the session holds its rooms for.
    check_in: Mapped[date | None] = mapped_column(Date)
    check_out: Mapped[date | None] = mapped_column(Date)


class Application(IdentityAuditBase):
    """A citizen's entry in a programme's lottery."""

    __tablename__ = "program_application"
    __table_args__ = (
        UniqueConstraint("program_id", "user_id", name="uq_application_program_user"),
        CheckConstraint("party_size >= 1", name="party_positive"),
        CheckConstraint("status IN ('applied', 'won', 'waitlisted', 'withdrawn')", name="status_valid"),
    )

    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    party_size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="applied")
    draw_rank: Mapped[int | None] = mapped_column(Integer)
