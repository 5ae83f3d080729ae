"""Programmes: sessions from RRULEs, eligibility, whole courses, lotteries, camps and schedule edits."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import User
from booking import jobs
from booking.courses import Courses
from booking.errors import NotEligible, SoldOut
from booking.lottery import Lottery, draw_order
from booking.models import Booking
from booking.schemas import BookingCreate
from booking.services import BookingService
from core.clock import KST, kst
from core.database import unit_of_work
from notifications.models import Notice
from programs.models import ProgramSession
from programs.schemas import ProgramUpdate, SessionMove
from programs.services import ProgramService
from server.wiring import CLOSURE_HOOKS, SESSION_HOOKS
from tests.booking.conftest import slot_state
from tests.conftest import Account, Database, MakeSpace, MakeUser, MakeVenue
from tests.programs.conftest import MakeProgram
from venues.models import Slot
from venues.schemas import ClosureCreate
from venues.services import VenueService


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return kst(day, time(hour, minute))


async def session_days(db: Database, program_id: int) -> list[str]:
    async with unit_of_work(db.engine) as session:
        rows = await ProgramService(session).sessions(program_id, include_cancelled=False)
    return [slot.starts_at.astimezone(KST).strftime("%m-%d %H:%M") for _, slot in rows]


async def test_rrule_expansion_skips_seollal_2027_and_a_closure(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    async with unit_of_work(db.engine) as session:
        closure = ClosureCreate(start_date=date(2027, 2, 11), end_date=date(2027, 2, 11), reason="소독")
        await VenueService(session, closure_hooks=CLOSURE_HOOKS).add_closure(venue.id, closure, created_by_id=None)
    now = at(date(2027, 1, 20), 9)
    program = await make_program(
        venue.id,
        space.id,
        now=now,
        rrule="FREQ=DAILY;COUNT=10",
        first_start=at(date(2027, 2, 3), 19),
        registration_closes_at=at(date(2027, 2, 2), 18),
        exdates=["2027-02-05"],
    )
    # 3 Feb to 12 Feb: the 5th is an EXDATE, 6th to 9th are Seollal (with its substitute day), 11th is closed.
    assert await session_days(db, program.id) == ["02-03 19:00", "02-04 19:00", "02-10 19:00", "02-12 19:00"]


async def test_age_band_is_checked_at_the_first_session(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=20)
    now = at(date(2026, 12, 20), 10)
    program = await make_program(
        venue.id, space.id, now=now, min_age=50, max_age=64, first_start=at(date(2027, 1, 5), 14), enrolment="drop_in"
    )
    async with unit_of_work(db.engine) as session:
        [(_, slot), *_] = await ProgramService(session).sessions(program.id)
    too_young = await make_user(birth_year=1978)  # 49 in 2027, though 48 when booking in 2026
    just_fifty = await make_user(birth_year=1977)  # 50 in 2027
    too_old = await make_user(birth_year=1962)  # 65 in 2027
    for account in (too_young, too_old):
        with pytest.raises(NotEligible):
            await _book(db, account, now, slot.id)
    assert (await _book(db, just_fifty, now, slot.id)).status == "confirmed"


async def _book(db: Database, account: Account, now: datetime, slot_id: int, **extra: object) -> Booking:
    async with unit_of_work(db.engine) as session:
        user = await session.get(User, account.id)
        assert user is not None
        answer, _ = await BookingService(session, now=now).book(user, BookingCreate(slot_id=slot_id, **extra))  # type: ignore[arg-type]
        booking = await session.get(Booking, answer.id)
        assert booking is not None
        return booking


async def _get(db: Database, booking_id: int) -> Booking:
    async with unit_of_work(db.engine) as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        return booking


async def test_a_whole_course_takes_every_session_or_none(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=20)
    now = at(date(2027, 3, 1), 10)
    program = await make_program(
        venue.id, space.id, now=now, capacity=2, enrolment="course", first_start=at(date(2027, 3, 9), 14)
    )
    async with unit_of_work(db.engine) as session:
        sessions = await ProgramService(session).sessions(program.id)
        # The third session is full already (say, two seats given to a partner organisation).
        third = await session.get(Slot, sessions[2][1].id)
        assert third is not None
        third.taken = 2
    citizen = await make_user()
    async with unit_of_work(db.engine) as session:
        user = await session.get(User, citizen.id)
        assert user is not None
        with pytest.raises(SoldOut):
            await Courses(session, now).enrol(user, program.id, 1)
    # The unit of work around the refusal committed, and still nothing was taken: no partial enrolment.
    for _, slot in sessions:
        assert (await slot_state(db, slot.id))[1] == 0
    async with unit_of_work(db.engine) as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 0
        third = await session.get(Slot, sessions[2][1].id)
        assert third is not None
        third.taken = 0
    async with unit_of_work(db.engine) as session:
        user = await session.get(User, citizen.id)
        assert user is not None
        bookings = await Courses(session, now).enrol(user, program.id, 1)
    assert len(bookings) == 4
    assert {b.status for b in bookings} == {"confirmed"}
    for _, slot in sessions:
        assert await slot_state(db, slot.id) == (1, 1)


async def test_lottery_draw_is_reproducible_from_its_seed_and_runs_once(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=30)
    now = at(date(2027, 3, 1), 10)
    program = await make_program(
        venue.id,
        space.id,
        now=now,
        capacity=3,
        allocation="lottery",
        enrolment="course",
        rrule="FREQ=WEEKLY;COUNT=2",
        registration_closes_at=at(date(2027, 3, 5), 18),
        first_start=at(date(2027, 3, 9), 14),
    )
    applicants = [await make_user() for _ in range(8)]
    application_ids = []
    for account in applicants:
        async with unit_of_work(db.engine) as session:
            user = await session.get(User, account.id)
            assert user is not None
            application_ids.append((await Lottery(session, now).apply(user, program.id, 1)).id)
    drawn_at = at(date(2027, 3, 5), 18, 1)
    assert await jobs.draw_lotteries(db.engine, db.settings, drawn_at - timedelta(hours=1)) == 0  # still open
    assert await jobs.draw_lotteries(db.engine, db.settings, drawn_at) == 1
    assert await jobs.draw_lotteries(db.engine, db.settings, drawn_at) == 0  # never twice
    async with unit_of_work(db.engine) as session:
        assert await Lottery(session, drawn_at).draw(program.id) is False
        drawn = await ProgramService(session).get(program.id)
    assert drawn.draw_seed is not None
    assert drawn.draw_result is not None
    order = drawn.draw_result["order"]
    # Anyone can re-run it from the published seed, without our code.
    expected = sorted(application_ids, key=lambda i: hashlib.sha256(f"{drawn.draw_seed}:{i}".encode()).hexdigest())
    assert order == expected == draw_order(drawn.draw_seed, application_ids)
    assert drawn.draw_result["winners"] == order[:3]
    assert drawn.draw_result["waitlisted"] == order[3:]
    async with unit_of_work(db.engine) as session:
        sessions = await ProgramService(session).sessions(program.id)
        for _, slot in sessions:
            statuses = (
                await session.execute(
                    select(Booking.status, func.count()).where(Booking.slot_id == slot.id).group_by(Booking.status)
                )
            ).all()
            assert dict(statuses) == {"confirmed": 3, "waitlisted": 5}
            assert slot.taken == 3


async def test_a_family_camp_takes_a_room_for_its_nights(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram, make_user: MakeUser
) -> None:
    town = await make_venue(kind="vitality_town", opens_on_holidays=True)
    hall = await make_space(town, kind="hall", shape="exclusive", capacity=80, max_party=80, slot_minutes=180)
    family = await make_space(town, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    couple = await make_space(town, kind="lodging_room", shape="stay", capacity=2, max_party=2, slot_minutes=None)
    now = at(date(2027, 4, 1), 10)
    camp_day = date(2027, 4, 17)
    program = await make_program(
        town.id,
        hall.id,
        now=now,
        kind="camp",
        title="가족 관계 회복 1박2일 캠프",
        title_en="Family camp, one night",
        capacity=6,
        max_party=4,
        rooms=[family.id, couple.id],
        nights=1,
        rrule="FREQ=WEEKLY;COUNT=1",
        first_start=at(camp_day, 15),
        duration_minutes=20 * 60,
    )
    async with unit_of_work(db.engine) as session:
        [(camp, slot)] = await ProgramService(session).sessions(program.id)
    assert slot.capacity == 2  # one family per room
    assert camp.check_in == camp_day
    # The camp holds both rooms for that night: no one can book them as ordinary stays.
    async with unit_of_work(db.engine) as session:
        availability = await BookingService(session, now=now).availability(
            family.id, camp_day, camp_day + timedelta(days=1)
        )
    assert [(n.date, n.available) for n in availability.nights or []] == [
        (camp_day, False),
        (camp_day + timedelta(days=1), True),
    ]

    parents = await make_user()
    async with unit_of_work(db.engine) as session:
        parents_user = await session.get(User, parents.id)
        assert parents_user is not None
        answer, _ = await BookingService(session, now=now).book(
            parents_user, BookingCreate(slot_id=slot.id, party_size=4)
        )
    assert answer.space.id == family.id  # the citizen is told which room is theirs
    assert answer.waitlist_position is None
    booking = await _get(db, answer.id)
    assert booking.status == "confirmed"
    assert booking.space_id == family.id  # the room that fits four
    assert booking.starts_at == at(camp_day, 15)
    assert booking.ends_at == at(camp_day + timedelta(days=1), 11)
    with pytest.raises(SoldOut):  # the couple room cannot take another family of four
        await _book(db, await make_user(), now, slot.id, party_size=4)
    pair = await _book(db, await make_user(), now, slot.id, party_size=2)
    assert pair.space_id == couple.id
    async with unit_of_work(db.engine) as session:
        await BookingService(session, now=now).cancel(await session.get(User, parents.id), booking.id)  # type: ignore[arg-type]
    again = await _book(db, await make_user(), now, slot.id, party_size=3)
    assert again.space_id == family.id  # the room went back to the camp


async def test_editing_the_rule_changes_future_sessions_only(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=20)
    created = at(date(2027, 3, 1), 10)
    program = await make_program(
        venue.id,
        space.id,
        now=created,
        rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=6",
        first_start=at(date(2027, 3, 2), 14),
        registration_closes_at=at(date(2027, 4, 30), 18),
        enrolment="drop_in",
    )
    before = await session_days(db, program.id)
    assert before == ["03-02 14:00", "03-09 14:00", "03-16 14:00", "03-23 14:00", "03-30 14:00", "04-06 14:00"]
    async with unit_of_work(db.engine) as session:
        sessions = await ProgramService(session).sessions(program.id)
    citizen = await make_user()
    future_booking = await _book(db, citizen, created, sessions[4][1].id)  # 30 March
    edited_at = at(date(2027, 3, 17), 9)  # after two sessions have taken place
    async with unit_of_work(db.engine) as session:
        await ProgramService(session, now=edited_at, session_hooks=SESSION_HOOKS).update(
            program.id, ProgramUpdate(rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=6", first_start=at(date(2027, 3, 4), 15))
        )
    after = await session_days(db, program.id)
    # The past (2 and 9 March, and the 16th, held yesterday) stays; the future follows the new rule.
    assert after[:3] == ["03-02 14:00", "03-09 14:00", "03-16 14:00"]
    assert after[3:] == ["03-18 15:00", "03-25 15:00", "04-01 15:00", "04-08 15:00"]
    async with unit_of_work(db.engine) as session:
        booking = await session.get(Booking, future_booking.id)
        assert booking is not None
        assert booking.status == "cancelled"
        kinds = (
            await session.scalars(select(Notice.kind).where(Notice.user_id == citizen.id).order_by(Notice.id))
        ).all()
        assert kinds == ["booking_confirmed", "session_cancelled"]


async def test_moving_a_session_moves_its_bookings_and_tells_them(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=20)
    now = at(date(2027, 3, 1), 10)
    program = await make_program(venue.id, space.id, now=now, enrolment="drop_in", first_start=at(date(2027, 3, 9), 14))
    async with unit_of_work(db.engine) as session:
        [(first, slot), *_] = await ProgramService(session).sessions(program.id)
    citizen = await make_user()
    booking = await _book(db, citizen, now, slot.id)
    async with unit_of_work(db.engine) as session:
        moved, moved_slot = await ProgramService(session, now=now, session_hooks=SESSION_HOOKS).move_session(
            program.id, first.id, SessionMove(start=at(date(2027, 3, 10), 15), end=at(date(2027, 3, 10), 17))
        )
    assert moved.status == "moved"
    assert moved_slot.id == slot.id  # the same session and slot: calendars keep its UID
    async with unit_of_work(db.engine) as session:
        refreshed = await session.get(Booking, booking.id)
        assert refreshed is not None
        assert refreshed.starts_at == at(date(2027, 3, 10), 15)
        assert refreshed.sequence == 1
        assert refreshed.status == "confirmed"
        notice = await session.scalar(select(Notice).where(Notice.user_id == citizen.id))
        assert notice is not None
        assert notice.kind == "session_moved"
        assert await session.scalar(select(func.count()).select_from(ProgramSession)) == 4
