"""Programme rules: creating a programme and its sessions from its recurrence rule, editing the rule
(future sessions only), moving and cancelling sessions, and finding programmes.

Sessions are slots (origin ``session``) of the programme's space. Changes that touch people's bookings
(a session moved or cancelled) are passed to the ``SessionHooks`` the app wires in from the booking
engine: this package must not import it (dependencies point venues <- programs <- booking).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final, Literal

import msgspec
from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User
from audit.log import record as audit
from core.clock import KST, day_bounds_utc, kst, to_kst, utcnow
from core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed, field_error
from core.i18n import msg
from core.pagination import Page, count
from core.validation import require_aware
from programs.models import (
    Allocation,
    Program,
    ProgramInstructor,
    ProgramKind,
    ProgramSession,
    SessionStatus,
)
from programs.schedule import expand
from programs.schemas import ProgramCreate, ProgramDetail, ProgramSummary, ProgramUpdate, SessionMove, SessionRead
from venues import places
from venues.models import Slot, SlotOrigin, SlotStatus, Space, SpaceShape, Venue
from venues.services import VenueService

SessionChange = Literal["moved", "cancelled"]
SessionHook = Callable[[AsyncSession, Program, ProgramSession, Slot, SessionChange], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SessionHooks:
    """What a moved or cancelled session does to its bookings, wired by the app (``server.wiring``):
    the booking engine moves or cancels them and tells the people."""

    changed: Sequence[SessionHook] = ()


CAMP_CHECK_OUT = time(11, 0)


def session_read(session: ProgramSession, slot: Slot) -> SessionRead:
    return SessionRead(
        id=session.id,
        slot_id=slot.id,
        start=to_kst(slot.starts_at),
        end=to_kst(slot.ends_at),
        capacity=slot.capacity,
        remaining=slot.remaining if session.status != SessionStatus.CANCELLED else 0,
        status=session.status,
        check_in=session.check_in.isoformat() if session.check_in else None,
        check_out=session.check_out.isoformat() if session.check_out else None,
    )


def summary(program: Program, next_session_at: datetime | None = None) -> ProgramSummary:
    return ProgramSummary(
        id=program.id,
        title=program.title,
        title_en=program.title_en,
        kind=program.kind,
        venue_id=program.venue_id,
        space_id=program.space_id,
        min_age=program.min_age,
        max_age=program.max_age,
        allocation=program.allocation,
        enrolment=program.enrolment,
        capacity=program.capacity,
        registration_opens_at=to_kst(program.registration_opens_at),
        registration_closes_at=to_kst(program.registration_closes_at),
        next_session_at=to_kst(next_session_at) if next_session_at else None,
    )


# What a lottery's draw was made for: none of it changes once the draw has happened.
DRAWN_FIELDS: Final = frozenset(
    {"registration_opens_at", "registration_closes_at", "rrule", "first_start", "duration_minutes", "exdates"}
)


def draw_commitment(program: Program) -> str | None:
    """The published promise of a lottery: the hex SHA-256 of its seed (UTF-8), from its creation."""
    if program.draw_seed is None:
        return None
    return hashlib.sha256(program.draw_seed.encode()).hexdigest()


class ProgramService:
    def __init__(
        self, session: AsyncSession, *, now: datetime | None = None, session_hooks: SessionHooks | None = None
    ) -> None:
        self.session = session
        self.now = now or utcnow()
        self.session_hooks = session_hooks

    async def _changed(self, program: Program, session: ProgramSession, slot: Slot, change: SessionChange) -> None:
        # Loud rather than silent: a session moved without the booking engine would strand its bookings.
        if self.session_hooks is None:
            raise RuntimeError("ProgramService needs session_hooks to change sessions")
        for hook in self.session_hooks.changed:
            await hook(self.session, program, session, slot, change)

    # --- reading ---------------------------------------------------------------------------------

    async def get(self, program_id: int, *, for_update: bool = False) -> Program:
        query = select(Program).where(Program.id == program_id)
        if for_update:
            query = query.with_for_update()
        program = await self.session.scalar(query)
        if program is None:
            raise NotFound("program.not_found", program_id=program_id)
        return program

    async def sessions(self, program_id: int, *, include_cancelled: bool = True) -> list[tuple[ProgramSession, Slot]]:
        query = (
            select(ProgramSession, Slot)
            .join(Slot, Slot.id == ProgramSession.slot_id)
            .where(ProgramSession.program_id == program_id)
            .order_by(Slot.starts_at, ProgramSession.id)
        )
        if not include_cancelled:
            query = query.where(ProgramSession.status != SessionStatus.CANCELLED)
        return [(s, slot) for s, slot in (await self.session.execute(query)).all()]

    async def instructor_ids(self, program_id: int) -> list[int]:
        rows = await self.session.scalars(
            select(ProgramInstructor.user_id)
            .where(ProgramInstructor.program_id == program_id)
            .order_by(ProgramInstructor.user_id)
        )
        return list(rows.all())

    async def detail(self, program_id: int) -> ProgramDetail:
        program = await self.get(program_id)
        sessions = await self.sessions(program_id)
        return ProgramDetail(
            **{k: v for k, v in msgspec.structs.asdict(summary(program)).items() if k != "next_session_at"},
            description=program.description,
            description_en=program.description_en,
            max_party=program.max_party,
            rrule=program.rrule,
            first_start=to_kst(program.first_start),
            duration_minutes=program.duration_minutes,
            exdates=list(program.exdates),
            rooms=list(program.rooms),
            nights=program.nights,
            instructor_ids=await self.instructor_ids(program_id),
            sessions=[session_read(s, slot) for s, slot in sessions],
            drawn_at=to_kst(program.drawn_at) if program.drawn_at else None,
            draw_commitment=draw_commitment(program),
        )

    async def search(
        self,
        *,
        venue_id: int | None,
        kind: str | None,
        age: int | None,
        q: str | None,
        start: date | None,
        end: date | None,
        limit: int,
        offset: int,
    ) -> Page[ProgramSummary]:
        next_session = (
            select(ProgramSession.program_id, func.min(Slot.starts_at).label("next_at"))
            .join(Slot, Slot.id == ProgramSession.slot_id)
            .where(ProgramSession.status != SessionStatus.CANCELLED, Slot.starts_at >= self.now)
            .group_by(ProgramSession.program_id)
            .subquery()
        )
        query = (
            select(Program, next_session.c.next_at)
            .outerjoin(next_session, next_session.c.program_id == Program.id)
            .where(Program.is_published.is_(True))
        )
        if venue_id is not None:
            query = query.where(Program.venue_id == venue_id)
        if kind:
            query = query.where(Program.kind == kind)
        if age is not None:
            query = query.where(
                or_(Program.min_age.is_(None), Program.min_age <= age),
                or_(Program.max_age.is_(None), Program.max_age >= age),
            )
        if q and q.strip():
            like = f"%{q.strip().lower()}%"
            query = query.where(
                or_(
                    func.lower(Program.title).like(like),
                    func.lower(Program.title_en).like(like),
                    func.lower(Program.description).like(like),
                    func.lower(Program.description_en).like(like),
                )
            )
        if start is not None or end is not None:
            lower = day_bounds_utc(start)[0] if start else None
            upper = day_bounds_utc(end)[1] if end else None
            conditions = [ProgramSession.program_id == Program.id, ProgramSession.status != SessionStatus.CANCELLED]
            if lower is not None:
                conditions.append(Slot.starts_at >= lower)
            if upper is not None:
                conditions.append(Slot.starts_at < upper)
            query = query.where(
                select(ProgramSession.id)
                .join(Slot, Slot.id == ProgramSession.slot_id)
                .where(and_(*conditions))
                .exists()
            )
        total = await count(self.session, query)
        rows = (await self.session.execute(query.order_by(Program.id).limit(limit).offset(offset))).all()
        return Page(items=[summary(p, at) for p, at in rows], total=total, limit=limit, offset=offset)

    # --- creating --------------------------------------------------------------------------------

    async def _check(self, data: ProgramCreate) -> tuple[Venue, Space]:
        venue = await VenueService(self.session).get(data.venue_id)
        space = await VenueService(self.session).get_space(data.space_id)
        if space.venue_id != venue.id:
            raise ValidationFailed(
                "space.of_another_venue", errors=[field_error("space_id", "field.not_a_space_of_venue")]
            )
        if space.shape == SpaceShape.STAY:
            raise ValidationFailed(
                "program.session_space_is_stay", errors=[field_error("space_id", "field.stay_space_use_rooms")]
            )
        for field in ("registration_opens_at", "registration_closes_at", "first_start"):
            require_aware(getattr(data, field), field)
        if data.registration_opens_at >= data.registration_closes_at:
            raise ValidationFailed(
                "program.registration_window",
                errors=[field_error("registration_closes_at", "field.not_after_registration_opens")],
            )
        if data.min_age is not None and data.max_age is not None and data.min_age > data.max_age:
            raise ValidationFailed("program.age_band", errors=[field_error("min_age", "field.above_max_age")])
        if data.max_party > data.capacity:
            raise ValidationFailed(
                "validation.max_party_over_capacity", errors=[field_error("max_party", "field.at_most_capacity")]
            )
        if data.kind == ProgramKind.CAMP:
            if not data.rooms or data.nights < 1:
                raise ValidationFailed(
                    "program.camp_needs_rooms", errors=[field_error("rooms", "field.camp_rooms_required")]
                )
            rooms = (await self.session.scalars(select(Space).where(Space.id.in_(data.rooms)))).all()
            if len(rooms) != len(set(data.rooms)) or any(
                r.venue_id != venue.id or r.shape != SpaceShape.STAY for r in rooms
            ):
                raise ValidationFailed(
                    "program.rooms_not_stay_spaces", errors=[field_error("rooms", "field.stay_spaces_of_venue")]
                )
        elif data.rooms or data.nights:
            raise ValidationFailed(
                "program.rooms_only_for_camps", errors=[field_error("rooms", "field.only_for_camps")]
            )
        await self._check_instructors(data.instructor_ids)
        return venue, space

    async def _check_instructors(self, user_ids: Sequence[int]) -> None:
        if not user_ids:
            return
        found = (
            await self.session.scalars(
                select(User.id).where(User.id.in_(user_ids), User.role.in_([Role.INSTRUCTOR, Role.STAFF, Role.MANAGER]))
            )
        ).all()
        missing = sorted(set(user_ids) - set(found))
        if missing:
            listed = ", ".join(map(str, missing))
            raise ValidationFailed(
                "program.not_instructors",
                errors=[field_error("instructor_ids", "field.not_instructors", user_ids=listed)],
                user_ids=listed,
            )

    async def create(self, data: ProgramCreate) -> Program:
        await self._check(data)
        program = Program(
            venue_id=data.venue_id,
            space_id=data.space_id,
            title=data.title.strip(),
            title_en=data.title_en.strip(),
            description=data.description,
            description_en=data.description_en,
            kind=data.kind,
            min_age=data.min_age,
            max_age=data.max_age,
            capacity=data.capacity,
            max_party=data.max_party,
            allocation=data.allocation,
            enrolment=data.enrolment,
            registration_opens_at=data.registration_opens_at,
            registration_closes_at=data.registration_closes_at,
            rrule=data.rrule.strip().removeprefix("RRULE:"),
            first_start=data.first_start,
            duration_minutes=data.duration_minutes,
            exdates=list(data.exdates),
            rooms=sorted(set(data.rooms)),
            nights=data.nights,
            # A lottery's seed is fixed now, before anyone can apply, and only its hash is shown until
            # the draw: nobody, the operator included, can pick a seed once the entries are known.
            draw_seed=secrets.token_hex(32) if data.allocation == Allocation.LOTTERY else None,
        )
        self.session.add(program)
        await self.session.flush()
        self.session.add_all(
            ProgramInstructor(program_id=program.id, user_id=u) for u in sorted(set(data.instructor_ids))
        )
        await self._schedule(program, after=None)
        await audit(
            self.session,
            "program.created",
            "program",
            program.id,
            venue_id=program.venue_id,
            details={"title": program.title, "allocation": program.allocation},
            now=self.now,
        )
        return program

    def _times(self, program: Program, occurrence: datetime) -> tuple[datetime, datetime, date | None, date | None]:
        if program.kind == ProgramKind.CAMP:
            check_in = occurrence.astimezone(KST).date()
            check_out = check_in + timedelta(days=program.nights)
            return occurrence, kst(check_out, CAMP_CHECK_OUT), check_in, check_out
        return occurrence, occurrence + timedelta(minutes=program.duration_minutes), None, None

    async def _schedule(self, program: Program, *, after: datetime | None) -> tuple[int, int]:
        """Bring the future sessions in line with the rule: add the missing ones, cancel the ones it no
        longer gives. Sessions that started before ``after`` (or any, when None on creation) stay as they are."""
        wanted = await expand(program.rrule, program.first_start, list(program.exdates))
        if after is not None:
            wanted = [o for o in wanted if o > after]
        venue = await VenueService(self.session).get(program.venue_id)
        if wanted:
            first, last = wanted[0].astimezone(KST).date(), wanted[-1].astimezone(KST).date()
            days = {
                d.date: d.open
                for d in await VenueService(self.session).day_statuses(venue, first, last, space_id=program.space_id)
            }
            # Holidays and closures: no session that day.
            wanted = [o for o in wanted if days.get(o.astimezone(KST).date(), False)]
        existing = await self.sessions(program.id)
        by_occurrence = {s.occurrence: (s, slot) for s, slot in existing}
        wanted_set = set(wanted)
        cancelled = 0
        for occurrence, (session, slot) in by_occurrence.items():
            if after is not None and slot.starts_at <= after:
                continue
            if occurrence not in wanted_set and session.status != SessionStatus.CANCELLED:
                await self.cancel_session(program, session, slot)
                cancelled += 1
        added = 0
        for occurrence in wanted:
            if occurrence not in by_occurrence:
                await self._add_session(program, occurrence)
                added += 1
                continue
            session, slot = by_occurrence[occurrence]
            if after is not None and slot.starts_at <= after:
                continue
            if session.status == SessionStatus.CANCELLED and slot.closure_id is None:
                # The rule gives this occurrence again: reopen it (its old bookings stay cancelled).
                session.status = SessionStatus.SCHEDULED
                session.sequence += 1
                slot.sequence += 1
                slot.status = SlotStatus.OPEN
                await self.session.flush()
                await self._claim_time(program, slot)
                if program.kind == ProgramKind.CAMP:
                    await self._hold_rooms(program, session)
                added += 1
            starts_at, ends_at, _, _ = self._times(program, occurrence)
            if session.status == SessionStatus.SCHEDULED and (slot.starts_at, slot.ends_at) != (starts_at, ends_at):
                # A new length: the same occurrence, at new times.
                await self._move(program, session, slot, starts_at, ends_at)
        await self.session.flush()
        return added, cancelled

    async def _add_session(self, program: Program, occurrence: datetime) -> ProgramSession:
        starts_at, ends_at, check_in, check_out = self._times(program, occurrence)
        capacity = len(program.rooms) if program.kind == ProgramKind.CAMP else program.capacity
        slot = Slot(
            space_id=program.space_id,
            venue_id=program.venue_id,
            starts_at=starts_at,
            ends_at=ends_at,
            capacity=capacity,
            taken=0,
            status=SlotStatus.OPEN,
            origin=SlotOrigin.SESSION,
            note=program.title[:300],
        )
        self.session.add(slot)
        await self.session.flush()
        await self._claim_time(program, slot)
        session = ProgramSession(
            program_id=program.id,
            slot_id=slot.id,
            occurrence=occurrence,
            status=SessionStatus.SCHEDULED,
            check_in=check_in,
            check_out=check_out,
        )
        self.session.add(session)
        await self.session.flush()
        if program.kind == ProgramKind.CAMP:
            await self._hold_rooms(program, session)
        return session

    def _overlapping_generated(self, program: Program, starts_at: datetime, ends_at: datetime) -> ColumnElement[bool]:
        return and_(
            Slot.space_id == program.space_id,
            Slot.origin == SlotOrigin.GENERATED,
            Slot.starts_at < ends_at,
            Slot.ends_at > starts_at,
        )

    async def _claim_time(self, program: Program, slot: Slot) -> None:
        """A session takes its space for its time: the generated practice slots then close for new
        bookings, held by the session. Refused when one of them already holds bookings: a room for 20
        would otherwise hold the session's 20 and the practice slot's people at once."""
        other = await self.session.scalar(
            select(Slot.starts_at).where(
                Slot.space_id == program.space_id,
                Slot.id != slot.id,
                Slot.origin != SlotOrigin.GENERATED,
                Slot.status == SlotStatus.OPEN,
                Slot.starts_at < slot.ends_at,
                Slot.ends_at > slot.starts_at,
            )
        )
        if other is not None:  # another session or a one-off slot has the room then
            raise Conflict("conflict.space_taken_then", starts_at=to_kst(other))
        overlapping = self._overlapping_generated(program, slot.starts_at, slot.ends_at)
        await self.session.execute(
            update(Slot)
            .where(overlapping, Slot.status == SlotStatus.OPEN, Slot.taken == 0)
            .values(
                status=SlotStatus.BLOCKED,
                held_by_id=slot.id,
                note=msg("slot_note.program", title=program.title).render()[:300],
                sequence=Slot.sequence + 1,
            )
            .execution_options(synchronize_session=False)
        )
        # Checked after the UPDATE, which waited for any booking of those slots that was being made.
        busy = (
            await self.session.execute(
                select(Slot.starts_at, Slot.taken).where(overlapping, Slot.taken > 0).order_by(Slot.starts_at).limit(1)
            )
        ).first()
        if busy is not None:
            raise Conflict("conflict.space_booked_then", starts_at=to_kst(busy[0]), people=int(busy[1]))

    async def _release_time(self, slot: Slot) -> None:
        """The generated slots a session (or its old time) held open again, except on closed days."""
        held = (await self.session.scalars(select(Slot).where(Slot.held_by_id == slot.id))).all()
        if not held:
            return
        venue = await VenueService(self.session).get(slot.venue_id)
        days = sorted({to_kst(h.starts_at).date() for h in held})
        open_days = {
            d.date: d.open
            for d in await VenueService(self.session).day_statuses(venue, days[0], days[-1], space_id=slot.space_id)
        }
        for generated in held:
            generated.held_by_id = None
            if generated.status == SlotStatus.BLOCKED and open_days.get(to_kst(generated.starts_at).date(), False):
                generated.status = SlotStatus.OPEN
                generated.note = ""
                generated.sequence += 1
        await self.session.flush()

    async def _hold_rooms(self, program: Program, session: ProgramSession) -> None:
        assert session.check_in is not None
        assert session.check_out is not None
        nights = [session.check_in + timedelta(days=n) for n in range((session.check_out - session.check_in).days)]
        clash = await places.hold_for_camp(self.session, session.id, program.rooms, nights)
        if clash is not None:
            room, night = clash
            raise Conflict("conflict.room_night_taken", room=room, night=night.isoformat())

    # --- editing ---------------------------------------------------------------------------------

    async def update(self, program_id: int, data: ProgramUpdate) -> Program:
        program = await self.get(program_id, for_update=True)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        instructor_ids = changes.pop("instructor_ids", None)
        frozen = sorted(set(changes) & DRAWN_FIELDS)
        if program.drawn_at is not None and frozen:
            # The draw was made for these windows and sessions; changing them would contradict it.
            raise InvalidTransition("invalid_transition.drawn", fields=", ".join(frozen))
        for field in ("registration_opens_at", "registration_closes_at", "first_start"):
            if field in changes:
                require_aware(changes[field], field)
        schedule_changed = any(k in changes for k in ("rrule", "first_start", "duration_minutes", "exdates"))
        if "rrule" in changes:
            changes["rrule"] = changes["rrule"].strip().removeprefix("RRULE:")
            await expand(changes["rrule"], changes.get("first_start", program.first_start), [])  # validates
        for key, value in changes.items():
            setattr(program, key, value)
        if program.registration_opens_at >= program.registration_closes_at:
            raise ValidationFailed(
                "program.registration_window",
                errors=[field_error("registration_closes_at", "field.not_after_registration_opens")],
            )
        if instructor_ids is not None:
            await self._check_instructors(instructor_ids)
            await self.session.execute(delete(ProgramInstructor).where(ProgramInstructor.program_id == program.id))
            self.session.add_all(
                ProgramInstructor(program_id=program.id, user_id=u) for u in sorted(set(instructor_ids))
            )
        await self.session.flush()
        if schedule_changed:
            await self._schedule(program, after=self.now)
        fields = sorted([*changes, *(["instructor_ids"] if instructor_ids is not None else [])])
        await audit(
            self.session,
            "program.updated",
            "program",
            program.id,
            venue_id=program.venue_id,
            details={"fields": fields},
            now=self.now,
        )
        return program

    async def session_of(self, program_id: int, session_id: int) -> tuple[Program, ProgramSession, Slot]:
        program = await self.get(program_id)
        row = (
            await self.session.execute(
                select(ProgramSession, Slot)
                .join(Slot, Slot.id == ProgramSession.slot_id)
                .where(ProgramSession.id == session_id, ProgramSession.program_id == program_id)
            )
        ).first()
        if row is None:
            raise NotFound("program.session_not_found", program_id=program_id, session_id=session_id)
        return program, row[0], row[1]

    async def move_session(self, program_id: int, session_id: int, data: SessionMove) -> tuple[ProgramSession, Slot]:
        program, session, slot = await self.session_of(program_id, session_id)
        start, end = require_aware(data.start, "start"), require_aware(data.end, "end")
        if end <= start:
            raise ValidationFailed("session.end_before_start", errors=[field_error("end", "field.after_start")])
        if session.status == SessionStatus.CANCELLED:
            raise Conflict("session.cancelled")
        if program.kind == ProgramKind.CAMP:
            raise Conflict("session.camp_cannot_move")
        if slot.starts_at <= self.now:
            raise Conflict("session.started")
        before = slot.starts_at
        await self._move(program, session, slot, start, end)
        await audit(
            self.session,
            "session.moved",
            "session",
            session.id,
            venue_id=program.venue_id,
            details={"program_id": program.id, "from": to_kst(before).isoformat(), "to": to_kst(start).isoformat()},
            now=self.now,
        )
        return session, slot

    async def _move(
        self, program: Program, session: ProgramSession, slot: Slot, starts_at: datetime, ends_at: datetime
    ) -> None:
        """A session at new times: the practice slots of its old time open again, those of its new time
        are taken (or the move is refused when they hold bookings), and its people are told."""
        await self._release_time(slot)
        slot.starts_at, slot.ends_at = starts_at, ends_at
        slot.sequence += 1
        session.status = SessionStatus.MOVED
        session.sequence += 1
        await self.session.flush()
        await self._claim_time(program, slot)
        await self._changed(program, session, slot, "moved")

    async def cancel_session(self, program: Program, session: ProgramSession, slot: Slot) -> None:
        if session.status == SessionStatus.CANCELLED:
            return
        session.status = SessionStatus.CANCELLED
        session.sequence += 1
        slot.sequence += 1
        slot.status = SlotStatus.CLOSED
        slot.note = msg("slot_note.session_cancelled", title=program.title).render()[:300]
        await self.session.flush()
        await self._release_time(slot)
        await self._changed(program, session, slot, "cancelled")
        if program.kind == ProgramKind.CAMP:
            await places.release_camp(self.session, session.id)
        await audit(
            self.session,
            "session.cancelled",
            "session",
            session.id,
            venue_id=program.venue_id,
            details={"program_id": program.id, "start": to_kst(slot.starts_at).isoformat()},
            now=self.now,
        )

    @staticmethod
    def _closing(slot_ids: Sequence[int] | Select[tuple[int]]) -> tuple[ColumnElement[bool], ...]:
        """The sessions that closing these slots cancels: those not cancelled already."""
        return (ProgramSession.slot_id.in_(slot_ids), ProgramSession.status != SessionStatus.CANCELLED)

    async def sessions_on(self, slot_ids: Select[tuple[int]]) -> list[tuple[Program, ProgramSession, Slot]]:
        """The sessions ``close_sessions`` would cancel if these slots were closed (a closure's preview)."""
        rows = await self.session.execute(
            select(Program, ProgramSession, Slot)
            .join(ProgramSession, ProgramSession.program_id == Program.id)
            .join(Slot, Slot.id == ProgramSession.slot_id)
            .where(*self._closing(slot_ids))
            .order_by(Slot.starts_at, ProgramSession.id)
        )
        return [(p, s, slot) for p, s, slot in rows.all()]

    async def close_sessions(self, slot_ids: Sequence[int]) -> None:
        """Sessions on days a closure closed are cancelled (the closure cancels their bookings and tells
        the people); a course then goes on without them. ``reopen_sessions`` undoes it."""
        if not slot_ids:
            return
        await self.session.execute(
            update(ProgramSession)
            .where(*self._closing(slot_ids))
            .values(status=SessionStatus.CANCELLED, sequence=ProgramSession.sequence + 1)
            .execution_options(synchronize_session=False)
        )

    async def reopen_sessions(self, slot_ids: Sequence[int]) -> None:
        """The sessions of slots a removed closure reopened are scheduled again."""
        if not slot_ids:
            return
        await self.session.execute(
            update(ProgramSession)
            .where(ProgramSession.slot_id.in_(slot_ids), ProgramSession.status == SessionStatus.CANCELLED)
            .values(status=SessionStatus.SCHEDULED, sequence=ProgramSession.sequence + 1)
            .execution_options(synchronize_session=False)
        )

    async def instructor_sessions(
        self, user: User, *, start: datetime, end: datetime
    ) -> list[tuple[Program, ProgramSession, Slot]]:
        rows = await self.session.execute(
            select(Program, ProgramSession, Slot)
            .join(ProgramInstructor, ProgramInstructor.program_id == Program.id)
            .join(ProgramSession, ProgramSession.program_id == Program.id)
            .join(Slot, Slot.id == ProgramSession.slot_id)
            .where(ProgramInstructor.user_id == user.id, Slot.starts_at >= start, Slot.starts_at < end)
            .order_by(Slot.starts_at)
        )
        return [(p, s, slot) for p, s, slot in rows.all()]

    async def is_instructor(self, user: User, program_id: int) -> bool:
        found = await self.session.scalar(
            select(ProgramInstructor.id).where(
                ProgramInstructor.program_id == program_id, ProgramInstructor.user_id == user.id
            )
        )
        return found is not None
