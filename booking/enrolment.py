"""Programme enrolment on top of the booking engine: whole courses (every session or none), lottery
applications and the draw, and what a moved or cancelled session does to its bookings."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.errors import AlreadyBooked, InvalidTransition, WindowClosed
from booking.models import ACTIVE, Booking, BookingStatus
from booking.services import BookingService, Placement, _fmt
from core.clock import to_kst
from core.errors import NotFound
from programs.models import Allocation, Application, Enrolment, Program, ProgramKind, ProgramSession
from programs.schemas import ApplicationRead, DrawRead
from programs.services import ProgramService, SessionChange
from venues.models import Slot, Space, Venue
from venues.rules import effective_rules

DRAW_ALGORITHM = (
    "sha256-rank-v1: order the application ids by the hex SHA-256 of '<seed>:<id>' (ascending); "
    "in that order each applicant wins if the party fits in every session, else joins the waitlist"
)


def draw_order(seed: str, application_ids: list[int]) -> list[int]:
    """The published, re-runnable order of a lottery: anyone with the seed and the ids gets the same."""
    return sorted(application_ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())


class EnrolmentService(BookingService):
    async def _open_sessions(self, program: Program) -> list[tuple[ProgramSession, Slot]]:
        rows = await ProgramService(self.session, now=self.now).sessions(program.id, include_cancelled=False)
        return sorted(((s, slot) for s, slot in rows if slot.starts_at > self.now), key=lambda r: r[1].id)

    async def _placements(self, program: Program, sessions: list[tuple[ProgramSession, Slot]]) -> list[Placement]:
        venue = await self.session.get(Venue, program.venue_id)
        space = await self.session.get(Space, program.space_id)
        assert venue is not None
        assert space is not None
        rules = effective_rules(venue.kind, venue.rules, space.rules)
        return [Placement(venue, space, rules, slot) for _, slot in sessions]

    async def _take_all(
        self, user: User, program: Program, sessions: list[tuple[ProgramSession, Slot]], party_size: int, reason: str
    ) -> list[Booking]:
        """A place in every session, or none: one savepoint around them all, slots locked in id order."""
        bookings: list[Booking] = []
        async with self.session.begin_nested():
            for placement, (program_session, _) in zip(
                await self._placements(program, sessions), sessions, strict=True
            ):
                bookings.append(
                    await self.take_place(
                        user,
                        placement,
                        party_size=party_size,
                        units=1 if program.kind == ProgramKind.CAMP else party_size,
                        waitlist=False,
                        actor=None,
                        reason=reason,
                        camp=program_session if program.kind == ProgramKind.CAMP else None,
                    )
                )
            await self.session.flush()
        return bookings

    async def enrol(self, user: User, program_id: int, party_size: int) -> list[Booking]:
        holder = await self._lock_user(user.id)
        program = await ProgramService(self.session, now=self.now).get(program_id)
        if program.allocation == Allocation.LOTTERY:
            raise InvalidTransition("추첨 프로그램입니다: 신청서를 내세요 (allocated by lottery: apply instead)")
        if program.enrolment != Enrolment.COURSE:
            raise InvalidTransition("회차별로 예약하는 프로그램입니다 (drop-in: book each session's slot_id)")
        sessions = await self._open_sessions(program)
        if not sessions:
            raise WindowClosed("남은 회차가 없습니다 (no sessions left)")
        await self.check_programme(holder, program, min((slot for _, slot in sessions), key=lambda s: s.starts_at))
        self._check_party_of(program.max_party, party_size)
        self._check_suspension(holder)
        for _, slot in sessions:
            await self._check_conflicts(holder.id, slot.starts_at, slot.ends_at, slot.id)
        return await self._take_all(holder, program, sessions, party_size, "enrolled")

    # --- lottery ---------------------------------------------------------------------------------

    async def apply(self, user: User, program_id: int, party_size: int) -> Application:
        holder = await self._lock_user(user.id)
        program = await ProgramService(self.session, now=self.now).get(program_id)
        if program.allocation != Allocation.LOTTERY:
            raise InvalidTransition("선착순 프로그램입니다 (first come, first served: book or enrol instead)")
        sessions = await self._open_sessions(program)
        if not sessions or program.drawn_at is not None:
            raise WindowClosed("신청이 마감되었습니다 (applications have closed)")
        await self.check_programme(holder, program, min((slot for _, slot in sessions), key=lambda s: s.starts_at))
        self._check_party_of(program.max_party, party_size)
        self._check_suspension(holder)
        application = Application(program_id=program.id, user_id=holder.id, party_size=party_size, status="applied")
        try:
            async with self.session.begin_nested():
                self.session.add(application)
                await self.session.flush()
        except IntegrityError as exc:
            raise AlreadyBooked("이미 신청하셨습니다 (you have already applied)") from exc
        return application

    async def my_application(self, user: User, program_id: int) -> Application:
        application = await self.session.scalar(
            select(Application).where(Application.program_id == program_id, Application.user_id == user.id)
        )
        if application is None:
            raise NotFound("신청 내역이 없습니다 (no application)")
        return application

    async def draw(self, program_id: int, *, seed: str | None = None) -> bool:
        """Run a closed lottery once. Claimed by a conditional UPDATE, so a second run (or a second
        process) finds it drawn and does nothing."""
        seed = seed or secrets.token_hex(16)
        claimed = await self.session.execute(
            update(Program)
            .where(
                Program.id == program_id,
                Program.allocation == Allocation.LOTTERY,
                Program.drawn_at.is_(None),
                Program.registration_closes_at <= self.now,
            )
            .values(drawn_at=self.now, draw_seed=seed)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return False
        program = await ProgramService(self.session, now=self.now).get(program_id)
        await self.session.refresh(program)
        applications = {
            a.id: a
            for a in (
                await self.session.scalars(
                    select(Application).where(Application.program_id == program_id, Application.status == "applied")
                )
            ).all()
        }
        order = draw_order(seed, sorted(applications))
        sessions = await self._open_sessions(program)
        winners: list[int] = []
        waitlisted: list[int] = []
        for rank, application_id in enumerate(order, start=1):
            application = applications[application_id]
            application.draw_rank = rank
            user = await self.session.get(User, application.user_id)
            assert user is not None
            won = False
            if sessions:
                try:
                    await self._take_all(user, program, sessions, application.party_size, "lottery_won")
                    won = True
                except Exception as exc:  # sold out for this party (or a clash): the waitlist, in drawn order
                    if getattr(exc, "code", None) is None:
                        raise
            if won:
                application.status = "won"
                winners.append(application_id)
                continue
            application.status = "waitlisted"
            waitlisted.append(application_id)
            for placement, (program_session, _) in zip(
                await self._placements(program, sessions), sessions, strict=True
            ):
                try:
                    await self.take_place(
                        user,
                        placement,
                        party_size=application.party_size,
                        units=1 if program.kind == ProgramKind.CAMP else application.party_size,
                        waitlist=True,
                        actor=None,
                        reason="lottery_waitlisted",
                        camp=program_session if program.kind == ProgramKind.CAMP else None,
                    )
                except AlreadyBooked:
                    continue
        program.draw_result = {"order": order, "winners": winners, "waitlisted": waitlisted}
        await self.session.flush()
        return True

    async def draw_due(self) -> int:
        due = (
            await self.session.scalars(
                select(Program.id).where(
                    Program.allocation == Allocation.LOTTERY,
                    Program.drawn_at.is_(None),
                    Program.registration_closes_at <= self.now,
                )
            )
        ).all()
        return sum([await self.draw(program_id) for program_id in due])

    # --- sessions moved or cancelled ----------------------------------------------------------------

    async def on_session_changed(
        self, program: Program, session: ProgramSession, slot: Slot, change: SessionChange
    ) -> int:
        bookings = (
            await self.session.scalars(
                select(Booking).where(Booking.slot_id == slot.id, Booking.status.in_(ACTIVE)).order_by(Booking.id)
            )
        ).all()
        when = _fmt(slot.starts_at)
        for booking in bookings:
            if change == "moved":
                booking.starts_at, booking.ends_at = slot.starts_at, slot.ends_at
                booking.sequence += 1
                self._record(booking, booking.status, booking.status, "session_moved", None, f"→ {when}")
                self._notify(
                    booking,
                    "session_moved",
                    f"'{program.title}' 일정이 {when} 로 바뀌었습니다",
                    f"'{program.title_en}' moved to {when}",
                )
            else:
                previous = booking.status
                if await self._transition(booking, ACTIVE, BookingStatus.CANCELLED, "session_cancelled", None):
                    await self._release(booking, previous)
                    self._notify(
                        booking,
                        "session_cancelled",
                        f"'{program.title}' {when} 회차가 취소되었습니다",
                        f"'{program.title_en}' on {when} was cancelled",
                    )
        await self.session.flush()
        return len(bookings)


async def on_session_changed(
    session: AsyncSession, program: Program, program_session: ProgramSession, slot: Slot, change: SessionChange
) -> None:
    """Registered in ``programs.services.session_hooks``."""
    await EnrolmentService(session).on_session_changed(program, program_session, slot, change)


def application_read(application: Application) -> ApplicationRead:
    return ApplicationRead(
        id=application.id,
        program_id=application.program_id,
        status=application.status,
        party_size=application.party_size,
        draw_rank=application.draw_rank,
    )


def draw_read(program: Program) -> DrawRead | None:
    if program.drawn_at is None or program.draw_seed is None or program.draw_result is None:
        return None
    result = program.draw_result
    return DrawRead(
        seed=program.draw_seed,
        drawn_at=to_kst(program.drawn_at),
        algorithm=DRAW_ALGORITHM,
        order=list(result.get("order", [])),
        winners=list(result.get("winners", [])),
        waitlisted=list(result.get("waitlisted", [])),
    )
