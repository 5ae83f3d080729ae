"""The booking engine: book a slot or a stay, cancel, waitlist promotion, offers, no-shows, closures.

Every change of a place goes through the database's guards (see ``booking.models``); the checks made
here in Python before them are there for clear answers, never as the guard. Each state change is a
conditional UPDATE (``WHERE status = <expected>``), so that two processes racing on the same booking
change it once, and it is recorded in ``booking_event``.

Lock order, to keep PostgreSQL free of deadlocks: the citizen's account row, then slot rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import and_, delete, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from accounts.models import Role, User
from accounts.privacy import mask_name
from booking.errors import (
    AlreadyBooked,
    Closed,
    IdempotencyMismatch,
    InvalidTransition,
    NotEligible,
    OfferExpired,
    Overlap,
    QuotaExceeded,
    SoldOut,
    Suspended,
    TooLateToCancel,
    WindowClosed,
)
from booking.models import (
    ACTIVE,
    TAKING,
    Booking,
    BookingEvent,
    BookingStatus,
    IdempotencyRecord,
    Notice,
)
from booking.schemas import (
    Availability,
    BookingCreate,
    BookingEventRead,
    BookingRead,
    NightRead,
    SlotCreate,
    SlotRead,
    SpaceRef,
    StaffBookingRead,
    VenueRef,
)
from core.clock import KST, day_bounds_utc, kst, to_kst, utcnow
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.pagination import Page, count
from core.validation import check_date_range, require_aware
from programs.models import Allocation, Enrolment, Program, ProgramKind, ProgramSession
from venues.models import Closure, Slot, SlotOrigin, SlotStatus, Space, SpaceShape, StayNight, Venue
from venues.rules import Rules, booking_window, effective_rules
from venues.services import VenueService
from venues.slots import slot_capacity

MAX_STAY_NIGHTS = 14
MAX_AVAILABILITY_DAYS = 62
# Statuses that use up the weekly quota: places held or used, and no-shows (not the waitlist).
QUOTA_STATUSES = (*TAKING, BookingStatus.CHECKED_OUT, BookingStatus.NO_SHOW)


def _fmt(instant: datetime) -> str:
    return to_kst(instant).strftime("%Y-%m-%d %H:%M KST")


@dataclass(frozen=True, slots=True)
class Placement:
    """What a booking is for, with the rows its rules come from."""

    venue: Venue
    space: Space
    rules: Rules
    slot: Slot | None = None


def booking_read(booking: Booking, venue: Venue, space: Space, *, position: int | None = None) -> BookingRead:
    return BookingRead(
        id=booking.id,
        status=booking.status,
        party_size=booking.party_size,
        start=to_kst(booking.starts_at),
        end=to_kst(booking.ends_at),
        venue=VenueRef(id=venue.id, name=venue.name, name_en=venue.name_en, address=venue.address, kind=venue.kind),
        space=SpaceRef(id=space.id, name=space.name, name_en=space.name_en, kind=space.kind, shape=space.shape),
        slot_id=booking.slot_id,
        check_in=booking.check_in,
        check_out=booking.check_out,
        late_cancel=booking.late_cancel,
        offer_expires_at=to_kst(booking.offer_expires_at) if booking.offer_expires_at else None,
        checked_in_at=to_kst(booking.checked_in_at) if booking.checked_in_at else None,
        created_at=to_kst(booking.created_at),
        waitlist_position=position,
    )


def slot_read(slot: Slot, *, with_space: bool = False) -> SlotRead:
    return SlotRead(
        id=slot.id,
        start=to_kst(slot.starts_at),
        end=to_kst(slot.ends_at),
        capacity=slot.capacity,
        remaining=slot.remaining,
        status=slot.status,
        space_id=slot.space_id if with_space else None,
        origin=slot.origin if with_space else None,
    )


class _NoPlace(Exception):
    """Inside ``take_place``: the guarded UPDATE found no place; roll the savepoint back."""


def request_fingerprint(data: BookingCreate) -> str:
    canonical = json.dumps(msgspec.to_builtins(data), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class BookingService:
    def __init__(self, session: AsyncSession, *, now: datetime | None = None) -> None:
        self.session = session
        self.now = now or utcnow()

    # --- loading ---------------------------------------------------------------------------------

    async def _placement_of_slot(self, slot_id: int) -> Placement:
        row = (
            await self.session.execute(
                select(Slot, Space, Venue)
                .join(Space, Space.id == Slot.space_id)
                .join(Venue, Venue.id == Slot.venue_id)
                .where(Slot.id == slot_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"슬롯 {slot_id} 없음 (no slot {slot_id})")
        slot, space, venue = row
        return Placement(venue, space, effective_rules(venue.kind, venue.rules, space.rules), slot)

    async def _placement_of_space(self, space_id: int) -> Placement:
        row = (
            await self.session.execute(
                select(Space, Venue).join(Venue, Venue.id == Space.venue_id).where(Space.id == space_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"공간 {space_id} 없음 (no space {space_id})")
        space, venue = row
        return Placement(venue, space, effective_rules(venue.kind, venue.rules, space.rules))

    async def get_slot(self, slot_id: int) -> Slot:
        slot = await self.session.get(Slot, slot_id)
        if slot is None:
            raise NotFound(f"슬롯 {slot_id} 없음 (no slot {slot_id})")
        return slot

    async def get(self, booking_id: int, *, for_update: bool = False) -> Booking:
        query = select(Booking).where(Booking.id == booking_id)
        if for_update:
            query = query.with_for_update()
        booking = await self.session.scalar(query)
        if booking is None:
            raise NotFound(f"예약 {booking_id} 없음 (no booking {booking_id})")
        return booking

    async def reads(self, bookings: Sequence[Booking]) -> list[BookingRead]:
        """Response bodies for several bookings, loading their venues and spaces in two queries."""
        venue_ids = {b.venue_id for b in bookings}
        space_ids = {b.space_id for b in bookings}
        venues = {v.id: v for v in (await self.session.scalars(select(Venue).where(Venue.id.in_(venue_ids)))).all()}
        spaces = {s.id: s for s in (await self.session.scalars(select(Space).where(Space.id.in_(space_ids)))).all()}
        positions = await self._waitlist_positions([b for b in bookings if b.status == BookingStatus.WAITLISTED])
        return [booking_read(b, venues[b.venue_id], spaces[b.space_id], position=positions.get(b.id)) for b in bookings]

    async def read(self, booking: Booking) -> BookingRead:
        return (await self.reads([booking]))[0]

    async def _waitlist_positions(self, bookings: Sequence[Booking]) -> dict[int, int]:
        positions: dict[int, int] = {}
        for booking in bookings:
            ahead = await self.session.scalar(
                select(func.count())
                .select_from(Booking)
                .where(
                    Booking.slot_id == booking.slot_id,
                    Booking.status == BookingStatus.WAITLISTED,
                    Booking.id < booking.id,
                )
            )
            positions[booking.id] = int(ahead or 0) + 1
        return positions

    def can_see(self, user: User, booking: Booking) -> bool:
        return booking.user_id == user.id or user.can_work_at(booking.venue_id, Role.STAFF, Role.MANAGER)

    async def visible(self, user: User, booking_id: int) -> Booking:
        booking = await self.get(booking_id)
        if not self.can_see(user, booking):
            # Other people's bookings do not exist for you (no probing of ids).
            raise NotFound(f"예약 {booking_id} 없음 (no booking {booking_id})")
        return booking

    # --- history and notices -----------------------------------------------------------------------

    def _record(
        self,
        booking: Booking,
        from_status: str | None,
        to_status: str,
        reason: str,
        actor_id: int | None,
        note: str = "",
    ) -> None:
        self.session.add(
            BookingEvent(
                booking_id=booking.id,
                at=self.now,
                from_status=from_status,
                to_status=to_status,
                actor_id=actor_id,
                reason=reason,
                note=note[:500],
            )
        )

    def _notify(
        self, booking: Booking, kind: str, title: str, title_en: str, body: str = "", body_en: str = ""
    ) -> None:
        self.session.add(
            Notice(
                user_id=booking.user_id,
                booking_id=booking.id,
                kind=kind,
                title=title,
                title_en=title_en,
                body=body,
                body_en=body_en,
            )
        )

    async def _transition(
        self,
        booking: Booking,
        expected: Iterable[str],
        to_status: str,
        reason: str,
        actor_id: int | None,
        note: str = "",
        **values: Any,
    ) -> bool:
        """Move a booking to ``to_status`` if it is still in one of ``expected``; record it. False if it was not."""
        expected = tuple(expected)
        result = await self.session.execute(
            update(Booking)
            .where(Booking.id == booking.id, Booking.status.in_(expected))
            .values(status=to_status, sequence=Booking.sequence + 1, updated_at=self.now, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            await self.session.refresh(booking)
            return False
        from_status = booking.status
        await self.session.refresh(booking)
        self._record(booking, from_status, to_status, reason, actor_id, note)
        return True

    # --- rules -----------------------------------------------------------------------------------

    def _check_window(self, rules: Rules, starts_at: datetime, first_day: date) -> None:
        opens, closes = booking_window(rules, starts_at, first_day)
        if self.now < opens:
            raise WindowClosed(
                f"{_fmt(opens)} 부터 예약할 수 있습니다 (booking opens at {_fmt(opens)})",
                opens_at=to_kst(opens).isoformat(),
            )
        if self.now >= closes:
            raise WindowClosed(f"{_fmt(closes)} 에 예약이 마감되었습니다 (booking closed at {_fmt(closes)})")

    async def _lock_user(self, user_id: int) -> User:
        # Serialises one citizen's bookings (overlap, quota, idempotency) across processes; other
        # citizens are not held up. SQLite has no FOR UPDATE: its writers are serialised by BEGIN IMMEDIATE.
        row = (
            await self.session.execute(select(User.suspended_until).where(User.id == user_id).with_for_update())
        ).first()
        if row is None:
            raise NotFound("계정 없음 (no account)")
        user = await self.session.get(User, user_id)  # in the session already when it made the request
        assert user is not None
        set_committed_value(user, "suspended_until", row[0])  # as it is now, under the lock
        return user

    def _check_suspension(self, user: User) -> None:
        if user.suspended_until is not None and user.suspended_until > self.now:
            until = _fmt(user.suspended_until)
            raise Suspended(
                f"{until} 까지 예약할 수 없습니다 (booking suspended until {until})",
                suspended_until=to_kst(user.suspended_until).isoformat(),
            )

    async def _check_conflicts(self, user_id: int, starts_at: datetime, ends_at: datetime, slot_id: int | None) -> None:
        clash = (
            await self.session.execute(
                select(Booking.id, Booking.slot_id)
                .where(
                    Booking.user_id == user_id,
                    Booking.status.in_(ACTIVE),
                    or_(
                        and_(Booking.starts_at < ends_at, Booking.ends_at > starts_at),
                        Booking.slot_id == slot_id if slot_id is not None else false(),
                    ),
                )
                .order_by(Booking.id)
            )
        ).all()
        if slot_id is not None and any(row.slot_id == slot_id for row in clash):
            raise AlreadyBooked("이 시간에 이미 예약(또는 대기)하셨습니다 (you already hold a booking for this slot)")
        if clash:
            raise Overlap(
                f"예약 {clash[0].id} 과(와) 시간이 겹칩니다 (overlaps your booking {clash[0].id})",
                booking_id=clash[0].id,
            )

    async def _check_quota(self, user_id: int, venue_kind: str, rules: Rules, starts_at: datetime) -> None:
        local = to_kst(starts_at)
        monday = local.date() - timedelta(days=local.weekday())
        week_start, _ = day_bounds_utc(monday)
        week_end = week_start + timedelta(days=7)
        used = await self.session.scalar(
            select(func.count())
            .select_from(Booking)
            .join(Venue, Venue.id == Booking.venue_id)
            .where(
                Booking.user_id == user_id,
                Booking.status.in_(QUOTA_STATUSES),
                Venue.kind == venue_kind,
                Booking.starts_at >= week_start,
                Booking.starts_at < week_end,
            )
        )
        if int(used or 0) >= rules.weekly_quota:
            raise QuotaExceeded(
                f"이번 주({monday.isoformat()} 주) 예약 한도 {rules.weekly_quota}건을 모두 사용했습니다 "
                f"(weekly quota of {rules.weekly_quota} for the week of {monday.isoformat()} used up)"
            )

    def _check_party(self, space: Space, party_size: int) -> None:
        if party_size > space.max_party:
            raise ValidationFailed(
                f"한 번에 최대 {space.max_party}명까지 예약할 수 있습니다"
                f" (at most {space.max_party} people per booking)",
                errors=[{"field": "party_size", "message": f"at most {space.max_party}"}],
            )

    # --- booking ---------------------------------------------------------------------------------

    async def book(
        self,
        user: User,
        data: BookingCreate,
        *,
        idempotency_key: str | None = None,
        actor: User | None = None,
    ) -> tuple[BookingRead, bool]:
        """Book for ``user``; returns the answer and whether it is a replay of an earlier request."""
        fingerprint = request_fingerprint(data) if idempotency_key else ""
        if data.slot_id is not None and not data.join_waitlist and actor is None:
            await self._refuse_if_full(user, data.slot_id, idempotency_key)
        holder = await self._lock_user(user.id)
        if idempotency_key:
            record = await self.session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == idempotency_key
                )
            )
            if record is not None:
                if record.request_hash != fingerprint:
                    raise IdempotencyMismatch(
                        "이 Idempotency-Key 는 다른 요청에 쓰였습니다"
                        " (this Idempotency-Key was used for another request)"
                    )
                return msgspec.convert(record.response, BookingRead), True
        if data.slot_id is not None:
            if data.space_id is not None or data.check_in is not None or data.check_out is not None:
                raise ValidationFailed(
                    "slot_id 와 숙박(space_id, check_in, check_out)은 함께 쓸 수 없습니다"
                    " (slot_id or a stay, not both)",
                    errors=[
                        {
                            "field": "slot_id",
                            "message": "give slot_id, or space_id with check_in and check_out",
                        }
                    ],
                )
            booking, placement = await self._book_slot(holder, data, actor)
        elif data.space_id is not None and data.check_in is not None and data.check_out is not None:
            booking, placement = await self._book_stay(holder, data, actor)
        else:
            raise ValidationFailed(
                "slot_id, 또는 space_id·check_in·check_out 이 필요합니다"
                " (slot_id, or space_id with check_in and check_out)",
                errors=[
                    {
                        "field": "slot_id",
                        "message": "required (or space_id, check_in and check_out for a stay)",
                    }
                ],
            )
        if booking.space_id == placement.space.id and booking.status != BookingStatus.WAITLISTED:
            answer = booking_read(booking, placement.venue, placement.space)
        else:  # a camp family's room, or a place in the queue
            answer = await self.read(booking)
        if idempotency_key:
            self.session.add(
                IdempotencyRecord(
                    user_id=user.id,
                    key=idempotency_key,
                    request_hash=fingerprint,
                    status_code=201,
                    response=msgspec.to_builtins(answer),
                )
            )
            await self.session.flush()
        return answer, False

    async def _refuse_if_full(self, user: User, slot_id: int, idempotency_key: str | None) -> None:
        """The rush's fast path: most requests for a popular slot come after its last place is gone.
        Answer those before any lock or rule; the guarded UPDATE stays the only guard of the places."""
        remaining = await self.session.scalar(
            select(Slot.capacity - Slot.taken).where(Slot.id == slot_id, Slot.status == SlotStatus.OPEN)
        )
        if remaining is None or remaining > 0:
            return  # not there, not open, or places left: the full path gives the right answer
        mine = await self.session.scalar(
            select(Booking.id).where(Booking.user_id == user.id, Booking.slot_id == slot_id, Booking.status.in_(ACTIVE))
        )
        replay = idempotency_key is not None and await self.session.scalar(
            select(IdempotencyRecord.id).where(
                IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == idempotency_key
            )
        )
        if mine is None and not replay:
            raise SoldOut("남은 자리: 0 (places left: 0)", remaining=0)

    def _check_bookable(self, placement: Placement) -> None:
        if not placement.venue.is_active or not placement.space.is_active:
            raise Closed("지금은 예약을 받지 않는 곳입니다 (this venue or space is not taking bookings)")

    async def _book_slot(self, user: User, data: BookingCreate, actor: User | None) -> tuple[Booking, Placement]:
        assert data.slot_id is not None
        placement = await self._placement_of_slot(data.slot_id)
        slot, space, rules = placement.slot, placement.space, placement.rules
        assert slot is not None
        self._check_bookable(placement)
        if space.shape == SpaceShape.STAY:
            raise ValidationFailed("숙박 공간은 check_in·check_out 으로 예약합니다 (book stays by dates)")
        if slot.status != SlotStatus.OPEN:
            raise Closed(f"이 시간은 예약할 수 없습니다: {slot.note or slot.status} (slot is {slot.status})")
        walk_in = actor is not None and actor.id != user.id
        offering = await self.session_of_slot(slot.id)
        if offering is not None:
            program = offering[0]
            if program.enrolment == Enrolment.COURSE:
                raise InvalidTransition(
                    "전체 과정으로만 신청할 수 있습니다: POST /api/programs/{id}/enrol"
                    " (a whole course: enrol in the programme)",
                    program_id=program.id,
                )
            if program.allocation == Allocation.LOTTERY:
                raise InvalidTransition(
                    "추첨으로 선정합니다: POST /api/programs/{id}/applications (allocated by lottery: apply)",
                    program_id=program.id,
                )
            if not walk_in:
                await self.check_programme(user, program, slot)
            self._check_party_of(program.max_party, data.party_size)
            units = 1 if program.kind == ProgramKind.CAMP else data.party_size
        else:
            self._check_party(space, data.party_size)
            if not walk_in:
                self._check_window(rules, slot.starts_at, to_kst(slot.starts_at).date())
            units = 1 if space.shape == SpaceShape.EXCLUSIVE else data.party_size
        if walk_in:
            # Staff booking a walk-in at the door: the window and quota are for online booking.
            if self.now >= slot.ends_at:
                raise WindowClosed("이미 끝난 시간입니다 (the slot is over)")
        else:
            self._check_suspension(user)
        await self._check_conflicts(user.id, slot.starts_at, slot.ends_at, slot.id)
        if not walk_in:
            await self._check_quota(user.id, placement.venue.kind, rules, slot.starts_at)
        booking = await self.take_place(
            user,
            placement,
            party_size=data.party_size,
            units=units,
            waitlist=data.join_waitlist and not walk_in,
            actor=actor,
            reason="walk_in" if walk_in else "booked",
            camp=offering[1] if offering is not None and offering[0].kind == ProgramKind.CAMP else None,
        )
        return booking, placement

    async def session_of_slot(self, slot_id: int) -> tuple[Program, ProgramSession] | None:
        row = (
            await self.session.execute(
                select(Program, ProgramSession)
                .join(ProgramSession, ProgramSession.program_id == Program.id)
                .where(ProgramSession.slot_id == slot_id)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def check_programme(self, user: User, program: Program, first_slot: Slot) -> None:
        """A programme's own registration window and age band (checked at its first session's date)."""
        if not program.is_published:
            raise Closed("공개되지 않은 프로그램입니다 (the programme is not published)")
        if self.now < program.registration_opens_at:
            opens = _fmt(program.registration_opens_at)
            raise WindowClosed(f"{opens} 부터 신청할 수 있습니다 (registration opens at {opens})")
        if self.now >= program.registration_closes_at or self.now >= first_slot.starts_at:
            raise WindowClosed("신청이 마감되었습니다 (registration has closed)")
        first = await self.session.scalar(
            select(func.min(Slot.starts_at))
            .join(ProgramSession, ProgramSession.slot_id == Slot.id)
            .where(ProgramSession.program_id == program.id)
        )
        year = to_kst(first or first_slot.starts_at).year
        if user.birth_year is None and (program.min_age is not None or program.max_age is not None):
            raise NotEligible("출생연도가 필요합니다 (a birth year is needed for this programme)")
        if user.birth_year is not None:
            age = year - user.birth_year
            too_young = program.min_age is not None and age < program.min_age
            too_old = program.max_age is not None and age > program.max_age
            if too_young or too_old:
                band = f"{program.min_age or ''}~{program.max_age or ''}"
                raise NotEligible(
                    f"{year}년 기준 {age}세: 대상 연령 {band}세가 아닙니다 (age {age} in {year}, outside {band})",
                    age=age,
                )

    def _check_party_of(self, max_party: int, party_size: int) -> None:
        if party_size > max_party:
            raise ValidationFailed(
                f"한 번에 최대 {max_party}명까지 신청할 수 있습니다 (at most {max_party} people per booking)",
                errors=[{"field": "party_size", "message": f"at most {max_party}"}],
            )

    async def take_place(
        self,
        user: User,
        placement: Placement,
        *,
        party_size: int,
        units: int,
        waitlist: bool,
        actor: User | None,
        reason: str,
        camp: ProgramSession | None = None,
    ) -> Booking:
        """Take ``units`` of a slot for a new booking, or queue it; the database decides, not this code."""
        slot = placement.slot
        assert slot is not None

        def new_booking(status: str) -> Booking:
            return Booking(
                user_id=user.id,
                venue_id=placement.venue.id,
                space_id=placement.space.id,
                slot_id=slot.id,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                party_size=party_size,
                units=units,
                status=status,
                walk_in=reason == "walk_in",
                created_by_id=(actor or user).id,
            )

        try:
            try:
                async with self.session.begin_nested():
                    # Write the booking and its history first, and take the place last: under a rush the
                    # slot's row is the one everybody waits for, so its lock is held from this UPDATE
                    # until the commit, and nothing else.
                    booking = new_booking(BookingStatus.CONFIRMED)
                    self.session.add(booking)
                    await self.session.flush()
                    self._record(booking, None, booking.status, reason, (actor or user).id)
                    if camp is not None:
                        booking.space_id = await self._give_room(camp, booking)
                    await self.session.flush()
                    # The guard: a place is taken only if it is there, whatever else runs at the same time.
                    taken = await self.session.execute(
                        update(Slot)
                        .where(Slot.id == slot.id, Slot.status == SlotStatus.OPEN, Slot.taken + units <= Slot.capacity)
                        .values(taken=Slot.taken + units)
                        .execution_options(synchronize_session=False)
                    )
                    if taken.rowcount != 1:  # type: ignore[attr-defined]
                        raise _NoPlace
                return booking
            except _NoPlace as no_place:
                why = str(no_place)  # the savepoint is rolled back: no booking, no history, no room
            if not waitlist:
                remaining = await self.session.scalar(select(Slot.capacity - Slot.taken).where(Slot.id == slot.id))
                left = max(int(remaining or 0), 0)
                raise SoldOut(why or f"남은 자리: {left} (places left: {left})", remaining=left)
            async with self.session.begin_nested():
                booking = new_booking(BookingStatus.WAITLISTED)
                self.session.add(booking)
                await self.session.flush()
                self._record(
                    booking, None, booking.status, "waitlisted" if reason == "booked" else reason, (actor or user).id
                )
                await self.session.flush()
            return booking
        except IntegrityError as exc:
            # The unique partial index caught a second active booking of this citizen for this slot.
            raise AlreadyBooked("이 시간에 이미 예약하셨습니다 (you already hold a booking for this slot)") from exc

    async def _give_room(self, camp: ProgramSession, booking: Booking) -> int:
        """A camp family gets the first free room of the session that fits the party."""
        assert camp.check_in is not None
        assert camp.check_out is not None
        nights = (camp.check_out - camp.check_in).days
        free = (
            await self.session.execute(
                select(StayNight.space_id)
                .join(Space, Space.id == StayNight.space_id)
                .where(
                    StayNight.program_session_id == camp.id,
                    StayNight.booking_id.is_(None),
                    Space.max_party >= booking.party_size,
                )
                .group_by(StayNight.space_id, Space.max_party)
                .having(func.count() == nights)
                .order_by(Space.max_party, StayNight.space_id)
            )
        ).all()
        for (room,) in free:
            given = await self.session.execute(
                update(StayNight)
                .where(
                    StayNight.program_session_id == camp.id,
                    StayNight.space_id == room,
                    StayNight.booking_id.is_(None),
                )
                .values(booking_id=booking.id)
                .execution_options(synchronize_session=False)
            )
            if given.rowcount == nights:  # type: ignore[attr-defined]
                return int(room)
            if given.rowcount:  # type: ignore[attr-defined]
                raise _NoPlace("객실 배정이 겹쳤습니다; 다시 시도해 주세요 (room taken meanwhile, retry)")
        raise _NoPlace(
            f"{booking.party_size}명이 묵을 수 있는 객실이 남지 않았습니다"
            f" (no room left for a party of {booking.party_size})"
        )

    async def _book_stay(self, user: User, data: BookingCreate, actor: User | None) -> tuple[Booking, Placement]:
        assert data.space_id is not None
        assert data.check_in is not None
        assert data.check_out is not None
        placement = await self._placement_of_space(data.space_id)
        space, rules, venue = placement.space, placement.rules, placement.venue
        self._check_bookable(placement)
        if space.shape != SpaceShape.STAY:
            raise ValidationFailed(
                "숙박 공간이 아닙니다: slot_id 로 예약하세요 (not a stay space: book a slot_id)",
                errors=[{"field": "space_id", "message": "not a stay space"}],
            )
        nights = (data.check_out - data.check_in).days
        if nights < 1 or nights > MAX_STAY_NIGHTS:
            raise ValidationFailed(
                f"숙박은 1~{MAX_STAY_NIGHTS}박입니다 (a stay is 1 to {MAX_STAY_NIGHTS} nights)",
                errors=[{"field": "check_out", "message": f"must be 1 to {MAX_STAY_NIGHTS} days after check_in"}],
            )
        self._check_party(space, data.party_size)
        starts_at = kst(data.check_in, rules.stay_check_in)
        ends_at = kst(data.check_out, rules.stay_check_out)
        self._check_window(rules, starts_at, data.check_in)
        self._check_suspension(user)
        dates = [data.check_in + timedelta(days=n) for n in range(nights)]
        for status in await VenueService(self.session).day_statuses(venue, dates[0], dates[-1], space_id=space.id):
            if not status.open:
                raise Closed(f"{status.date}: {status.reason} ({status.reason_en})", date=status.date.isoformat())
        await self._check_conflicts(user.id, starts_at, ends_at, None)
        await self._check_quota(user.id, venue.kind, rules, starts_at)
        taken = (
            await self.session.scalars(
                select(StayNight.night).where(StayNight.space_id == space.id, StayNight.night.in_(dates))
            )
        ).all()
        if taken:
            raise SoldOut(f"{min(taken)} 은(는) 이미 예약되었습니다 (the night of {min(taken)} is taken)")
        booking = Booking(
            user_id=user.id,
            venue_id=venue.id,
            space_id=space.id,
            check_in=data.check_in,
            check_out=data.check_out,
            starts_at=starts_at,
            ends_at=ends_at,
            party_size=data.party_size,
            units=0,
            status=BookingStatus.CONFIRMED,
            created_by_id=(actor or user).id,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(booking)
                await self.session.flush()
                # The guard: one row per room and night, unique; a second sale of a night fails here.
                self.session.add_all(StayNight(space_id=space.id, night=d, booking_id=booking.id) for d in dates)
                await self.session.flush()
        except IntegrityError as exc:
            raise SoldOut("다른 분이 먼저 예약했습니다 (someone booked one of these nights first)") from exc
        self._record(booking, None, booking.status, "booked", (actor or user).id)
        return booking, placement

    # --- cancelling and the waitlist -------------------------------------------------------------

    async def _release(self, booking: Booking, previous_status: str) -> None:
        """Give back what a booking held: its units of the slot, or its nights."""
        if previous_status in TAKING and booking.slot_id is not None and booking.units:
            await self.session.execute(
                update(Slot)
                .where(Slot.id == booking.slot_id)
                .values(taken=Slot.taken - booking.units)
                .execution_options(synchronize_session=False)
            )
        # A stay's own nights go; a camp room goes back to its camp session.
        await self.session.execute(
            delete(StayNight).where(StayNight.booking_id == booking.id, StayNight.program_session_id.is_(None))
        )
        await self.session.execute(
            update(StayNight)
            .where(StayNight.booking_id == booking.id, StayNight.program_session_id.is_not(None))
            .values(booking_id=None)
            .execution_options(synchronize_session=False)
        )

    async def cancel(self, actor: User, booking_id: int, *, reason: str = "cancelled_by_holder") -> Booking:
        booking = await self.get(booking_id, for_update=True)
        is_holder = booking.user_id == actor.id
        is_staff = actor.can_work_at(booking.venue_id, Role.STAFF, Role.MANAGER)
        if not is_holder and not is_staff:
            raise NotFound(f"예약 {booking_id} 없음 (no booking {booking_id})")
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
            return booking  # cancelling again changes nothing
        if booking.status not in ACTIVE:
            raise InvalidTransition(
                f"'{booking.status}' 상태의 예약은 취소할 수 없습니다 (cannot cancel a {booking.status} booking)"
            )
        placement = await (
            self._placement_of_slot(booking.slot_id) if booking.slot_id else self._placement_of_space(booking.space_id)
        )
        if self.now >= booking.starts_at and booking.status != BookingStatus.WAITLISTED and not is_staff:
            raise TooLateToCancel("이미 시작된 예약은 취소할 수 없습니다 (the booking has started)")
        deadline = booking.starts_at - timedelta(hours=placement.rules.cancel_deadline_hours)
        late = self.now > deadline and booking.status in TAKING
        if late and not placement.rules.late_cancel_allowed and not is_staff:
            raise TooLateToCancel(
                f"{_fmt(deadline)} 까지 취소할 수 있었습니다 (cancellation closed at {_fmt(deadline)})"
            )
        previous = booking.status
        if not await self._transition(
            booking,
            ACTIVE,
            BookingStatus.CANCELLED,
            reason if is_holder else "cancelled_by_staff",
            actor.id,
            late_cancel=late,
        ):
            return booking
        await self._release(booking, previous)
        if previous in TAKING and booking.slot_id is not None:
            await self.promote(booking.slot_id, placement.rules)
        return booking

    async def promote(self, slot_id: int, rules: Rules | None = None) -> list[Booking]:
        """Give freed places to the waitlist, in order, to each first in line whose party fits."""
        if rules is None:
            rules = (await self._placement_of_slot(slot_id)).rules
        promoted: list[Booking] = []
        skipped: set[int] = set()
        while True:
            query = select(Booking).where(Booking.slot_id == slot_id, Booking.status == BookingStatus.WAITLISTED)
            if skipped:
                query = query.where(Booking.id.not_in(skipped))
            candidate = await self.session.scalar(query.order_by(Booking.id).limit(1))
            if candidate is None:
                return promoted
            got = await self.session.execute(
                update(Slot)
                .where(
                    Slot.id == slot_id,
                    Slot.status == SlotStatus.OPEN,
                    Slot.taken + candidate.units <= Slot.capacity,
                )
                .values(taken=Slot.taken + candidate.units)
                .execution_options(synchronize_session=False)
            )
            if got.rowcount != 1:  # type: ignore[attr-defined]
                free = await self.session.scalar(select(Slot.capacity - Slot.taken).where(Slot.id == slot_id))
                if not free or free <= 0:
                    return promoted
                skipped.add(candidate.id)  # too big a party for what is free: the next in line may fit
                continue
            when = _fmt(candidate.starts_at)
            if rules.waitlist_offer_minutes is None:
                changed = await self._transition(
                    candidate, [BookingStatus.WAITLISTED], BookingStatus.CONFIRMED, "promoted", None
                )
                if changed:
                    self._notify(
                        candidate,
                        "waitlist_confirmed",
                        "대기하신 예약이 확정되었습니다",
                        "Your waitlisted booking is confirmed",
                        f"{when} 예약이 확정되었습니다.",
                        f"Your booking at {when} is confirmed.",
                    )
            else:
                expires = self.now + timedelta(minutes=rules.waitlist_offer_minutes)
                changed = await self._transition(
                    candidate,
                    [BookingStatus.WAITLISTED],
                    BookingStatus.OFFERED,
                    "offered",
                    None,
                    offer_expires_at=expires,
                )
                if changed:
                    self._notify(
                        candidate,
                        "waitlist_offer",
                        "대기하신 자리가 났습니다",
                        "A place you waited for is free",
                        f"{_fmt(expires)} 까지 수락해 주세요 ({when} 예약).",
                        f"Accept it by {_fmt(expires)} (booking at {when}).",
                    )
            if not changed:  # someone else moved it meanwhile: give the units back
                await self.session.execute(
                    update(Slot).where(Slot.id == slot_id).values(taken=Slot.taken - candidate.units)
                )
                continue
            promoted.append(candidate)

    async def accept_offer(self, user: User, booking_id: int) -> Booking:
        booking = await self.get(booking_id, for_update=True)
        if booking.user_id != user.id:
            raise NotFound(f"예약 {booking_id} 없음 (no booking {booking_id})")
        if booking.status == BookingStatus.CONFIRMED:
            return booking
        if booking.status != BookingStatus.OFFERED:
            if booking.status == BookingStatus.EXPIRED:
                raise OfferExpired("제안 시간이 지났습니다 (the offer has expired)")
            raise InvalidTransition(f"제안받은 예약이 아닙니다 (the booking is {booking.status})")
        if booking.offer_expires_at is not None and booking.offer_expires_at <= self.now:
            await self.expire_offer(booking)
            raise OfferExpired("제안 시간이 지났습니다 (the offer has expired)")
        await self._transition(booking, [BookingStatus.OFFERED], BookingStatus.CONFIRMED, "offer_accepted", user.id)
        return booking

    async def expire_offer(self, booking: Booking) -> bool:
        if not await self._transition(booking, [BookingStatus.OFFERED], BookingStatus.EXPIRED, "offer_expired", None):
            return False
        await self._release(booking, BookingStatus.OFFERED)
        self._notify(booking, "offer_expired", "대기 제안이 만료되었습니다", "Your waitlist offer expired")
        if booking.slot_id is not None:
            await self.promote(booking.slot_id)
        return True

    # --- scheduled work ----------------------------------------------------------------------------

    async def expire_offers(self) -> int:
        due = (
            await self.session.scalars(
                select(Booking)
                .where(Booking.status == BookingStatus.OFFERED, Booking.offer_expires_at <= self.now)
                .order_by(Booking.id)
            )
        ).all()
        return sum([await self.expire_offer(b) for b in due])

    async def mark_no_shows(self) -> int:
        """Bookings not checked in by start + grace become no-shows; repeated ones suspend the citizen."""
        candidates = (
            await self.session.execute(
                select(Booking, Space, Venue)
                .join(Space, Space.id == Booking.space_id)
                .join(Venue, Venue.id == Booking.venue_id)
                .where(Booking.status == BookingStatus.CONFIRMED, Booking.starts_at <= self.now)
                .order_by(Booking.id)
            )
        ).all()
        marked = 0
        for booking, space, venue in candidates:
            rules = effective_rules(venue.kind, venue.rules, space.rules)
            if booking.slot_id is None:
                # Stays: arrivals are expected until the end of the arrival day.
                due = kst(booking.starts_at.astimezone(KST).date() + timedelta(days=1), datetime.min.time())
            else:
                due = booking.starts_at + timedelta(minutes=rules.no_show_grace_minutes)
            if self.now < due:
                continue
            if not await self._transition(booking, [BookingStatus.CONFIRMED], BookingStatus.NO_SHOW, "no_show", None):
                continue
            marked += 1
            await self._release(booking, BookingStatus.CONFIRMED)
            await self._suspend_if_repeated(booking.user_id, rules)
        return marked

    async def _suspend_if_repeated(self, user_id: int, rules: Rules) -> None:
        since = self.now - timedelta(days=rules.no_show_window_days)
        no_shows = await self.session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(
                Booking.user_id == user_id,
                Booking.status == BookingStatus.NO_SHOW,
                Booking.starts_at >= since,
            )
        )
        if int(no_shows or 0) < rules.no_show_limit:
            return
        until = self.now + timedelta(days=rules.suspension_days)
        user = await self._lock_user(user_id)
        if user.suspended_until is not None and user.suspended_until >= until:
            return
        user.suspended_until = until
        self.session.add(
            Notice(
                user_id=user_id,
                kind="suspended",
                title=f"노쇼 {no_shows}회로 {_fmt(until)} 까지 예약이 정지됩니다",
                title_en=f"Booking suspended until {_fmt(until)} after {no_shows} no-shows",
            )
        )
        await self.session.flush()

    async def cancel_for_closure(self, closure: Closure) -> int:
        """A closure added after bookings were made: close its slots, cancel their bookings, tell the people."""
        start, _ = day_bounds_utc(closure.start_date)
        _, end = day_bounds_utc(closure.end_date)
        slot_query = select(Slot.id).where(
            Slot.venue_id == closure.venue_id,
            Slot.starts_at < end,
            Slot.ends_at > start,
            Slot.status != SlotStatus.CLOSED,
        )
        if closure.space_id is not None:
            slot_query = slot_query.where(Slot.space_id == closure.space_id)
        slot_ids = list((await self.session.scalars(slot_query)).all())
        if slot_ids:
            await self.session.execute(
                update(Slot)
                .where(Slot.id.in_(slot_ids))
                .values(status=SlotStatus.CLOSED, note=closure.reason[:300], sequence=Slot.sequence + 1)
                .execution_options(synchronize_session=False)
            )
        nights = select(StayNight.booking_id).where(
            StayNight.night >= closure.start_date, StayNight.night <= closure.end_date
        )
        if closure.space_id is not None:
            nights = nights.where(StayNight.space_id == closure.space_id)
        hit = (
            await self.session.scalars(
                select(Booking)
                .where(
                    Booking.venue_id == closure.venue_id,
                    Booking.status.in_(ACTIVE),
                    or_(Booking.slot_id.in_(slot_ids) if slot_ids else false(), Booking.id.in_(nights)),
                )
                .order_by(Booking.id)
            )
        ).all()
        cancelled = 0
        for booking in hit:
            previous = booking.status
            note = f"{closure.reason} / {closure.reason_en}"
            if not await self._transition(
                booking, ACTIVE, BookingStatus.CANCELLED, "closure", closure.created_by_id, note
            ):
                continue
            await self._release(booking, previous)
            when = _fmt(booking.starts_at)
            self._notify(
                booking,
                "closure_cancelled",
                "휴관으로 예약이 취소되었습니다",
                "Your booking was cancelled: the venue is closed",
                f"{when} 예약이 취소되었습니다. 사유: {closure.reason}",
                f"Your booking at {when} was cancelled. Reason: {closure.reason_en or closure.reason}",
            )
            cancelled += 1
        return cancelled

    # --- managers' slots ----------------------------------------------------------------------------

    async def add_slot(self, space_id: int, data: SlotCreate) -> Slot:
        placement = await self._placement_of_space(space_id)
        space = placement.space
        if space.shape == SpaceShape.STAY:
            raise ValidationFailed("숙박 공간에는 슬롯이 없습니다 (stay spaces have no slots)")
        require_aware(data.start, "start")
        require_aware(data.end, "end")
        if data.end <= data.start or data.end - data.start > timedelta(hours=24):
            raise ValidationFailed(
                "끝이 시작보다 늦고 24시간 이내여야 합니다 (end after start, within 24 hours)",
                errors=[{"field": "end", "message": "must be after start, within 24 hours"}],
            )
        capacity = slot_capacity(space) if data.capacity is None else data.capacity
        if space.shape == SpaceShape.EXCLUSIVE:
            capacity = 1
        slot = Slot(
            space_id=space.id,
            venue_id=space.venue_id,
            starts_at=data.start,
            ends_at=data.end,
            capacity=capacity,
            taken=0,
            status=SlotStatus.OPEN,
            origin=SlotOrigin.EXTRA,
            note=data.note,
        )
        clash = await self.session.scalar(
            select(Slot.id).where(
                Slot.space_id == space.id,
                Slot.status == SlotStatus.OPEN,
                Slot.starts_at < data.end,
                Slot.ends_at > data.start,
            )
        )
        if clash is not None:
            raise Conflict(f"그 시간에 이미 슬롯 {clash} 이(가) 있습니다 (slot {clash} already covers that time)")
        self.session.add(slot)
        await self.session.flush()
        return slot

    async def set_slot_status(self, slot_id: int, status: SlotStatus, note: str = "") -> Slot:
        slot = (await self._placement_of_slot(slot_id)).slot
        assert slot is not None
        if slot.status == SlotStatus.CLOSED:
            raise InvalidTransition("휴관으로 닫힌 슬롯입니다 (closed by a closure; remove the closure instead)")
        if slot.status != status:
            slot.sequence += 1
        slot.status = status
        slot.note = note
        await self.session.flush()
        return slot

    # --- reading lists -----------------------------------------------------------------------------

    async def mine(self, user: User, *, statuses: list[str] | None, limit: int, offset: int) -> Page[BookingRead]:
        query = select(Booking).where(Booking.user_id == user.id)
        if statuses:
            query = query.where(Booking.status.in_(statuses))
        total = await count(self.session, query)
        rows = (
            await self.session.scalars(query.order_by(Booking.starts_at, Booking.id).limit(limit).offset(offset))
        ).all()
        return Page(items=await self.reads(rows), total=total, limit=limit, offset=offset)

    async def of_venue_day(
        self, venue_id: int, day: date, *, statuses: list[str] | None, limit: int, offset: int
    ) -> Page[StaffBookingRead]:
        start, end = day_bounds_utc(day)
        query = (
            select(Booking, User, Space)
            .join(User, User.id == Booking.user_id)
            .join(Space, Space.id == Booking.space_id)
            .where(Booking.venue_id == venue_id, Booking.starts_at < end, Booking.ends_at > start)
        )
        if statuses:
            query = query.where(Booking.status.in_(statuses))
        total = await count(self.session, query)
        rows = (
            await self.session.execute(query.order_by(Booking.starts_at, Booking.id).limit(limit).offset(offset))
        ).all()
        items = [
            StaffBookingRead(
                id=b.id,
                status=b.status,
                party_size=b.party_size,
                start=to_kst(b.starts_at),
                end=to_kst(b.ends_at),
                space_id=s.id,
                space_name=s.name,
                slot_id=b.slot_id,
                holder=mask_name(u.name),
                holder_name=u.name,
                holder_phone=u.phone,
                walk_in=b.walk_in,
                checked_in_at=to_kst(b.checked_in_at) if b.checked_in_at else None,
            )
            for b, u, s in rows
        ]
        return Page(items=items, total=total, limit=limit, offset=offset)

    async def history(self, booking: Booking) -> list[BookingEventRead]:
        events = (
            await self.session.scalars(
                select(BookingEvent).where(BookingEvent.booking_id == booking.id).order_by(BookingEvent.id)
            )
        ).all()
        return [
            BookingEventRead(
                at=to_kst(e.at),
                from_status=e.from_status,
                to_status=e.to_status,
                reason=e.reason,
                actor_id=e.actor_id,
                note=e.note,
            )
            for e in events
        ]

    # --- availability ------------------------------------------------------------------------------

    async def availability(self, space_id: int, start: date, end: date) -> Availability:
        check_date_range(start, end, MAX_AVAILABILITY_DAYS)
        placement = await self._placement_of_space(space_id)
        return (await self._availability(placement.venue, [placement.space], start, end))[0]

    async def venue_availability(self, venue_id: int, start: date, end: date) -> list[Availability]:
        check_date_range(start, end, MAX_AVAILABILITY_DAYS)
        venue = await VenueService(self.session).get(venue_id)
        spaces = (
            await self.session.scalars(
                select(Space).where(Space.venue_id == venue_id, Space.is_active.is_(True)).order_by(Space.id)
            )
        ).all()
        return await self._availability(venue, list(spaces), start, end)

    async def _availability(self, venue: Venue, spaces: list[Space], start: date, end: date) -> list[Availability]:
        lower, _ = day_bounds_utc(start)
        _, upper = day_bounds_utc(end)
        slot_space_ids = [s.id for s in spaces if s.shape != SpaceShape.STAY]
        slots_by_space: dict[int, list[SlotRead]] = {sid: [] for sid in slot_space_ids}
        if slot_space_ids:
            rows = await self.session.execute(
                select(
                    Slot.id,
                    Slot.space_id,
                    Slot.starts_at,
                    Slot.ends_at,
                    Slot.capacity,
                    Slot.taken,
                    Slot.status,
                )
                .where(Slot.space_id.in_(slot_space_ids), Slot.starts_at >= lower, Slot.starts_at < upper)
                .order_by(Slot.space_id, Slot.starts_at)
            )
            for sid, space_id, starts_at, ends_at, capacity, taken, status in rows:
                remaining = max(capacity - taken, 0) if status == SlotStatus.OPEN else 0
                slots_by_space[space_id].append(
                    SlotRead(
                        id=sid,
                        start=to_kst(starts_at),
                        end=to_kst(ends_at),
                        capacity=capacity,
                        remaining=remaining,
                        status=status,
                    )
                )
        result: list[Availability] = []
        stay_spaces = [s for s in spaces if s.shape == SpaceShape.STAY]
        taken_nights: set[tuple[int, date]] = set()
        if stay_spaces:
            taken_rows = await self.session.execute(
                select(StayNight.space_id, StayNight.night).where(
                    StayNight.space_id.in_([s.id for s in stay_spaces]),
                    StayNight.night >= start,
                    StayNight.night <= end,
                )
            )
            taken_nights = {(sid, night) for sid, night in taken_rows}
        service = VenueService(self.session)
        for space in spaces:
            if space.shape == SpaceShape.STAY:
                days = await service.day_statuses(venue, start, end, space_id=space.id)
                nights = [
                    NightRead(
                        date=d.date,
                        available=d.open and (space.id, d.date) not in taken_nights and space.is_active,
                    )
                    for d in days
                ]
                result.append(Availability(space_id=space.id, shape=space.shape, nights=nights))
            else:
                result.append(Availability(space_id=space.id, shape=space.shape, slots=slots_by_space[space.id]))
        return result


def require_staff(user: User, venue_id: int) -> None:
    if not user.can_work_at(venue_id, Role.STAFF, Role.MANAGER):
        raise Forbidden(f"장소 {venue_id} 에 대한 권한이 없습니다 (not allowed at venue {venue_id})")
