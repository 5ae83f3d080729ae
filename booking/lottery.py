"""Lotteries: applications while registration is open, then one draw, claimed once, whose seed, order
and winners are published so that anyone can re-run it.

The draw is a function of what it publishes and nothing else (``booking.ways``: the rules about each
citizen are applied when they apply), so the same seed and entries always give the same winners.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.courses import Courses, open_sessions
from booking.eligibility import Eligibility, Wanted
from booking.errors import AlreadyBooked, InvalidTransition, SoldOut, WindowClosed
from booking.holding import Holding
from booking.locks import lock_citizen
from booking.ways import Way
from core.clock import to_kst
from core.database import constraint_of
from core.errors import NotFound
from programs.models import Allocation, Application, Program
from programs.schemas import ApplicationRead, DrawRead
from programs.services import ProgramService

DRAW_ALGORITHM = (
    "sha256-rank-v1: order the application ids by the hex SHA-256 of '<seed>:<id>' (ascending); "
    "in that order each applicant wins if the party fits in every session, else joins the waitlist"
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
        # Every applicant's account first, in id order, before any slot: the engine's lock order.
        citizens = {u: await lock_citizen(self.session, u) for u in sorted({a.user_id for a in applications.values()})}
        order = draw_order(seed, sorted(applications))
        placements = await open_sessions(self.session, program, self.now)
        courses = Courses(self.session, self.now)
        winners: list[int] = []
        waitlisted: list[int] = []
        for rank, application_id in enumerate(order, start=1):
            application = applications[application_id]
            application.draw_rank = rank
            citizen = citizens[application.user_id]
            if placements:
                try:
                    await courses.take_all(Way.LOTTERY, citizen, placements, application.party_size)
                except (SoldOut, AlreadyBooked):
                    pass  # no room for this party in every session: the waitlist, in drawn order
                else:
                    application.status = "won"
                    winners.append(application_id)
                    continue
            application.status = "waitlisted"
            waitlisted.append(application_id)
            for placement in placements:
                try:
                    await self.holding.queue(Way.LOTTERY, citizen, placement, application.party_size)
                except AlreadyBooked:
                    continue
        program.draw_result = {"order": order, "winners": winners, "waitlisted": waitlisted}
        await self.session.flush()
        return True


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
