"""Request and response bodies of programmes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from core.fields import Id, Ids, MultiLine, OneLine
from core.validation import check_fields
from programs.models import Allocation, Enrolment, ProgramKind

Title = Annotated[OneLine, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[MultiLine, msgspec.Meta(max_length=10_000)]
Rule = Annotated[OneLine, msgspec.Meta(min_length=5, max_length=500, examples=["FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8"])]
# A date (every session that day) or a Seoul wall-clock date-time (that one session).
Exdates = Annotated[list[Annotated[OneLine, msgspec.Meta(max_length=40)]], msgspec.Meta(max_length=400)]
Duration = Annotated[int, msgspec.Meta(ge=10, le=60 * 24 * 14)]
INSTANTS = ("registration_opens_at", "registration_closes_at", "first_start")
Age = Annotated[int, msgspec.Meta(ge=0, le=120)]


class ProgramSummary(msgspec.Struct):
    id: int
    title: str
    title_en: str
    kind: str
    venue_id: int
    space_id: int | None
    min_age: int | None
    max_age: int | None
    allocation: str
    enrolment: str
    capacity: int
    registration_opens_at: datetime
    registration_closes_at: datetime
    next_session_at: datetime | None = None


class SessionRead(msgspec.Struct):
    id: int
    slot_id: int
    start: datetime
    end: datetime
    capacity: int
    remaining: int
    status: str
    check_in: str | None = None
    check_out: str | None = None


class ProgramDetail(msgspec.Struct):
    id: int
    title: str
    title_en: str
    description: str
    description_en: str
    kind: str
    venue_id: int
    space_id: int | None
    min_age: int | None
    max_age: int | None
    allocation: str
    enrolment: str
    capacity: int
    max_party: int
    registration_opens_at: datetime
    registration_closes_at: datetime
    rrule: str
    first_start: datetime
    duration_minutes: int
    exdates: list[str]
    rooms: list[int]
    nights: int
    instructor_ids: list[int]
    sessions: list[SessionRead]
    drawn_at: datetime | None = None
    # A lottery's promise, published from its creation: the hex SHA-256 of the seed its draw will use.
    draw_commitment: str | None = None


class ProgramCreate(msgspec.Struct, forbid_unknown_fields=True):
    venue_id: Id
    space_id: Id
    title: Title
    title_en: Title
    kind: ProgramKind
    capacity: Annotated[int, msgspec.Meta(ge=1, le=10000)]
    registration_opens_at: datetime
    registration_closes_at: datetime
    rrule: Rule
    first_start: datetime
    duration_minutes: Duration
    description: Description = ""
    description_en: Description = ""
    min_age: Age | None = None
    max_age: Age | None = None
    max_party: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    allocation: Allocation = Allocation.FIRST_COME
    enrolment: Enrolment = Enrolment.DROP_IN
    exdates: Exdates = msgspec.field(default_factory=list)
    rooms: Ids = msgspec.field(default_factory=list)
    nights: Annotated[int, msgspec.Meta(ge=0, le=14)] = 0
    instructor_ids: Ids = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        check_fields(self, instants=INSTANTS)


class ProgramUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Changing the schedule changes future sessions only; past ones stay as they were."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    title_en: Title | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    description_en: Description | msgspec.UnsetType = msgspec.UNSET
    rrule: Rule | msgspec.UnsetType = msgspec.UNSET
    first_start: datetime | msgspec.UnsetType = msgspec.UNSET
    duration_minutes: Duration | msgspec.UnsetType = msgspec.UNSET
    exdates: Exdates | msgspec.UnsetType = msgspec.UNSET
    registration_opens_at: datetime | msgspec.UnsetType = msgspec.UNSET
    registration_closes_at: datetime | msgspec.UnsetType = msgspec.UNSET
    instructor_ids: Ids | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        check_fields(self, instants=INSTANTS)


class SessionMove(msgspec.Struct, forbid_unknown_fields=True):
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        check_fields(self, instants=("start", "end"))


class EnrolRequest(msgspec.Struct, forbid_unknown_fields=True):
    party_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1


class ApplicationRead(msgspec.Struct):
    id: int
    program_id: int
    status: str
    party_size: int
    draw_rank: int | None = None


class DrawEntry(msgspec.Struct):
    """One application, without names: enough to re-run the draw."""

    id: int
    party_size: int


class DrawRoom(msgspec.Struct):
    room: int
    max_party: int


class DrawPlaces(msgspec.Struct, omit_defaults=True):
    """A session's places just before the draw. ``per`` says what a winning entry takes: ``person``
    (its party size of ``places``), ``party`` (one of ``places``), or ``room`` (one of ``rooms``)."""

    slot_id: int
    per: str
    places: int
    rooms: list[DrawRoom] | None = None


class DrawRead(msgspec.Struct):
    seed: str
    drawn_at: datetime
    algorithm: str
    order: list[int]
    winners: list[int]
    waitlisted: list[int]
    entries: list[DrawEntry] = msgspec.field(default_factory=list)
    places: list[DrawPlaces] = msgspec.field(default_factory=list)
    commitment: str = ""


class RosterEntry(msgspec.Struct):
    booking_id: int
    holder: str
    holder_name: str
    party_size: int
    status: str
