"""Notices, the outbox of messages that carry them, and each person's choice of channels.

A notice and its outbox rows are written in the transaction of the change that causes them (a booking
confirmed, a closure), so that a change never commits without its messages, nor a message without its
change. The delivery job (``notifications.delivery``) takes the rows from there.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from advanced_alchemy.base import IdentityAuditBase
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship


class ChannelName(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next try (``next_attempt_at``)
    SENDING = "sending"  # claimed by a worker, which is talking to the channel now
    SENT = "sent"
    FAILED = "failed"  # given up (or interrupted while sending): for an administrator to look at


# Kinds that go once per booking, whatever runs them twice: a unique index keeps it so.
ONCE_PER_BOOKING = ("reminder",)
_ONCE_SQL = ", ".join(f"'{k}'" for k in ONCE_PER_BOOKING)


class Notice(IdentityAuditBase):
    """A message to a person about their booking (a closure cancelled it, a waitlist place came free)."""

    __tablename__ = "notice"
    __table_args__ = (
        Index("ix_notice_user_created", "user_id", "created_at"),
        # The reminder job may run twice, or in two processes at once: the second insert does nothing.
        Index(
            "uq_notice_once_per_booking",
            "booking_id",
            "kind",
            unique=True,
            sqlite_where=text(f"kind IN ({_ONCE_SQL})"),
            postgresql_where=text(f"kind IN ({_ONCE_SQL})"),
        ),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    # A foreign key by name only: the booking engine sits above this package and is not imported.
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    body_en: Mapped[str] = mapped_column(Text, default="")
    read_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class NotificationPreference(IdentityAuditBase):
    """The channels a person chose; without a row, e-mail only (every account has an address)."""

    __tablename__ = "notification_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), unique=True)
    email: Mapped[bool] = mapped_column(Boolean, default=True)
    sms: Mapped[bool] = mapped_column(Boolean, default=False)


class OutboxMessage(IdentityAuditBase):
    """One notice to be carried by one channel to one address.

    ``pending`` rows whose ``next_attempt_at`` has come are claimed by a delivery worker, which marks them
    ``sending`` (with its name and a lease) and commits before it talks to the channel; the outcome is
    recorded afterwards: ``sent``, ``pending`` again with a later ``next_attempt_at``, or ``failed``.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms')", name="channel_valid"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status_valid"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        # A row being sent always says by whom and until when: that is what keeps other workers off it.
        CheckConstraint(
            "status <> 'sending' OR (claimed_by IS NOT NULL AND claimed_until IS NOT NULL)",
            name="sending_is_claimed",
        ),
        CheckConstraint("status <> 'sent' OR sent_at IS NOT NULL", name="sent_has_time"),
        # One message per notice and channel, however the notice was written.
        UniqueConstraint("notice_id", "channel", name="uq_outbox_notice_channel"),
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
    )

    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The e-mail address or phone number when the notice was written.
    address: Mapped[str] = mapped_column(String(254))
    # What the message says beside the notice's texts: the booking's time and place (``templates.About``)
    # and the person's name, as they were when the notice was written.
    facts: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_error: Mapped[str] = mapped_column(String(500), default="")

    # Set when the row is written, so that the notice and its rows go in one flush; never loaded lazily.
    notice: Mapped[Notice] = relationship(lazy="raise")
