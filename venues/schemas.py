"""Request and response bodies of the venue catalogue."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from core.fields import Id, MultiLine, OneLine
from core.validation import check_fields
from venues.models import SpaceKind, SpaceShape, VenueKind
from venues.rules import Rules, RulesOverride

Slug = Annotated[str, msgspec.Meta(min_length=2, max_length=80, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$(?!\n)")]
Text200 = Annotated[OneLine, msgspec.Meta(min_length=1, max_length=200)]
District = Annotated[OneLine, msgspec.Meta(min_length=1, max_length=32)]
Address = Annotated[OneLine, msgspec.Meta(min_length=1, max_length=300)]
Description = Annotated[MultiLine, msgspec.Meta(max_length=10_000)]
Reason = Annotated[OneLine, msgspec.Meta(max_length=300)]
Clock = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$(?!\n)", description="Seoul wall-clock time, HH:MM", examples=["09:00"]
    ),
]
Lat = Annotated[float, msgspec.Meta(ge=33.0, le=39.0)]
Lon = Annotated[float, msgspec.Meta(ge=124.0, le=132.0)]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=10000)]
SlotMinutes = Annotated[int, msgspec.Meta(ge=10, le=1440)]
Phone = Annotated[OneLine, msgspec.Meta(max_length=40)]


class VenueSummary(msgspec.Struct):
    id: int
    slug: str
    name: str
    name_en: str
    kind: VenueKind
    district: str
    district_name: str
    district_name_en: str
    address: str
    lat: float | None
    lon: float | None
    is_sample: bool


class OpeningHoursItem(msgspec.Struct, forbid_unknown_fields=True):
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6, description="0 = Monday … 6 = Sunday")]
    opens: Clock
    closes: Clock


class SpaceRead(msgspec.Struct):
    id: int
    venue_id: int
    slug: str
    name: str
    name_en: str
    kind: SpaceKind
    shape: SpaceShape
    capacity: int
    max_party: int
    slot_minutes: int | None
    is_active: bool
    rules: Rules


class VenueDetail(msgspec.Struct):
    id: int
    slug: str
    name: str
    name_en: str
    kind: VenueKind
    district: str
    district_name: str
    district_name_en: str
    address: str
    lat: float | None
    lon: float | None
    is_sample: bool
    phone: str | None
    description: str
    description_en: str
    opens_on_holidays: bool
    is_active: bool
    opening_hours: list[OpeningHoursItem]
    spaces: list[SpaceRead]
    rules: Rules
    rule_overrides: RulesOverride


class VenueCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    kind: VenueKind
    name: Text200
    name_en: Text200
    district: District
    address: Address
    lat: Lat | None = None
    lon: Lon | None = None
    phone: Phone | None = None
    description: Description = ""
    description_en: Description = ""
    opens_on_holidays: bool = False
    is_sample: bool = False
    opening_hours: list[OpeningHoursItem] = msgspec.field(default_factory=list)
    rules: RulesOverride = msgspec.field(default_factory=RulesOverride)


class VenueUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Text200 | msgspec.UnsetType = msgspec.UNSET
    name_en: Text200 | msgspec.UnsetType = msgspec.UNSET
    district: District | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType = msgspec.UNSET
    lat: Lat | msgspec.UnsetType | None = msgspec.UNSET
    lon: Lon | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    description_en: Description | msgspec.UnsetType = msgspec.UNSET
    opens_on_holidays: bool | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    rules: RulesOverride | msgspec.UnsetType = msgspec.UNSET


class SpaceCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    kind: SpaceKind
    shape: SpaceShape
    name: Text200
    name_en: Text200
    capacity: Capacity
    max_party: Capacity | None = None
    slot_minutes: SlotMinutes | None = None
    rules: RulesOverride = msgspec.field(default_factory=RulesOverride)


class SpaceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Text200 | msgspec.UnsetType = msgspec.UNSET
    name_en: Text200 | msgspec.UnsetType = msgspec.UNSET
    capacity: Capacity | msgspec.UnsetType = msgspec.UNSET
    max_party: Capacity | msgspec.UnsetType = msgspec.UNSET
    slot_minutes: SlotMinutes | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    rules: RulesOverride | msgspec.UnsetType = msgspec.UNSET


class ClosureCreate(msgspec.Struct, forbid_unknown_fields=True):
    start_date: date
    end_date: date
    reason: Annotated[Reason, msgspec.Meta(min_length=1)]
    reason_en: Reason = ""
    space_id: Id | None = None

    def __post_init__(self) -> None:
        check_fields(self, days=("start_date", "end_date"))


class ClosureRead(msgspec.Struct):
    id: int
    venue_id: int
    space_id: int | None
    start_date: date
    end_date: date
    reason: str
    reason_en: str


class IntervalRead(msgspec.Struct):
    opens: str
    closes: str


class DayRead(msgspec.Struct):
    date: date
    open: bool
    hours: list[IntervalRead]
    reason: str | None = None
    reason_en: str | None = None


class DistrictRead(msgspec.Struct):
    code: str
    name: str
    name_en: str
