"""A citizen's standing, shown before booking: the weekly quota used and by which bookings, a space's
monthly limit, the no-show rule with their own count, and the cancellation deadline of what they are
about to book. Every figure comes from the functions the engine decides by (``booking.eligibility``,
``booking.noshows``), never from a second computation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.eligibility import Eligibility, Wanted, month_of, week_of
from booking.models import Booking
from booking.noshows import NoShows
from booking.placement import Placement, of_booking, of_slot, of_space
from booking.reads import reads
from booking.schemas import CancellationTerms, MonthlyStanding, NoShowStanding, QuotaStanding, StandingRead
from core.clock import to_kst
from core.errors import ValidationFailed, field_error
from venues.models import SpaceShape, VenueKind
from venues.rules import KIND_DEFAULTS, Rules


def cancel_deadline(starts_at: datetime, rules: Rules) -> datetime:
    """Free cancellation until this instant; a cancel after it is late (``BookingService.cancel``)."""
    return starts_at - timedelta(hours=rules.cancel_deadline_hours)


class Standing:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.eligibility = Eligibility(session, now)
        self.noshows = NoShows(session, now)

    async def of(
        self, citizen: User, *, slot_id: int | None = None, space_id: int | None = None, day: date | None = None
    ) -> StandingRead:
        wanted = await self._wanted(slot_id, space_id, day)
        rules = wanted.placement.rules if wanted is not None else KIND_DEFAULTS[VenueKind.PRACTICE_SITE]
        instant = wanted.starts_at if wanted is not None else self.now
        kinds = [wanted.placement.venue.kind] if wanted is not None else [k.value for k in VenueKind]
        quotas = []
        for kind in kinds:
            kind_rules = rules if wanted is not None else KIND_DEFAULTS[kind]
            used = await self.eligibility.quota_used(citizen.id, kind, instant)
            quotas.append(
                QuotaStanding(
                    venue_kind=kind,
                    week_of=week_of(instant)[0],
                    limit=kind_rules.weekly_quota,
                    used=len(used),
                    bookings=await reads(self.session, used),
                )
            )
        monthly = None
        if wanted is not None and rules.monthly_limit is not None:
            uses = await self.eligibility.monthly_used(citizen.id, wanted.placement.space.id, instant)
            monthly = MonthlyStanding(
                space_id=wanted.placement.space.id,
                month=month_of(instant)[0].strftime("%Y-%m"),
                limit=rules.monthly_limit,
                used=len(uses),
                bookings=await reads(self.session, uses),
            )
        cancellation = None
        if wanted is not None:
            cancellation = CancellationTerms(
                deadline=to_kst(cancel_deadline(wanted.starts_at, rules)), late_cancel_allowed=rules.late_cancel_allowed
            )
        suspended = citizen.suspended_until if citizen.suspended_until and citizen.suspended_until > self.now else None
        return StandingRead(
            suspended_until=to_kst(suspended) if suspended else None,
            no_shows=NoShowStanding(
                count=await self.noshows.count(citizen.id, rules),
                limit=rules.no_show_limit,
                window_days=rules.no_show_window_days,
                suspension_days=rules.suspension_days,
                grace_minutes=rules.no_show_grace_minutes,
            ),
            quotas=quotas,
            monthly=monthly,
            cancellation=cancellation,
        )

    async def cancellation(self, booking: Booking) -> CancellationTerms:
        """The cancellation terms of a booking already made, from the rules ``cancel`` applies to it."""
        rules = (await of_booking(self.session, booking)).rules
        return CancellationTerms(
            deadline=to_kst(cancel_deadline(booking.starts_at, rules)), late_cancel_allowed=rules.late_cancel_allowed
        )

    async def _wanted(self, slot_id: int | None, space_id: int | None, day: date | None) -> Wanted | None:
        if slot_id is not None:
            return Wanted.slot(await of_slot(self.session, slot_id))
        if space_id is None:
            return None
        placement: Placement = await of_space(self.session, space_id)
        if placement.space.shape != SpaceShape.STAY:
            raise ValidationFailed("validation.standing_slot_needed", errors=[field_error("slot_id", "field.required")])
        first = day or to_kst(self.now).date()
        return Wanted.stay(placement, first, first + timedelta(days=1))
