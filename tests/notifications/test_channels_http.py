"""How notices reach people: the channels they choose (e-mail by default, SMS with a phone), an SMS
gateway plugged in as a city's would be, walk-in guests told nothing, one confirmation per way in, the
end of a suspension told once, and the outbox for administrators only."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta

from sqlalchemy import func, select

from accounts.models import User
from core.clock import to_kst, utcnow
from core.database import unit_of_work
from notifications.jobs import deliver_notifications, end_suspensions
from notifications.models import Notice, OutboxMessage
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client, book
from tests.conftest import Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.notifications.conftest import SMS_GATEWAY, SmtpServer, mail_settings, text_of

PREFS = "/api/me/notification-preferences"


async def outbox_count(db: Database) -> int:
    async with unit_of_work(db.engine) as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_citizens_choose_their_channels_and_the_notice_list_keeps_everything(
    client: Client,
    db: Database,
    smtp: SmtpServer,
    sms_sent: list[tuple[str, str, str]],
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:
    space = await make_space(await make_venue(name="서울시 50플러스 중부캠퍼스", name_en="50 Plus Central Campus"))
    quiet = await make_user()
    texted = await make_user(phone="010-2345-6789")
    assert (await client.get(PREFS, headers=quiet.headers)).json() == {"email": True, "sms": False}
    # SMS needs a phone number on the account.
    refused = assert_problem(
        await client.put(PREFS, json={"email": True, "sms": True}, headers=quiet.headers), 400, "validation_error"
    )
    assert [e["field"] for e in refused["errors"]] == ["sms"]
    assert_problem(await client.put(PREFS, json={"email": True}, headers=quiet.headers), 400, "validation_error")
    assert_problem(await client.get(PREFS), 401, "unauthenticated")
    off = await client.put(PREFS, json={"email": False, "sms": False}, headers=quiet.headers)
    assert off.json() == {"email": False, "sms": False}
    assert (await client.get(PREFS, headers=quiet.headers)).json() == {"email": False, "sms": False}
    both = await client.put(PREFS, json={"email": True, "sms": True}, headers=texted.headers)
    assert both.json() == {"email": True, "sms": True}

    slot = await make_slot(space, start=in_days(3, time(11)))
    assert (await book(client, quiet.headers, slot_id=slot.id)).status_code == 201
    texted_booking = (await book(client, texted.headers, slot_id=slot.id)).json()
    settings = mail_settings(db, smtp, sms_gateway=SMS_GATEWAY)
    assert await deliver_notifications(db.engine, settings) == 2  # texted's e-mail and SMS; quiet's none
    assert [m["To"] for m in smtp.inbox.messages] == [texted.user.email]
    [(phone, text, key)] = sms_sent
    assert phone == "010-2345-6789"
    assert text.startswith("[서울런 4050] 예약이 확정되었습니다\n")
    assert "11:00 서울시 50플러스 중부캠퍼스" in text
    assert "11:00 KST, 50 Plus Central Campus" in text
    assert text.endswith(f"http://testserver/me/bookings/{texted_booking['id']}")
    assert key.startswith("seoulrun-outbox-")
    # E-mail off, yet the notice is listed as ever.
    listed = (await client.get("/api/me/notices", headers=quiet.headers)).json()
    assert [n["kind"] for n in listed["items"]] == ["booking_confirmed"]
    assert set(listed["items"][0]) == {
        "id",
        "kind",
        "title",
        "title_en",
        "body",
        "body_en",
        "booking_id",
        "created_at",
        "read_at",
    }
    # Turned back on, the next notice goes by e-mail again.
    await client.put(PREFS, json={"email": True, "sms": False}, headers=quiet.headers)
    booking_id = listed["items"][0]["booking_id"]
    assert (await client.post(f"/api/bookings/{booking_id}/cancel", headers=quiet.headers)).status_code == 200
    assert await outbox_count(db) == 2  # a cancellation by the holder is not a notice


async def test_a_walk_in_guest_gets_nothing_and_a_course_one_confirmation(
    client: Client,
    db: Database,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:
    venue = await make_venue(hours=[(d, "00:00", "23:59") for d in range(7)])
    space = await make_space(venue, capacity=20)
    staff = await make_user(role="staff", venues=[venue])
    soon = await make_slot(space, start=utcnow().replace(microsecond=0) + timedelta(minutes=5))
    walk = await client.post(
        f"/api/checkin/venues/{venue.id}/walk-ins",
        json={"slot_id": soon.id, "name": "이현장", "party_size": 1, "phone": "010-0000-1111"},
        headers=staff.headers,
    )
    assert walk.status_code == 201, walk.text
    async with unit_of_work(db.engine) as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 0
    assert await outbox_count(db) == 0

    admin = await make_user(role="admin")
    now = utcnow()
    course = await client.post(
        "/api/programs",
        json={
            "venue_id": venue.id,
            "space_id": space.id,
            "title": "디지털 사진 기초",
            "title_en": "Digital photography basics",
            "kind": "course",
            "enrolment": "course",
            "capacity": 5,
            "registration_opens_at": (now - timedelta(hours=1)).isoformat(),
            "registration_closes_at": (now + timedelta(days=3)).isoformat(),
            "rrule": "FREQ=WEEKLY;COUNT=3",
            "first_start": in_days(5, time(19)).isoformat(),
            "duration_minutes": 90,
        },
        headers=admin.headers,
    )
    assert course.status_code == 201, course.text
    citizen = await make_user()
    enrolled = await client.post(
        f"/api/programs/{course.json()['id']}/enrol", json={"party_size": 1}, headers=citizen.headers
    )
    assert enrolled.status_code == 201, enrolled.text
    assert len(enrolled.json()["bookings"]) == 3
    notices = (await client.get("/api/me/notices", headers=citizen.headers)).json()["items"]
    assert [(n["kind"], n["title"]) for n in notices] == [
        ("booking_confirmed", "'디지털 사진 기초' 수강 신청이 완료되었습니다")
    ]
    assert notices[0]["body_en"].startswith("All 3 sessions are booked.")
    assert await outbox_count(db) == 1


async def test_the_end_of_a_suspension_is_told_once_even_by_two_runs_at_once(
    client: Client, db: Database, smtp: SmtpServer, make_user: MakeUser
) -> None:
    now = utcnow()
    ended, running = await make_user(), await make_user()
    async with unit_of_work(db.engine) as session:
        for account, until in ((ended, now - timedelta(minutes=5)), (running, now + timedelta(days=3))):
            user = await session.get(User, account.id)
            assert user is not None
            user.suspended_until = until
    engines = [db.new_engine(), db.new_engine()]
    try:
        raced = await asyncio.gather(*(end_suspensions(e, db.settings, now) for e in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(raced) == [0, 1]
    assert await end_suspensions(db.engine, db.settings, now + timedelta(minutes=10)) == 0
    async with unit_of_work(db.engine) as session:
        lifted = await session.get(User, ended.id)
        still = await session.get(User, running.id)
        assert lifted is not None
        assert still is not None
        assert lifted.suspended_until is None
        assert still.suspended_until is not None
    notices = (await client.get("/api/me/notices", headers=ended.headers)).json()["items"]
    assert [n["kind"] for n in notices] == ["suspension_ended"]
    assert (await client.get("/api/me/notices", headers=running.headers)).json()["total"] == 0
    assert await deliver_notifications(db.engine, mail_settings(db, smtp), now) == 1
    [message] = smtp.inbox.messages
    assert message["Subject"] == "[서울런 4050] 예약 정지가 끝났습니다 / Your booking suspension has ended"
    text = text_of(message)
    assert f"{to_kst(now - timedelta(minutes=5)):%Y-%m-%d %H:%M} 부터 다시 예약할 수 있습니다" in text
    assert "http://testserver/me/bookings" in text


async def test_only_administrators_see_the_outbox_and_only_failed_messages_are_retried(
    client: Client, db: Database, make_user: MakeUser, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot
) -> None:
    citizen, admin = await make_user(), await make_user(role="admin")
    slot = await make_slot(await make_space(await make_venue()))
    assert (await book(client, citizen.headers, slot_id=slot.id)).status_code == 201
    assert_problem(await client.get("/api/notifications/outbox", headers=citizen.headers), 403, "forbidden")
    page = (await client.get("/api/notifications/outbox", headers=admin.headers)).json()
    [row] = page["items"]
    assert (row["status"], row["kind"], row["address"]) == ("pending", "booking_confirmed", citizen.user.email)
    assert row["next_attempt_at"].endswith("+09:00")
    assert_problem(
        await client.post(f"/api/notifications/outbox/{row['id']}/retry", headers=citizen.headers), 403, "forbidden"
    )
    not_failed = await client.post(f"/api/notifications/outbox/{row['id']}/retry", headers=admin.headers)
    assert assert_problem(not_failed, 409, "invalid_transition")["delivery_status"] == "pending"
    assert_problem(await client.post("/api/notifications/outbox/999999/retry", headers=admin.headers), 404, "not_found")
    bad = await client.get("/api/notifications/outbox", params={"status": "lost"}, headers=admin.headers)
    assert_problem(bad, 400, "validation_error")
