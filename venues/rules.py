"""Booking rules: defaults per venue kind, overridden per venue, then per space.

A venue or space stores only the keys it changes (``rules`` JSON column); ``effective_rules`` merges
kind defaults ← venue ← space. ``RulesOverride`` validates what managers send.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Final

import msgspec

from core.clock import KST, kst
from venues.models import VenueKind

Minutes = Annotated[int, msgspec.Meta(ge=0, le=60 * 24 * 60)]
Count = Annotated[int, msgspec.Meta(ge=0, le=1000)]
Days = Annotated[int, msgspec.Meta(ge=0, le=365)]


class Rules(msgspec.Struct, frozen=True, kw_only=True):
    """The rules in force for one space."""

    # Registration window: bookings for a slot open N days ahead at a Seoul wall-clock time, and close
    # N minutes before its start.
    booking_opens_days_ahead: int = 14
    booking_opens_at: time = time(10, 0)
    booking_closes_minutes_before: int = 60
    # Quota: active bookings per citizen per venue kind per ISO week (Monday to Sunday, Seoul).
    weekly_quota: int = 4
    # Seoul's rule for its most wanted facilities: at most N uses a calendar month (Seoul) per citizen of
    # this space; None for no such limit. Set per space.
    monthly_limit: int | None = None
    # Cancellation: free until N hours before the start; after that a cancel is "late".
    cancel_deadline_hours: int = 24
    late_cancel_allowed: bool = True
    # Check-in window around the start of a slot.
    checkin_opens_minutes_before: int = 30
    checkin_closes_minutes_after: int = 15
    # No-shows: not checked in by start + grace; K of them within the window suspend booking for D days.
    no_show_grace_minutes: int = 15
    no_show_limit: int = 3
    no_show_window_days: int = 90
    suspension_days: int = 30
    # Waitlist: None confirms a freed place directly for the first in line; N minutes makes it an offer.
    waitlist_offer_minutes: int | None = None
    # Stays: arrival from, departure by (Seoul wall-clock).
    stay_check_in: time = time(15, 0)
    stay_check_out: time = time(11, 0)


class RulesOverride(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """What a venue or space may override; every field optional."""

    booking_opens_days_ahead: Days | msgspec.UnsetType = msgspec.UNSET
    booking_opens_at: time | msgspec.UnsetType = msgspec.UNSET
    booking_closes_minutes_before: Minutes | msgspec.UnsetType = msgspec.UNSET
    weekly_quota: Count | msgspec.UnsetType = msgspec.UNSET
    monthly_limit: Annotated[int, msgspec.Meta(ge=1, le=100)] | msgspec.UnsetType | None = msgspec.UNSET
    cancel_deadline_hours: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)] | msgspec.UnsetType = msgspec.UNSET
    late_cancel_allowed: bool | msgspec.UnsetType = msgspec.UNSET
    checkin_opens_minutes_before: Minutes | msgspec.UnsetType = msgspec.UNSET
    checkin_closes_minutes_after: Minutes | msgspec.UnsetType = msgspec.UNSET
    no_show_grace_minutes: Minutes | msgspec.UnsetType = msgspec.UNSET
    no_show_limit: Annotated[int, msgspec.Meta(ge=1, le=100)] | msgspec.UnsetType = msgspec.UNSET
    no_show_window_days: Days | msgspec.UnsetType = msgspec.UNSET
    suspension_days: Days | msgspec.UnsetType = msgspec.UNSET
    waitlist_offer_minutes: Minutes | msgspec.UnsetType | None = msgspec.UNSET
    stay_check_in: time | msgspec.UnsetType = msgspec.UNSET
    stay_check_out: time | msgspec.UnsetType = msgspec.UNSET


KIND_DEFAULTS: Final[dict[str, Rules]] = {
    # Hands-on practice: popular, opens two weeks ahead at 10:00 like the city's other public bookings.
    VenueKind.PRACTICE_SITE: Rules(),
    VenueKind.DIGITAL_PLAZA: Rules(weekly_quota=3, cancel_deadline_hours=12),
    # Founders book rooms at short notice and often: a week ahead from 09:00, small cancel deadline.
    VenueKind.STARTUP_ACADEMY: Rules(
        booking_opens_days_ahead=7,
        booking_opens_at=time(9, 0),
        booking_closes_minutes_before=0,
        weekly_quota=10,
        cancel_deadline_hours=2,
    ),
    # Camps and rooms of the town: a month ahead; cancelling late leaves a room empty for a night.
    VenueKind.VITALITY_TOWN: Rules(
        booking_opens_days_ahead=30,
        weekly_quota=3,
        cancel_deadline_hours=72,
        waitlist_offer_minutes=24 * 60,
    ),
}


def booking_window(rules: Rules, starts_at: datetime, first_day: date | None = None) -> tuple[datetime, datetime]:
    """When bookings for something starting at ``starts_at`` open and close: ``booking_opens_days_ahead``
    days before its first Seoul day, at ``booking_opens_at``, until ``booking_closes_minutes_before``."""
    day = first_day or starts_at.astimezone(KST).date()
    opens = kst(day - timedelta(days=rules.booking_opens_days_ahead), rules.booking_opens_at)
    return opens, starts_at - timedelta(minutes=rules.booking_closes_minutes_before)


def parse_override(raw: dict[str, Any] | None) -> RulesOverride:
    return msgspec.convert(raw or {}, RulesOverride)


def override_to_json(override: RulesOverride) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(override)
    return result


def effective_rules(venue_kind: str, *overrides: dict[str, Any] | None) -> Rules:
    """Kind defaults, then each override in order (venue, then space)."""
    rules = KIND_DEFAULTS.get(venue_kind, Rules())
    for raw in overrides:
        changes = {k: v for k, v in msgspec.structs.asdict(parse_override(raw)).items() if v is not msgspec.UNSET}
        if changes:
            rules = msgspec.structs.replace(rules, **changes)
    return rules
