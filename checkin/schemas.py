"""Request and response bodies of check-in at the door."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from booking.schemas import BookingRead
from core.fields import Id, OneLine
from core.validation import check_fields

DeviceId = Annotated[OneLine, msgspec.Meta(min_length=1, max_length=100)]


class ScanRequest(msgspec.Struct, forbid_unknown_fields=True):
    payload: Annotated[OneLine, msgspec.Meta(max_length=512, description="The text read from the QR code")]
    venue_id: Id
    arrived: Annotated[int, msgspec.Meta(ge=1, le=500)] | None = None
    device_id: DeviceId = "web"


class ScanResult(msgspec.Struct, omit_defaults=True):
    ok: bool
    result: str
    message: str
    message_en: str
    booking: BookingRead | None = None
    holder: str | None = None
    party_size: int | None = None
    arrived: int | None = None
    checked_in_at: datetime | None = None


class ManifestKey(msgspec.Struct):
    key_id: int
    public_key: str  # raw Ed25519 public key, base64url
    expires_at: datetime | None


class ManifestBooking(msgspec.Struct):
    id: int
    status: str
    party_size: int
    holder: str
    space_id: int
    start: datetime
    end: datetime
    checkin_opens: datetime
    checkin_closes: datetime
    qr_version: int
    checked_in_at: datetime | None


class Revoked(msgspec.Struct):
    booking_id: int
    versions_below: int  # codes of this booking with a lower qr_version were reissued


class Manifest(msgspec.Struct):
    venue_id: int
    date: date
    generated_at: datetime
    token_format: str
    keys: list[ManifestKey]
    bookings: list[ManifestBooking]
    revoked: list[Revoked]


class OfflineScan(msgspec.Struct, forbid_unknown_fields=True):
    booking_id: Id
    scanned_at: datetime
    arrived: Annotated[int, msgspec.Meta(ge=1, le=500)] | None = None
    # The text read from the QR code: needed to overturn a no-show, checked against the booking if given.
    payload: Annotated[str, msgspec.Meta(max_length=512)] | None = None

    def __post_init__(self) -> None:
        check_fields(self, instants=("scanned_at",))


class SyncRequest(msgspec.Struct, forbid_unknown_fields=True):
    venue_id: Id
    device_id: DeviceId
    # Each scan is looked up and recorded on its own, under the write lock: a day's scans of a busy door
    # go in several requests (a batch sent twice applies once), so that no write waits behind one sync.
    scans: Annotated[list[OfflineScan], msgspec.Meta(max_length=1000)]


class SyncItem(msgspec.Struct):
    booking_id: int
    scanned_at: datetime
    # checked_in | duplicate | already_synced | cancelled | not_found | wrong_venue | too_early | too_late
    # | future (scanned after now) | stale (older than the sync limit) | invalid | needs_code (a no-show
    # is overturned only by a scan that carries the booking's code)
    result: str


class SyncResult(msgspec.Struct):
    applied: int
    duplicates: int
    items: list[SyncItem]


class WalkInCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A guest at the door, named: a walk-in is never booked in anyone's account."""

    slot_id: Id
    name: Annotated[OneLine, msgspec.Meta(min_length=1, max_length=100)]
    party_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 1
    phone: Annotated[str, msgspec.Meta(max_length=40, pattern=r"^\+?[0-9][0-9 -]{5,38}$(?!\n)")] | None = None
