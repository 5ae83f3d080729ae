"""Request and response bodies of notices, notification preferences and the outbox."""

from __future__ import annotations

from datetime import datetime

import msgspec


class NoticeRead(msgspec.Struct):
    id: int
    kind: str
    title: str
    title_en: str
    body: str
    body_en: str
    booking_id: int | None
    created_at: datetime
    read_at: datetime | None


class PreferencesRead(msgspec.Struct):
    """The channels that carry my notices beside ``/api/me/notices``, which always shows them all."""

    email: bool
    sms: bool


class PreferencesUpdate(msgspec.Struct, forbid_unknown_fields=True):
    email: bool
    sms: bool


class OutboxMessageRead(msgspec.Struct):
    """One message of the outbox as administrators see it (the address is the person's, so admin only)."""

    id: int
    notice_id: int
    user_id: int
    kind: str
    channel: str
    address: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str
    created_at: datetime
