"""Booking on the web through HTTP: the rules shown before the button (the standing service's figures),
a booking and its confirmation, and each refusal in words with its next step: sold out → the waitlist,
window not open → when it opens, quota → the bookings that count, suspended → until when. Then a whole
course and a lottery application from the programme page."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from sqlalchemy import select

from booking.models import Booking
from core.clock import KST, utcnow
from core.database import unit_of_work
from programs.models import Application
from tests.booking.conftest import switch_off_overlap_rule
from tests.conftest import Account, Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.programs.conftest import MakeProgram
from tests.web.conftest import HTML, Client, post_form, text_of
from venues.models import Slot
from web.auth import SESSION_COOKIE


def sign_in(client: Client, account: Account) -> None:
    client.cookies.set(SESSION_COOKIE, account.token)


async def bookings_of(db: Database, account: Account) -> list[Booking]:
    async with unit_of_work(db.engine) as s:
        return list((await s.scalars(select(Booking).where(Booking.user_id == account.id).order_by(Booking.id))).all())


async def test_anonymous_visitors_log_in_first(client: Client, make_space: MakeSpace, make_slot: MakeSlot) -> None:
    slot = await make_slot(await make_space())
    response = await client.get(f"/book/slot/{slot.id}", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=%2Fbook%2Fslot%2F{slot.id}"


async def test_the_rules_come_before_the_button_then_the_booking_is_confirmed(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(kind="vitality_town")
    room = await make_space(venue, kind="meditation_room", shape="exclusive", capacity=4, max_party=4)
    earlier = await make_slot(room, in_days(2, time(10)))
    slot = await make_slot(room, in_days(2, time(14)))
    citizen = await make_user()
    sign_in(client, citizen)
    first = await post_form(client, f"/book/slot/{earlier.id}", {"party_size": "1"})
    assert first.status_code == 303
    page = await client.get(f"/book/slot/{slot.id}", headers=HTML)
    assert page.status_code == 200
    text = text_of(page.text)
    # The standing service's figures: the town's weekly quota of 3 with the one booking that counts, the
    # cancellation deadline 72 hours before, and the no-show rule with this person's own count.
    assert "3건 중 1건 사용" in text
    assert f'href="/me/bookings/{(await bookings_of(db, citizen))[0].id}"' in page.text
    deadline = in_days(2, time(14)) - timedelta(hours=72)
    assert "까지 무료로 취소할 수 있습니다" in text
    assert f"{deadline.astimezone(KST):%H:%M}" in text
    assert "내 노쇼: 0번" in text
    assert text.index("예약 전에 알아 두세요") < text.index("예약하기", text.index("예약 전에 알아 두세요"))
    assert re.search(r'<input[^>]*id="f-party_size"', page.text)  # a room for up to 4

    response = await post_form(client, f"/book/slot/{slot.id}", {"party_size": "3"})
    assert response.status_code == 303
    [_, booking] = await bookings_of(db, citizen)
    assert booking.status == "confirmed"
    assert booking.party_size == 3
    assert response.headers["location"] == f"/me/bookings/{booking.id}"
    confirmation = text_of((await client.get(response.headers["location"], headers=HTML)).text)
    assert "예약이 확정되었습니다" in confirmation
    assert "3명" in confirmation


async def test_a_party_too_big_is_said_at_its_field(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(shape="exclusive", capacity=2, max_party=2)
    slot = await make_slot(space)
    sign_in(client, await make_user())
    for party, expected in (("abc", "인원은 1 이상의 숫자로"), ("5", "2")):
        response = await post_form(client, f"/book/slot/{slot.id}", {"party_size": party})
        assert response.status_code == 422
        assert 'href="#f-party_size"' in response.text
        assert re.search(r'<input[^>]*id="f-party_size"[^>]*aria-invalid="true"', response.text)
        assert expected in text_of(response.text)


async def test_sold_out_offers_the_waitlist(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(shape="exclusive", capacity=1, max_party=1)
    slot = await make_slot(space)
    first, second = await make_user(), await make_user()
    sign_in(client, first)
    assert (await post_form(client, f"/book/slot/{slot.id}", {"party_size": "1"})).status_code == 303
    sign_in(client, second)
    page = await client.get(f"/book/slot/{slot.id}", headers=HTML)
    assert "남은 자리 없음" in text_of(page.text)
    assert 'name="join_waitlist" value="1"' in page.text  # full already: the button is the waitlist's
    refused = await post_form(client, f"/book/slot/{slot.id}", {"party_size": "1"})  # a race: sold out meanwhile
    assert refused.status_code == 422
    text = text_of(refused.text)
    assert "남은 자리가 없습니다" in text or "남은 자리: 0" in text
    assert "이렇게 해 보세요" in text
    assert "대기자 명단에 올리기" in text
    joined = await post_form(client, f"/book/slot/{slot.id}", {"party_size": "1", "join_waitlist": "1"})
    assert joined.status_code == 303
    [booking] = await bookings_of(db, second)
    assert booking.status == "waitlisted"
    page = text_of((await client.get(joined.headers["location"], headers=HTML)).text)
    assert "대기자 명단에 올랐습니다: 1번째" in page


async def test_a_refusal_by_the_databases_constraint_is_shown_on_the_form(
    client: Client,
    db: Database,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refusal that comes from a failed INSERT (one booking per citizen and slot, reached here with the
    rule that answers first switched off) is rolled back to the form's savepoint: the page says it, the
    request's transaction goes on, and the place is not kept."""
    space = await make_space(capacity=3)
    slot = await make_slot(space)
    citizen = await make_user()
    sign_in(client, citizen)
    assert (await post_form(client, f"/book/slot/{slot.id}", {"party_size": "1"})).status_code == 303

    switch_off_overlap_rule(monkeypatch)
    refused = await post_form(client, f"/book/slot/{slot.id}", {"party_size": "1"})
    assert refused.status_code == 422
    assert "이미 예약" in text_of(refused.text)
    assert [b.status for b in await bookings_of(db, citizen)] == ["confirmed"]
    async with unit_of_work(db.engine) as s:
        assert await s.scalar(select(Slot.taken).where(Slot.id == slot.id)) == 1


async def test_a_window_not_open_says_when_it_opens(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot = await make_slot(await make_space(), in_days(40))  # practice sites open 14 days ahead at 10:00
    sign_in(client, await make_user())
    refused = await post_form(client, f"/book/slot/{slot.id}", {"party_size": "1"})
    assert refused.status_code == 422
    opens = (in_days(26, time(10))).astimezone(KST)
    text = text_of(refused.text)
    assert f"{opens:%Y-%m-%d %H:%M} 부터 예약할 수 있습니다" in text  # the domain's words
    assert "(KST)부터 할 수 있습니다. 그때 다시 와 주세요" in text  # and the next step


async def test_a_used_quota_lists_the_bookings_that_count(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(rules={"weekly_quota": 1})
    space = await make_space(venue)
    one, two = await make_slot(space, in_days(2, time(10))), await make_slot(space, in_days(2, time(15)))
    citizen = await make_user()
    sign_in(client, citizen)
    assert (await post_form(client, f"/book/slot/{one.id}", {"party_size": "1"})).status_code == 303
    [counted] = await bookings_of(db, citizen)
    refused = await post_form(client, f"/book/slot/{two.id}", {"party_size": "1"})
    assert refused.status_code == 422
    text = text_of(refused.text)
    assert "예약 한도 1건을 모두 사용했습니다" in text
    assert "이 중 하나를 취소하면 예약할 수 있습니다" in text
    next_step = refused.text[refused.text.index("next-step") :]
    assert f'href="/me/bookings/{counted.id}"' in next_step[: next_step.index("</section>")]
    assert len(await bookings_of(db, citizen)) == 1  # nothing was written by the refused attempt


async def test_a_suspended_citizen_is_told_until_when(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot = await make_slot(await make_space())
    until = utcnow() + timedelta(days=9)
    sign_in(client, await make_user(suspended_until=until))
    page = text_of((await client.get(f"/book/slot/{slot.id}", headers=HTML)).text)
    assert "까지 예약할 수 없습니다" in page  # said before the button already
    refused = await post_form(client, f"/book/slot/{slot.id}", {"party_size": "1"})
    assert refused.status_code == 422
    kst_until = until.astimezone(KST)
    assert f"{kst_until:%Y-%m-%d %H:%M} 까지 예약할 수 없습니다" in text_of(refused.text)
    assert "그 뒤에 다시 예약해 주세요" in text_of(refused.text)


async def test_a_course_is_enrolled_whole_and_a_lottery_applied_to(
    client: Client,
    db: Database,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_program: MakeProgram,
    make_user: MakeUser,
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=30)
    now = utcnow()
    course = await make_program(venue.id, space.id, enrolment="course", rrule="FREQ=WEEKLY;COUNT=3")
    lottery = await make_program(
        venue.id,
        space.id,
        allocation="lottery",
        enrolment="course",
        rrule="FREQ=WEEKLY;COUNT=2",
        first_start=now + timedelta(days=3),
    )
    citizen = await make_user()
    sign_in(client, citizen)
    page = (await client.get(f"/programs/{course.id}", headers=HTML)).text
    assert f'href="/programs/{course.id}/enrol"' in page
    form = text_of((await client.get(f"/programs/{course.id}/enrol", headers=HTML)).text)
    assert "남은 회차 3개" in form
    assert "예약 전에 알아 두세요" in form
    enrolled = await post_form(client, f"/programs/{course.id}/enrol", {"party_size": "1"})
    assert enrolled.status_code == 303
    bookings = await bookings_of(db, citizen)
    assert [b.status for b in bookings] == ["confirmed"] * 3
    assert "3회차 모두 예약되었습니다" in text_of((await client.get(enrolled.headers["location"], headers=HTML)).text)
    # A session of a course is not booked on its own: the refusal points to the programme's page.
    refused = await post_form(client, f"/book/slot/{bookings[0].slot_id}", {"party_size": "1"})
    assert refused.status_code == 422

    assert f'href="/programs/{lottery.id}/apply"' in (await client.get(f"/programs/{lottery.id}", headers=HTML)).text
    applied = await post_form(client, f"/programs/{lottery.id}/apply", {"party_size": "1"})
    assert applied.status_code == 303
    assert applied.headers["location"] == f"/programs/{lottery.id}"
    after = text_of((await client.get(f"/programs/{lottery.id}", headers=HTML)).text)
    assert "추첨 신청이 접수되었습니다" in after
    assert "신청 완료 (추첨 전)" in after
    again = await post_form(client, f"/programs/{lottery.id}/apply", {"party_size": "1"})
    assert again.status_code == 422
    assert "이미 신청하셨습니다" in text_of(again.text)
    async with unit_of_work(db.engine) as s:
        applications = (await s.scalars(select(Application).where(Application.user_id == citizen.id))).all()
    assert len(applications) == 1
