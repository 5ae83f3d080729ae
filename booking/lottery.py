"""Lotteries: applications while registration is open, then one draw, claimed once, whose seed, order
and winners are published so that anyone can re-run it.

The draw is a function of what it publishes and nothing else (``booking.ways``: the rules about each
citizen are applied when they apply), so the same seed and entries always give the same winners.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.log import record as audit
from booking.courses import Courses, open_sessions
from booking.eligibility import Eligibility, Wanted
from booking.errors import AlreadyBooked, InvalidTransition, WindowClosed
from booking.history import History
from booking.holding import Holding
from booking.locks import lock_citizen
from booking.models import Booking
from booking.placement import Placement
from booking.ways import Way
from core.clock import to_kst
from core.database import constraint_of
from core.errors import NotFound
from core.i18n import msg
from programs.models import Allocation, Application, Program
from programs.schemas import ApplicationRead, DrawEntry, DrawPlaces, DrawRead, DrawRoom
from programs.services import ProgramService, draw_commitment
from venues import places
from venues.models import SpaceShape

DRAW_ALGORITHM_V1 = (
    "sha256-rank-v1: order the application ids by the hex SHA-256 of '<seed>:<id>' (ascending); "
    "in that order each applicant wins if the party fits in every session, else joins the waitlist"
)
DRAW_ALGORITHM = (
    "sha256-rank-v2. Commitment: the lowercase hex SHA-256 of the seed's UTF-8 bytes, published before "
    "registration opens. Order: the entries' ids sorted ascending by the lowercase hex SHA-256 of the UTF-8 "
    "text '<seed>:<id>' (the id in decimal). Allocation, in that order: an entry wins when it fits in every "
    "session at once, and then takes its share of each; otherwise it joins every session's waitlist, in "
    "drawn order, and the entries after it are still tried (a party that does not fit is skipped, and a "
    "later smaller one may win). Per session, 'places' is what is left just before the draw; 'per' says "
    "what an entry takes: 'person' takes party_size places and fits if that many are left; 'party' takes "
    "one place and fits if one is left; 'room' takes the free room with the smallest max_party that is at "
    "least party_size (the smallest room id among equals) and fits if there is one. A reference "
    "implementation is docs/lottery_rerun.py."
)
ONE_APPLICATION = "uq_application_program_user"


def draw_order(seed: str, application_ids: list[int]) -> list[int]:
    """The published, re-runnable order of a lottery: anyone with the seed and the ids gets the same."""
    return sorted(application_ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())


class Lottery:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.eligibility = Eligibility(session, now)
        self.holding = Holding(session, now)
        self.history = History(session, now)

    async def apply(self, user: User, program_id: int, party_size: int) -> Application:
        citizen = await lock_citizen(self.session, user.id)
        program = await ProgramService(self.session, now=self.now).get(program_id)
        if program.allocation != Allocation.LOTTERY:
            raise InvalidTransition("invalid_transition.first_come", program_id=program.id)
        placements = await open_sessions(self.session, program, self.now)
        if not placements or program.drawn_at is not None:
            raise WindowClosed("window_closed.applications_closed")
        await self.eligibility.check(Way.APPLICATION, citizen, [Wanted.slot(p) for p in placements], party_size)
        application = Application(program_id=program.id, user_id=citizen.id, party_size=party_size, status="applied")
        try:
            async with self.session.begin_nested():
                self.session.add(application)
                await self.session.flush()
        except IntegrityError as exc:
            if constraint_of(exc) == ONE_APPLICATION:
                raise AlreadyBooked("already_booked.application") from exc
            raise
        await audit(
            self.session,
            "application.submitted",
            "application",
            application.id,
            venue_id=program.venue_id,
            details={"program_id": program.id, "party_size": party_size},
            now=self.now,
        )
        return application

    async def mine(self, user: User, program_id: int) -> Application:
        application = await self.session.scalar(
            select(Application).where(Application.program_id == program_id, Application.user_id == user.id)
        )
        if application is None:
            raise NotFound("not_found.application")
        return application

    async def due(self) -> list[int]:
        return list(
            (
                await self.session.scalars(
                    select(Program.id)
                    .where(
                        Program.allocation == Allocation.LOTTERY,
                        Program.drawn_at.is_(None),
                        Program.registration_closes_at <= self.now,
                    )
                    .order_by(Program.id)
                )
            ).all()
        )

    async def draw(self, program_id: int) -> bool:
        """Run a closed lottery once, with the seed fixed when it was created. Claimed by a conditional
        UPDATE, so a second run (or a second process) finds it drawn and does nothing."""
        claimed = await self.session.execute(
            update(Program)
            .where(
                Program.id == program_id,
                Program.allocation == Allocation.LOTTERY,
                Program.drawn_at.is_(None),
                Program.registration_closes_at <= self.now,
            )
            # A lottery made before seeds were fixed at creation gets one now (its commitment was never shown).
            .values(drawn_at=self.now, draw_seed=func.coalesce(Program.draw_seed, secrets.token_hex(32)))
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return False
        program = await ProgramService(self.session, now=self.now).get(program_id)
        await self.session.refresh(program)
        assert program.draw_seed is not None
        applications = {
            a.id: a
            for a in (
                await self.session.scalars(
                    select(Application).where(Application.program_id == program_id, Application.status == "applied")
                )
            ).all()
        }
        # Every applicant's account first, in id order, before any slot: the engine's lock order.
        citizens = {u: await lock_citizen(self.session, u) for u in sorted({a.user_id for a in applications.values()})}
        placements = await open_sessions(self.session, program, self.now)
        session_places = [await self._places_of(p) for p in placements]
        entries = [DrawEntry(id=i, party_size=applications[i].party_size) for i in sorted(applications)]
        order = draw_order(program.draw_seed, [e.id for e in entries])
        winners, waitlisted = allocate(order, entries, session_places)
        courses = Courses(self.session, self.now)
        for rank, application_id in enumerate(order, start=1):
            application = applications[application_id]
            application.draw_rank = rank
            citizen = citizens[application.user_id]
            if application_id in winners:
                # The places were counted just now under the slots' guards: taking them cannot fail
                # unless the database changed under the draw, which then rolls back whole.
                bookings = await courses.take_all(Way.LOTTERY, citizen, placements, application.party_size)
                application.status = "won"
                await self._tell_won(program, citizen, bookings)
                continue
            application.status = "waitlisted"
            for placement in placements:
                try:
                    await self.holding.queue(Way.LOTTERY, citizen, placement, application.party_size)
                except AlreadyBooked:
                    continue  # already in that session's line (or holding a place there)
            await self._tell_waitlisted(program, citizen, waitlisted.index(application_id) + 1)
        program.draw_result = {
            "algorithm": DRAW_ALGORITHM,
            "order": order,
            "winners": winners,
            "waitlisted": waitlisted,
            "entries": msgspec.to_builtins(entries),
            "places": msgspec.to_builtins(session_places),
        }
        await self.session.flush()
        await audit(
            self.session,
            "program.drawn",
            "program",
            program.id,
            venue_id=program.venue_id,
            details={"entries": len(entries), "winners": len(winners)},
            now=self.now,
        )
        return True

    async def _places_of(self, placement: Placement) -> DrawPlaces:
        slot = placement.slot
        assert slot is not None
        left = await places.remaining(self.session, slot.id)
        if placement.is_camp:
            assert placement.program_session is not None
            rooms = await places.free_camp_rooms(self.session, placement.program_session.id)
            return DrawPlaces(slot_id=slot.id, per="room", places=len(rooms), rooms=[DrawRoom(r, m) for r, m in rooms])
        per = "party" if placement.space.shape == SpaceShape.EXCLUSIVE else "person"
        return DrawPlaces(slot_id=slot.id, per=per, places=left)

    async def _tell_won(self, program: Program, citizen: User, bookings: list[Booking]) -> None:
        first = min(bookings, key=lambda b: b.starts_at)
        await self.history.notify(
            citizen.id,
            "lottery_won",
            msg("notice.lottery_won.title", title=program.title, title_en=program.title_en),
            msg("notice.lottery_won.body", sessions=len(bookings), starts_at=to_kst(first.starts_at)),
            booking=first,
        )

    async def _tell_waitlisted(self, program: Program, citizen: User, place: int) -> None:
        await self.history.notify(
            citizen.id,
            "lottery_waitlisted",
            msg("notice.lottery_waitlisted.title", title=program.title, title_en=program.title_en),
            msg("notice.lottery_waitlisted.body", place=place),
        )


def allocate(order: list[int], entries: list[DrawEntry], sessions: list[DrawPlaces]) -> tuple[list[int], list[int]]:
    """Winners and waitlist of a draw from its order, entries and places: the algorithm as published
    (``DRAW_ALGORITHM``), on nothing but what the draw publishes."""
    party = {e.id: e.party_size for e in entries}
    left = {s.slot_id: s.places for s in sessions}
    rooms = {s.slot_id: sorted((r.max_party, r.room) for r in s.rooms or []) for s in sessions if s.per == "room"}
    winners: list[int] = []
    waitlisted: list[int] = []
    for entry_id in order:
        size = party[entry_id]
        takes: dict[int, int | tuple[int, int]] = {}
        for s in sessions:
            if s.per == "room":
                room = next((r for r in rooms[s.slot_id] if r[0] >= size), None)
                if room is None:
                    break
                takes[s.slot_id] = room
            else:
                need = size if s.per == "person" else 1
                if left[s.slot_id] < need:
                    break
                takes[s.slot_id] = need
        if not sessions or len(takes) != len(sessions):
            waitlisted.append(entry_id)
            continue
        for slot_id, taken in takes.items():
            if isinstance(taken, tuple):
                rooms[slot_id].remove(taken)
            else:
                left[slot_id] -= taken
        winners.append(entry_id)
    return winners, waitlisted


def application_read(application: Application) -> ApplicationRead:
    return ApplicationRead(
        id=application.id,
        program_id=application.program_id,
        status=application.status,
        party_size=application.party_size,
        draw_rank=application.draw_rank,
    )


def draw_read(program: Program) -> DrawRead | None:
    """The published draw: the seed revealed, with everything needed to re-run it."""
    if program.drawn_at is None or program.draw_seed is None or program.draw_result is None:
        return None
    result = program.draw_result
    return DrawRead(
        seed=program.draw_seed,
        drawn_at=to_kst(program.drawn_at),
        algorithm=str(result.get("algorithm", DRAW_ALGORITHM_V1)),
        order=list(result.get("order", [])),
        winners=list(result.get("winners", [])),
        waitlisted=list(result.get("waitlisted", [])),
        entries=msgspec.convert(result.get("entries", []), list[DrawEntry]),
        places=msgspec.convert(result.get("places", []), list[DrawPlaces]),
        commitment=draw_commitment(program) or "",
    )
