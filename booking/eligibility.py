"""The rules a citizen's request meets before it may take a place: the registration window, a
programme's publication, age band and way in, suspension, the weekly quota, the citizen's own other
bookings, and the largest party. Which of them a way in runs is ``booking.ways.RULES``.

These checks give clear answers; they are not the guard of the places (``venues.places`` is). They run
with the citizen's account row locked (``booking.locks``), so one citizen's requests at the same moment
cannot both pass the quota or the overlap check.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.errors import (
    AlreadyBooked,
    Closed,
    InvalidTransition,
    NotEligible,
    Overlap,
    QuotaExceeded,
    Suspended,
    WindowClosed,
)
from booking.models import ACTIVE, TAKING, Booking, BookingStatus
from booking.placement import Placement
from booking.ways import RULES, Way
from core.clock import day_bounds_utc, kst, to_kst
from core.errors import ValidationFailed, field_error
from programs.models import Allocation, Enrolment, Program, ProgramSession, SessionStatus
from venues.models import Slot, SlotStatus, Venue
from venues.rules import booking_window

# Statuses that use up the weekly quota: places held or used, and no-shows (not the waitlist).
QUOTA_STATUSES = (*TAKING, BookingStatus.CHECKED_OUT, BookingStatus.NO_SHOW)


@dataclass(frozen=True, slots=True)
class Wanted:
    """One place asked for: where, and from when to when."""

    placement: Placement
    starts_at: datetime
    ends_at: datetime
    first_day: date

    @classmethod
    def slot(cls, placement: Placement) -> Wanted:
        assert placement.slot is not None
        slot = placement.slot
        return cls(placement, slot.starts_at, slot.ends_at, to_kst(slot.starts_at).date())

    @classmethod
    def stay(cls, placement: Placement, check_in: date, check_out: date) -> Wanted:
        rules = placement.rules
        return cls(placement, kst(check_in, rules.stay_check_in), kst(check_out, rules.stay_check_out), check_in)


def week_of(instant: datetime) -> tuple[date, datetime, datetime]:
    """The Seoul week (Monday to Sunday) an instant falls in: its Monday, and its bounds in UTC."""
    local = to_kst(instant)
    monday = local.date() - timedelta(days=local.weekday())
    start, _ = day_bounds_utc(monday)
    return monday, start, start + timedelta(days=7)


def month_of(instant: datetime) -> tuple[date, datetime, datetime]:
    """The Seoul calendar month an instant falls in: its first day, and its bounds in UTC."""
    local = to_kst(instant).date()
    first = local.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, day_bounds_utc(first)[0], day_bounds_utc(following)[0]


class Eligibility:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now

    async def check(
        self,
        way: Way,
        citizen: User | None,
        wanted: Sequence[Wanted],
        party_size: int,
        *,
        exclude_booking_id: int | None = None,
    ) -> None:
        """Raise the first rule of ``way`` that ``wanted`` breaks; ``exclude_booking_id`` is the
        citizen's own booking being moved up (a promotion), which must not count against itself."""
        rules = RULES[way]
        for item in wanted:
            self.open(item.placement)
            program = item.placement.program
            if rules.direct and program is not None:
                self.programme_way(program)
            if rules.party:
                self.party(item.placement, party_size)
        if rules.window:
            await self.window(wanted)
        if citizen is None:
            return  # a walk-in guest: the rules below are about a citizen's own record
        if rules.eligibility:
            for program in {
                id(i.placement.program): i.placement.program for i in wanted if i.placement.program
            }.values():
                await self.eligible(citizen, program)
        if rules.suspension:
            self.suspension(citizen)
        if rules.overlap or rules.quota:
            await self.own_record(citizen.id, wanted, exclude_booking_id, overlap=rules.overlap, quota=rules.quota)

    # --- the place itself ------------------------------------------------------------------------

    def open(self, placement: Placement) -> None:
        if not placement.venue.is_active or not placement.space.is_active:
            raise Closed("closed.not_taking_bookings")
        if placement.program_session is not None and placement.program_session.status == SessionStatus.CANCELLED:
            raise Closed("closed.session_cancelled")
        slot = placement.slot
        if slot is not None and slot.status != SlotStatus.OPEN:
            if slot.note:
                raise Closed("closed.slot_with_reason", reason=slot.note, slot_status=slot.status)
            raise Closed("closed.slot", slot_status=slot.status)

    def programme_way(self, program: Program) -> None:
        if program.enrolment == Enrolment.COURSE:
            raise InvalidTransition("invalid_transition.course_enrol", program_id=program.id)
        if program.allocation == Allocation.LOTTERY:
            raise InvalidTransition("invalid_transition.lottery_apply", program_id=program.id)

    def party(self, placement: Placement, party_size: int) -> None:
        if party_size > placement.max_party:
            raise ValidationFailed(
                "validation.party_too_big",
                errors=[field_error("party_size", "field.at_most", max=placement.max_party)],
                max_party=placement.max_party,
            )

    # --- when -------------------------------------------------------------------------------------

    async def window(self, wanted: Sequence[Wanted]) -> None:
        first = min(wanted, key=lambda w: w.starts_at)
        program = first.placement.program
        if program is not None:
            if self.now < program.registration_opens_at:
                raise WindowClosed("window_closed.registration_opens", opens_at=to_kst(program.registration_opens_at))
            if self.now >= program.registration_closes_at or self.now >= first.starts_at:
                raise WindowClosed("window_closed.registration_closed")
            return
        opens, closes = booking_window(first.placement.rules, first.starts_at, first.first_day)
        if self.now < opens:
            raise WindowClosed("window_closed.opens_at", opens_at=to_kst(opens))
        if self.now >= closes:
            raise WindowClosed("window_closed.closed_at", closed_at=to_kst(closes))

    # --- who ----------------------------------------------------------------------------------------

    async def eligible(self, citizen: User, program: Program) -> None:
        """A programme's publication and age band, by birth year at its first session (Korean age
        counting is not used: the city's 40-64 bands are years of birth against the calendar year)."""
        if not program.is_published:
            raise Closed("closed.programme_not_published")
        if program.min_age is None and program.max_age is None:
            return
        if citizen.birth_year is None:
            raise NotEligible("not_eligible.birth_year_needed")
        first = await self.session.scalar(
            select(func.min(Slot.starts_at))
            .join(ProgramSession, ProgramSession.slot_id == Slot.id)
            .where(ProgramSession.program_id == program.id)
        )
        year = to_kst(first or self.now).year
        age = year - citizen.birth_year
        if (program.min_age is not None and age < program.min_age) or (
            program.max_age is not None and age > program.max_age
        ):
            raise NotEligible(
                "not_eligible.age_band",
                age=age,
                year=year,
                min_age=program.min_age if program.min_age is not None else "",
                max_age=program.max_age if program.max_age is not None else "",
            )

    def suspension(self, citizen: User) -> None:
        if citizen.suspended_until is not None and citizen.suspended_until > self.now:
            raise Suspended("suspended.until", suspended_until=to_kst(citizen.suspended_until))

    async def own_record(
        self,
        user_id: int,
        wanted: Sequence[Wanted],
        exclude_booking_id: int | None,
        *,
        overlap: bool = True,
        quota: bool = True,
    ) -> None:
        """The rules about the citizen's own other bookings, in one query whose rows each say which rule
        they count for (each condition is the rule's own, from the functions below):

        - ``overlap``: their active bookings (the waitlist included) for the same slot (``already_booked``)
          or at the same time (``overlap``);
        - ``quota``: for a space with a ``monthly_limit``, at most that many uses of it per Seoul month,
          then at most ``weekly_quota`` bookings per venue kind per Seoul week, counting those asked for now.
        """
        slot_ids = [w.placement.slot.id for w in wanted if w.placement.slot is not None] if overlap else []
        months: dict[tuple[int, date], list[Wanted]] = defaultdict(list)
        weeks: dict[tuple[str, date], list[Wanted]] = defaultdict(list)
        if quota:
            for item in wanted:
                if item.placement.rules.monthly_limit is not None:
                    months[(item.placement.space.id, month_of(item.starts_at)[0])].append(item)
                weeks[(item.placement.venue.kind, week_of(item.starts_at)[0])].append(item)
        months_asked, weeks_asked = sorted(months.items()), sorted(weeks.items())
        params: dict[str, object] = {"user_id": user_id, "exclude_id": exclude_booking_id, "slot_ids": slot_ids}
        if overlap:
            for i, item in enumerate(wanted):
                params[f"starts_{i}"], params[f"ends_{i}"] = item.starts_at, item.ends_at
        for n, ((space_id, _), items) in enumerate(months_asked):
            _, params[f"month_start_{n}"], params[f"month_end_{n}"] = month_of(items[0].starts_at)
            params[f"month_space_{n}"] = space_id
        for n, ((kind, _), items) in enumerate(weeks_asked):
            _, params[f"week_start_{n}"], params[f"week_end_{n}"] = week_of(items[0].starts_at)
            params[f"week_kind_{n}"] = kind
        query = _own_record_query(
            len(wanted) if overlap else None,
            bool(slot_ids),
            len(months_asked),
            len(weeks_asked),
            exclude_booking_id is not None,
        )
        rows = (await self.session.execute(query, params)).all()

        def counted(name: str) -> list[int]:
            return [row.id for row in rows if row._mapping[name]]

        if overlap:
            if counted("same_slot"):
                raise AlreadyBooked("already_booked.slot")
            if clash := counted("same_time"):
                raise Overlap("overlap.booking", booking_id=min(clash))
        for n, ((_, first), items) in enumerate(months_asked):
            limit = items[0].placement.rules.monthly_limit
            assert limit is not None
            if len(used := counted(f"month_{n}")) + len(items) > limit:
                raise QuotaExceeded(
                    "quota_exceeded.month", monthly_limit=limit, month=first.strftime("%Y-%m"), counted=used
                )
        for n, ((_, monday), items) in enumerate(weeks_asked):
            limit = min(i.placement.rules.weekly_quota for i in items)
            if len(used := counted(f"week_{n}")) + len(items) > limit:
                raise QuotaExceeded("quota_exceeded.week", weekly_quota=limit, week_of=monday.isoformat(), counted=used)

    @staticmethod
    def _month_use(space_id: int, instant: datetime) -> ColumnElement[bool]:
        """A use of a space that counts against its monthly limit in the Seoul month of ``instant``."""
        _, start, end = month_of(instant)
        return _month_condition(space_id, start, end)

    @staticmethod
    def _week_use(venue_kind: str, instant: datetime) -> ColumnElement[bool]:
        """A booking that counts against the weekly quota for a venue kind in the week of ``instant``."""
        _, start, end = week_of(instant)
        return _week_condition(venue_kind, start, end)

    async def monthly_used(self, user_id: int, space_id: int, instant: datetime) -> list[Booking]:
        """The uses of a space that count against its monthly limit in the Seoul month of ``instant``."""
        return await self._counted(user_id, self._month_use(space_id, instant))

    async def quota_used(self, user_id: int, venue_kind: str, instant: datetime) -> list[Booking]:
        """The bookings that count against a citizen's weekly quota for a venue kind in the week of
        ``instant``: the same condition as the check's, for what citizens are shown."""
        return await self._counted(user_id, self._week_use(venue_kind, instant))

    async def _counted(self, user_id: int, condition: ColumnElement[bool]) -> list[Booking]:
        query = select(Booking).where(Booking.user_id == user_id, condition).order_by(Booking.starts_at, Booking.id)
        return list((await self.session.scalars(query)).all())


def _uses_up(start: Any, end: Any, where: ColumnElement[bool]) -> ColumnElement[bool]:
    """A booking that uses up a limit (a place held or used, or a no-show) from ``start`` to ``end``."""
    return and_(Booking.status.in_(QUOTA_STATUSES), Booking.starts_at >= start, Booking.starts_at < end, where)


# The conditions take values or bound parameters alike (``_own_record_query``).
def _month_condition(space_id: Any, start: Any, end: Any) -> ColumnElement[bool]:
    return _uses_up(start, end, Booking.space_id == space_id)


def _week_condition(venue_kind: Any, start: Any, end: Any) -> ColumnElement[bool]:
    return _uses_up(start, end, Booking.venue_id.in_(select(Venue.id).where(Venue.kind == venue_kind)))


@lru_cache(maxsize=256)
def _own_record_query(
    wanted: int | None, any_slot: bool, months: int, weeks: int, exclude: bool
) -> Select[tuple[Any, ...]]:
    """``Eligibility.own_record``'s query for requests of one shape (how many places, months and weeks;
    ``wanted`` is None without the overlap rule), with bound parameters for the rest: made once per
    shape and kept, so that a booking builds no SQL of its own for its rules. Each row says which rule
    it counts for (a labelled condition column each)."""
    conditions: dict[str, ColumnElement[bool]] = {}
    if wanted is not None:
        conditions["same_slot"] = and_(
            Booking.status.in_(ACTIVE),
            Booking.slot_id.in_(bindparam("slot_ids", expanding=True)) if any_slot else false(),
        )
        conditions["same_time"] = and_(
            Booking.status.in_(ACTIVE),
            or_(
                *(
                    and_(Booking.starts_at < bindparam(f"ends_{i}"), Booking.ends_at > bindparam(f"starts_{i}"))
                    for i in range(wanted)
                )
            ),
        )
    for n in range(months):
        conditions[f"month_{n}"] = _month_condition(
            bindparam(f"month_space_{n}"), bindparam(f"month_start_{n}"), bindparam(f"month_end_{n}")
        )
    for n in range(weeks):
        conditions[f"week_{n}"] = _week_condition(
            bindparam(f"week_kind_{n}"), bindparam(f"week_start_{n}"), bindparam(f"week_end_{n}")
        )
    query = select(Booking.id, *(c.label(name) for name, c in conditions.items())).where(
        Booking.user_id == bindparam("user_id"), or_(*conditions.values())
    )
    if exclude:
        query = query.where(Booking.id != bindparam("exclude_id"))
    return query.order_by(Booking.starts_at, Booking.id)
