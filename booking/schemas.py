"""Request and response bodies of the booking engine. Instants go out in Asia/Seoul (+09:00)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from core.fields import Id, MultiLine
from core.validation import check_fields

Note = Annotated[MultiLine, msgspec.Meta(max_length=300)]
PartySize = Annotated[int, msgspec.Meta(ge=1, le=500, description="People in the party, the holder included")]


class BookingCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A slot (or a programme session's slot) with ``slot_id``, or a stay with ``space_id``, ``check_in``
    and ``check_out``."""

    party_size: PartySize = 1
    slot_id: Id | None = None
    space_id: Id | None = None
    check_in: date | None = None
    check_out: date | None = None
    join_waitlist: bool = False

    def __post_init__(self) -> None:
        check_fields(self, days=("check_in", "check_out"))


class VenueRef(msgspec.Struct):
    id: int
    name: str
    name_en: str
    address: str
    kind: str


class SpaceRef(msgspec.Struct):
    id: int
    name: str
    name_en: str
    kind: str
    shape: str


class BookingRead(msgspec.Struct):
    id: int
    status: str
    party_size: int
    start: datetime
    end: datetime
    venue: VenueRef
    space: SpaceRef
    slot_id: int | None
    check_in: date | None
    check_out: date | None
    late_cancel: bool
    offer_expires_at: datetime | None
    checked_in_at: datetime | None
    created_at: datetime
    waitlist_position: int | None = None
    walk_in: bool = False


class EnrolmentRead(msgspec.Struct):
    bookings: list[BookingRead]


class StaffBookingRead(msgspec.Struct):
    """A booking as venue staff see it in the day's list."""

    id: int
    status: str
    party_size: int
    start: datetime
    end: datetime
    space_id: int
    space_name: str
    slot_id: int | None
    holder: str  # masked, as on the door scanner: 김*수
    holder_name: str
    holder_phone: str | None
    walk_in: bool
    checked_in_at: datetime | None


class BookingEventRead(msgspec.Struct):
    at: datetime
    from_status: str | None
    to_status: str
    reason: str
    actor_id: int | None
    note: str


class SlotRead(msgspec.Struct):
    id: int
    start: datetime
    end: datetime
    capacity: int
    remaining: int
    status: str
    space_id: int | None = None
    origin: str | None = None


class NightRead(msgspec.Struct):
    date: date
    available: bool


class Availability(msgspec.Struct, omit_defaults=True):
    space_id: int
    shape: str
    slots: list[SlotRead] | None = None
    nights: list[NightRead] | None = None


class VenueAvailability(msgspec.Struct):
    venue_id: int
    spaces: list[Availability]


class SlotCreate(msgspec.Struct, forbid_unknown_fields=True):
    start: datetime
    end: datetime
    capacity: Annotated[int, msgspec.Meta(ge=1, le=10000)] | None = None
    note: Note = ""

    def __post_init__(self) -> None:
        check_fields(self, instants=("start", "end"))


class SlotBlock(msgspec.Struct, forbid_unknown_fields=True):
    note: Note = ""


class QuotaStanding(msgspec.Struct):
    """A citizen's use of the weekly quota for one venue kind, and the bookings that count."""

    venue_kind: str
    week_of: date
    limit: int
    used: int
    bookings: list[BookingRead]


class MonthlyStanding(msgspec.Struct):
    space_id: int
    month: str
    limit: int
    used: int
    bookings: list[BookingRead]


class NoShowStanding(msgspec.Struct):
    count: int
    limit: int
    window_days: int
    suspension_days: int
    grace_minutes: int


class CancellationTerms(msgspec.Struct):
    deadline: datetime
    late_cancel_allowed: bool


class StandingRead(msgspec.Struct):
    """What a citizen should know before pressing the button: the same figures the engine decides by."""

    suspended_until: datetime | None
    no_shows: NoShowStanding
    quotas: list[QuotaStanding]
    monthly: MonthlyStanding | None = None
    cancellation: CancellationTerms | None = None


class ClosurePreviewBooking(msgspec.Struct):
    """A booking a closure would cancel, as its venue's managers see it before saving the closure."""

    id: int
    status: str
    party_size: int
    start: datetime
    end: datetime
    space_id: int
    space_name: str
    space_name_en: str
    slot_id: int | None
    holder: str  # masked: 김*수


class ClosurePreviewSession(msgspec.Struct):
    """A programme session a closure would cancel (its bookings are among ``bookings``)."""

    program_id: int
    title: str
    title_en: str
    session_id: int
    slot_id: int
    start: datetime
    end: datetime
    status: str


class ClosurePreview(msgspec.Struct):
    """What saving a closure would do, computed with the query that saving it uses; nothing is written."""

    venue_id: int
    space_id: int | None
    start_date: date
    end_date: date
    bookings: list[ClosurePreviewBooking]
    sessions: list[ClosurePreviewSession]
