"""A booking's life at the service level, with the clock passed in: windows, cancels, the waitlist,
offers, no-shows and suspension, closures."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking import jobs
from booking.errors import (
    Closed,
    OfferExpired,
    Overlap,
    SoldOut,
    Suspended,
    TooLateToCancel,
    WindowClosed,
)
from booking.models import Booking, BookingEvent
from booking.schemas import BookingCreate
from booking.services import BookingService
from core.clock import KST, kst
from core.database import unit_of_work
from notifications.models import Notice
from server.wiring import CLOSURE_HOOKS
from tests.booking.conftest import slot_state
from tests.conftest import Account, Database, MakeSlot, MakeSpace, MakeUser, MakeVenue
from venues.models import Slot
from venues.schemas import ClosureCreate
from venues.services import VenueService

# A Wednesday in spring 2027 (not a holiday).
DAY = date(2027, 4, 14)


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return kst(day, time(hour, minute, second))


async def user_of(session: AsyncSession, account: Account) -> User:
    user = await session.get(User, account.id)
    assert user is not None
    return user


async def book(db: Database, account: Account, now: datetime, **body: object) -> Booking:
    async with unit_of_work(db.engine) as session:
        service = BookingService(session, now=now)
        answer, _ = await service.book(await user_of(session, account), BookingCreate(**body))  # type: ignore[arg-type]
        booking = await session.get(Booking, answer.id)
        assert booking is not None
        return booking


async def cancel(db: Database, account: Account, booking_id: int, now: datetime) -> Booking:
    async with unit_of_work(db.engine) as session:
        return await BookingService(session, now=now).cancel(await user_of(session, account), booking_id)


async def status_of(db: Database, booking_id: int) -> str:
    async with unit_of_work(db.engine) as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        return booking.status


async def test_window_opens_at_ten_kst_exactly(
    db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space()  # practice site: opens 14 days ahead at 10:00, closes 1 hour before
    slot = await make_slot(space, start=at(DAY, 14))
    citizen = await make_user()
    opens = at(DAY - timedelta(days=14), 10)
    with pytest.raises(WindowClosed) as refused:
        await book(db, citizen, opens - timedelta(seconds=1), slot_id=slot.id)
    assert refused.value.code == "window_closed"
    assert refused.value.params["opens_at"] == datetime(2027, 3, 31, 10, tzinfo=KST)
    booking = await book(db, citizen, opens, slot_id=slot.id)
    assert booking.status == "confirmed"
    other = await make_user()
    with pytest.raises(WindowClosed):
        await book(db, other, at(DAY, 13), slot_id=slot.id)  # closes one hour before the start
    assert (await book(db, other, at(DAY, 12, 59, 59), slot_id=slot.id)).status == "confirmed"


async def test_cancel_before_the_deadline_is_free_and_after_it_is_late(
    db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser, make_venue: MakeVenue
) -> None:
    space = await make_space()  # cancellation deadline: 24 hours
    slot = await make_slot(space, start=at(DAY, 14))
    a, b = await make_user(), await make_user()
    early = await book(db, a, at(DAY, 9) - timedelta(days=3), slot_id=slot.id)
    late = await book(db, b, at(DAY, 9) - timedelta(days=3), slot_id=slot.id)
    assert not (await cancel(db, a, early.id, at(DAY, 13) - timedelta(days=1))).late_cancel
    assert (await cancel(db, b, late.id, at(DAY, 15) - timedelta(days=1))).late_cancel
    # Cancelling again changes nothing.
    again = await cancel(db, b, late.id, at(DAY, 16) - timedelta(days=1))
    assert again.status == "cancelled"
    assert await slot_state(db, slot.id) == (0, 0)

    strict = await make_venue(rules={"late_cancel_allowed": False})
    strict_slot = await make_slot(await make_space(strict), start=at(DAY, 14))
    booking = await book(db, a, at(DAY, 9) - timedelta(days=3), slot_id=strict_slot.id)
    with pytest.raises(TooLateToCancel):
        await cancel(db, a, booking.id, at(DAY, 15) - timedelta(days=1))
    with pytest.raises(TooLateToCancel):
        await cancel(db, a, booking.id, at(DAY, 14, 30))  # started
    assert await status_of(db, booking.id) == "confirmed"


async def test_a_cancelled_place_goes_to_the_first_in_line_whose_party_fits(
    db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=2, max_party=2)
    slot = await make_slot(space, start=at(DAY, 14))
    now = at(DAY, 9) - timedelta(days=2)
    holder, big, small, later = [await make_user() for _ in range(4)]
    held = await book(db, holder, now, slot_id=slot.id, party_size=1)
    other = await book(db, await make_user(), now, slot_id=slot.id, party_size=1)
    queued_big = await book(db, big, now, slot_id=slot.id, party_size=2, join_waitlist=True)
    queued_small = await book(db, small, now, slot_id=slot.id, party_size=1, join_waitlist=True)
    queued_later = await book(db, later, now, slot_id=slot.id, party_size=1, join_waitlist=True)
    assert [queued_big.status, queued_small.status] == ["waitlisted", "waitlisted"]
    await cancel(db, holder, held.id, now + timedelta(hours=1))
    # One seat is free: the party of two waits, the next party of one gets it.
    assert await status_of(db, queued_big.id) == "waitlisted"
    assert await status_of(db, queued_small.id) == "confirmed"
    assert await status_of(db, queued_later.id) == "waitlisted"
    assert await slot_state(db, slot.id) == (2, 2)
    await cancel(db, small, queued_small.id, now + timedelta(hours=2))
    assert await status_of(db, queued_later.id) == "confirmed"  # again one seat: the next party of one
    await cancel(db, await _account(db, other.user_id), other.id, now + timedelta(hours=2))
    assert await status_of(db, queued_big.id) == "waitlisted"
    await cancel(db, later, queued_later.id, now + timedelta(hours=2))
    # Two seats free at last: the party of two, first in line, gets them.
    assert await status_of(db, queued_big.id) == "confirmed"
    assert await slot_state(db, slot.id) == (2, 2)
    async with unit_of_work(db.engine) as session:
        notices = (await session.scalars(select(Notice).where(Notice.user_id == small.id))).all()
        assert [n.kind for n in notices] == ["waitlist_confirmed"]
        events = (await session.scalars(select(BookingEvent).where(BookingEvent.booking_id == queued_big.id))).all()
        assert [(e.to_status, e.reason) for e in events] == [("waitlisted", "waitlisted"), ("confirmed", "promoted")]


async def _account(db: Database, user_id: int) -> Account:
    async with unit_of_work(db.engine) as session:
        user = await session.get(User, user_id)
        assert user is not None
    return Account(user, "")


async def test_offers_expire_and_pass_to_the_next_in_line(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(kind="vitality_town")  # the town offers freed places for 24 hours
    trail = await make_space(venue, kind="trail", capacity=1, max_party=1)
    slot = await make_slot(trail, start=at(DAY, 10))
    now = at(DAY, 9) - timedelta(days=5)
    holder, first, second = await make_user(), await make_user(), await make_user()
    held = await book(db, holder, now, slot_id=slot.id)
    wait1 = await book(db, first, now, slot_id=slot.id, join_waitlist=True)
    wait2 = await book(db, second, now, slot_id=slot.id, join_waitlist=True)
    await cancel(db, holder, held.id, now)
    assert await status_of(db, wait1.id) == "offered"
    assert await slot_state(db, slot.id) == (1, 1)  # the offered place is held for them

    assert await jobs.expire_offers(db.engine, db.settings, now + timedelta(hours=23)) == 0
    assert await jobs.expire_offers(db.engine, db.settings, now + timedelta(hours=25)) == 1
    # A second run, or a second process, changes nothing.
    assert await jobs.expire_offers(db.engine, db.settings, now + timedelta(hours=25)) == 0
    assert await status_of(db, wait1.id) == "expired"
    assert await status_of(db, wait2.id) == "offered"
    with pytest.raises(OfferExpired):
        async with unit_of_work(db.engine) as session:
            await BookingService(session, now=now + timedelta(hours=26)).accept_offer(
                await user_of(session, first), wait1.id
            )
    async with unit_of_work(db.engine) as session:
        accepted = await BookingService(session, now=now + timedelta(hours=26)).accept_offer(
            await user_of(session, second), wait2.id
        )
        assert accepted.status == "confirmed"
    assert await slot_state(db, slot.id) == (1, 1)


async def test_third_no_show_in_ninety_days_suspends_booking(
    db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space()
    citizen = await make_user()
    days = [DAY, DAY + timedelta(days=20), DAY + timedelta(days=40)]
    bookings = []
    for day in days:
        slot = await make_slot(space, start=at(day, 14))
        bookings.append(await book(db, citizen, at(day, 9) - timedelta(days=1), slot_id=slot.id))
    # Within the grace period nothing happens; after it, the booking is a no-show (and the job is idempotent).
    assert await jobs.mark_no_shows(db.engine, db.settings, at(DAY, 14, 10)) == 0
    for day in days:
        assert await jobs.mark_no_shows(db.engine, db.settings, at(day, 14, 16)) == 1
        assert await jobs.mark_no_shows(db.engine, db.settings, at(day, 14, 16)) == 0
    assert [await status_of(db, b.id) for b in bookings] == ["no_show"] * 3
    next_slot = await make_slot(space, start=at(days[-1] + timedelta(days=3), 14))
    with pytest.raises(Suspended) as refused:
        await book(db, citizen, at(days[-1] + timedelta(days=2), 10), slot_id=next_slot.id)
    assert refused.value.params["suspended_until"] > at(days[-1] + timedelta(days=2), 10)
    # Thirty days after the third no-show, booking works again.
    later_slot = await make_slot(space, start=at(days[-1] + timedelta(days=35), 14))
    assert (await book(db, citizen, at(days[-1] + timedelta(days=33), 10), slot_id=later_slot.id)).status == "confirmed"


async def test_a_closure_cancels_the_bookings_it_hits_and_tells_each_person(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    hit = await make_slot(space, start=at(DAY, 14))
    spared = await make_slot(space, start=at(DAY + timedelta(days=1), 14))
    now = at(DAY, 9) - timedelta(days=3)
    a, b, c = await make_user(), await make_user(), await make_user()
    booked_a = await book(db, a, now, slot_id=hit.id)
    queued_b = await book(db, b, now, slot_id=hit.id)
    kept_c = await book(db, c, now, slot_id=spared.id)
    async with unit_of_work(db.engine) as session:
        data = ClosureCreate(start_date=DAY, end_date=DAY, reason="누수 보수 공사", reason_en="Leak repairs")
        await VenueService(session, closure_hooks=CLOSURE_HOOKS).add_closure(venue.id, data, created_by_id=None)
    assert await status_of(db, booked_a.id) == "cancelled"
    assert await status_of(db, queued_b.id) == "cancelled"
    assert await status_of(db, kept_c.id) == "confirmed"
    async with unit_of_work(db.engine) as session:
        slot = await session.get(Slot, hit.id)
        assert slot is not None
        assert slot.status == "closed"
        assert slot.taken == 0
        notices = (await session.scalars(select(Notice).order_by(Notice.user_id, Notice.id))).all()
        # Each booking was confirmed by a notice when it was made; both people hit are told.
        assert [(n.user_id, n.kind) for n in notices] == [
            (a.id, "booking_confirmed"),
            (a.id, "closure_cancelled"),
            (b.id, "booking_confirmed"),
            (b.id, "closure_cancelled"),
            (c.id, "booking_confirmed"),
        ]
        assert "누수 보수 공사" in notices[1].body
    with pytest.raises(Closed):
        await book(db, await make_user(), now, slot_id=hit.id)


async def test_stays_hold_each_night_once_and_checkout_day_can_be_the_next_check_in(
    db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    town = await make_venue(kind="vitality_town", opens_on_holidays=True)
    room = await make_space(town, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    now = at(DAY, 11) - timedelta(days=10)
    a, b, c = await make_user(), await make_user(), await make_user()
    first = await book(db, a, now, space_id=room.id, check_in=DAY, check_out=DAY + timedelta(days=2), party_size=4)
    assert first.status == "confirmed"
    assert first.starts_at == at(DAY, 15)
    assert first.ends_at == at(DAY + timedelta(days=2), 11)
    with pytest.raises(SoldOut):
        await book(db, b, now, space_id=room.id, check_in=DAY + timedelta(days=1), check_out=DAY + timedelta(days=3))
    follow = await book(
        db, b, now, space_id=room.id, check_in=DAY + timedelta(days=2), check_out=DAY + timedelta(days=3)
    )
    assert follow.status == "confirmed"
    with pytest.raises(Overlap):  # her own stay: an overlap, never a sold-out
        await book(db, a, now, space_id=room.id, check_in=DAY + timedelta(days=1), check_out=DAY + timedelta(days=2))
    await cancel(db, a, first.id, now + timedelta(days=1))
    again = await book(
        db, c, now + timedelta(days=1), space_id=room.id, check_in=DAY, check_out=DAY + timedelta(days=1)
    )
    assert again.status == "confirmed"
