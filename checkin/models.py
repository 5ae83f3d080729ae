"""Signing keys of the QR codes, and every scan (online or synced from a scanner that was offline)."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.base import IdentityAuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class CheckinKey(IdentityAuditBase):
    """An Ed25519 key pair; its id is the key id in the codes. The private half is stored encrypted with
    a key derived from SEOULRUN_SECRET_KEY. A retired key still verifies until ``expires_at``."""

    __tablename__ = "checkin_key"

    public_key: Mapped[str] = mapped_column(String(64))  # raw 32 bytes, base64url
    private_key: Mapped[str] = mapped_column(Text)  # nonce + AES-GCM ciphertext, base64url
    retired_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class CheckinScan(IdentityAuditBase):
    """One scan of a booking's code at the door. Offline scans are keyed by device and time, so that a
    batch synced twice is applied once."""

    __tablename__ = "checkin_scan"
    __table_args__ = (
        UniqueConstraint("booking_id", "device_id", "scanned_at", name="uq_scan_booking_device_time"),
        Index("ix_scan_venue_time", "venue_id", "scanned_at"),
    )

    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"), index=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(100))
    scanned_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16))  # online | offline
    result: Mapped[str] = mapped_column(String(32))
    arrived: Mapped[int | None] = mapped_column(Integer)
