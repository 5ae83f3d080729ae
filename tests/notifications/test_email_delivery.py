"""Notices carried by e-mail to a real SMTP server (aiosmtpd, in the test): each arrives once, in Korean then
English, with the booking's time in Seoul, the venue's address and a link; a server that refuses or drops
the connection is tried again with backoff and the message arrives once; two delivery runs at once, from
two engines, send each message once."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, time, timedelta

from sqlalchemy import select

from booking.reminders import send_reminders
from core.clock import kst, to_kst, today_kst, utcnow
from core.database import unit_of_work
from core.i18n import msg
from notifications.delivery import INTERRUPTED, LEASE, Delivery
from notifications.jobs import deliver_notifications
from notifications.models import Notice, OutboxMessage
from notifications.outbox import notify
from tests.booking.conftest import Client, book
from tests.conftest import Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.notifications.conftest import SmtpServer, mail_settings, text_of

ADDRESS = "서울특별시 강북구 오패산로 3길 10"
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
KST_LINE = re.compile(r"일시: (\d{4}-\d\d-\d\d) \((.)\) (\d\d:\d\d) \(한국 시간\)")


async def rows(db: Database) -> list[OutboxMessage]:
    async with unit_of_work(db.engine) as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_a_confirmed_booking_arrives_once_in_korean_then_english_with_its_kst_time_and_address(
    client: Client,
    db: Database,
    smtp: SmtpServer,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:
    venue = await make_venue(name="활력+행복타운", name_en="Vitality+Happiness Town", address=ADDRESS)
    slot = await make_slot(await make_space(venue), start=in_days(3, time(14, 30)))
    citizen = await make_user(name="박중년")
    booked = await book(client, citizen.headers, slot_id=slot.id)
    assert booked.status_code == 201, booked.text
    booking_id = booked.json()["id"]
    settings = mail_settings(db, smtp)

    assert await deliver_notifications(db.engine, settings) == 1
    assert await deliver_notifications(db.engine, settings) == 0  # run again: nothing more
    [message] = smtp.inbox.messages
    assert message["To"] == citizen.user.email
    assert message["Subject"] == "[서울런 4050] 예약이 확정되었습니다 / Your booking is confirmed"
    assert re.fullmatch(r"<outbox\.\d+\.notice\.\d+@seoulrun4050\.example>", message["Message-ID"])
    text = text_of(message)
    korean, english = text.split("―" * 24)
    assert korean.strip().startswith("박중년님, 안녕하세요.")
    when = to_kst(slot.starts_at)
    weekday = "월화수목금토일"[when.weekday()]
    assert KST_LINE.search(korean) is not None
    assert f"일시: {when:%Y-%m-%d} ({weekday}) 14:30 (한국 시간)" in korean  # Seoul time, not UTC's 05:30
    assert f"장소: 활력+행복타운, {ADDRESS}" in korean
    assert f"예약 확인: http://testserver/me/bookings/{booking_id}" in korean
    assert english.strip().startswith("Dear 박중년,")
    assert f"When: {WEEKDAYS_EN[when.weekday()]} {when:%Y-%m-%d} 14:30 (KST, Seoul time)" in english
    assert f"Where: Vitality+Happiness Town, {ADDRESS}" in english
    assert f"Your booking: http://testserver/me/bookings/{booking_id}" in english
    [row] = await rows(db)
    assert (row.status, row.attempts, row.channel) == ("sent", 1, "email")
    # The notice is in the list as before, whichever channels carried it.
    notices = (await client.get("/api/me/notices", headers=citizen.headers)).json()
    assert [(n["kind"], n["booking_id"]) for n in notices["items"]] == [("booking_confirmed", booking_id)]


async def test_a_closure_cancellation_reaches_each_person_once_with_the_reason(
    client: Client,
    db: Database,
    smtp: SmtpServer,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:
    venue = await make_venue(address=ADDRESS)
    slot = await make_slot(await make_space(venue), start=in_days(4, time(10)))
    manager = await make_user(role="manager", venues=[venue])
    first, second = await make_user(), await make_user()
    for citizen in (first, second):
        assert (await book(client, citizen.headers, slot_id=slot.id)).status_code == 201
    day = f"{to_kst(slot.starts_at):%Y-%m-%d}"
    closure = {"start_date": day, "end_date": day, "reason": "정전 점검", "reason_en": "Power maintenance"}
    assert (
        await client.post(f"/api/venues/{venue.id}/closures", json=closure, headers=manager.headers)
    ).status_code == 201
    settings = mail_settings(db, smtp)
    assert await deliver_notifications(db.engine, settings) == 4
    assert await deliver_notifications(db.engine, settings) == 0
    for citizen in (first, second):
        subjects = [m["Subject"] for m in smtp.inbox.to(citizen.user.email)]
        assert sorted(subjects) == [
            "[서울런 4050] 예약이 확정되었습니다 / Your booking is confirmed",
            "[서울런 4050] 휴관으로 예약이 취소되었습니다 / Your booking was cancelled: the venue is closed",
        ]
        [cancelled] = [m for m in smtp.inbox.to(citizen.user.email) if "취소" in m["Subject"]]
        text = text_of(cancelled)
        assert f"{day} 10:00 예약이 취소되었습니다. 사유: 정전 점검" in text
        assert "Reason: Power maintenance" in text
        assert f"({'월화수목금토일'[to_kst(slot.starts_at).weekday()]}) 10:00 (한국 시간)" in text
        assert ADDRESS in text


async def test_reminders_go_at_18_kst_for_the_next_days_bookings_once_however_often_the_job_runs(
    client: Client,
    db: Database,
    smtp: SmtpServer,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:
    venue = await make_venue(address=ADDRESS)
    space = await make_space(venue)
    tomorrow = await make_slot(space, start=in_days(1, time(9, 0)))
    later = await make_slot(space, start=in_days(2, time(9, 0)))
    citizen, other, cancels = await make_user(), await make_user(), await make_user()
    reminded = (await book(client, citizen.headers, slot_id=tomorrow.id)).json()
    assert (await book(client, other.headers, slot_id=later.id)).status_code == 201
    dropped = (await book(client, cancels.headers, slot_id=tomorrow.id)).json()
    assert (await client.post(f"/api/bookings/{dropped['id']}/cancel", headers=cancels.headers)).status_code == 200
    settings = mail_settings(db, smtp)
    assert await deliver_notifications(db.engine, settings) == 3  # the three confirmations
    smtp.inbox.messages.clear()

    at = kst(today_kst(), time(18, 0))
    # Twice in a row, then twice at once from two engines (two processes): one reminder.
    assert await send_reminders(db.engine, settings, at) == 1
    assert await send_reminders(db.engine, settings, at) == 0
    engines = [db.new_engine(), db.new_engine()]
    try:
        raced = await asyncio.gather(*(send_reminders(e, settings, at + timedelta(minutes=1)) for e in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    assert raced == [0, 0]
    async with unit_of_work(db.engine) as session:
        reminders = (await session.scalars(select(Notice.booking_id).where(Notice.kind == "reminder"))).all()
    assert reminders == [reminded["id"]]

    deliver_at = max(at, utcnow()) + timedelta(seconds=1)
    assert await deliver_notifications(db.engine, settings, deliver_at) == 1
    [message] = smtp.inbox.messages
    assert message["To"] == citizen.user.email
    assert (
        message["Subject"]
        == "[서울런 4050] 내일 09:00 예약이 있습니다 / Reminder: your booking tomorrow at 09:00 (KST)"
    )
    text = text_of(message)
    when = to_kst(tomorrow.starts_at)
    assert f"일시: {when:%Y-%m-%d} ({'월화수목금토일'[when.weekday()]}) 09:00 (한국 시간)" in text
    assert ADDRESS in text
    assert f"http://testserver/me/bookings/{reminded['id']}" in text
    kinds_seen = [n["kind"] for n in (await client.get("/api/me/notices", headers=citizen.headers)).json()["items"]]
    assert kinds_seen == ["reminder", "booking_confirmed"]


async def _notices_for(db: Database, user_id: int, count: int, now: datetime | None = None) -> None:
    async with unit_of_work(db.engine) as session:
        for n in range(count):
            until = to_kst(utcnow()) + timedelta(days=n + 1)
            await notify(session, user_id, "suspended", msg("notice.suspended.title", suspended_until=until), now=now)


async def test_a_refusing_server_is_tried_again_with_backoff_and_the_message_arrives_once(
    db: Database, smtp_down: SmtpServer, make_user: MakeUser
) -> None:
    citizen = await make_user()
    start = utcnow()
    await _notices_for(db, citizen.id, 1, start)
    settings = mail_settings(db, smtp_down, notify_backoff_seconds=30)
    # Nobody listens: the connection is refused, twice, with the waits doubling.
    assert await deliver_notifications(db.engine, settings, start) == 0
    [row] = await rows(db)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == start + timedelta(seconds=30)
    assert "refused" in row.last_error.lower() or "connect" in row.last_error.lower()
    assert await deliver_notifications(db.engine, settings, start + timedelta(seconds=29)) == 0  # not yet due
    assert (await rows(db))[0].attempts == 1
    assert await deliver_notifications(db.engine, settings, start + timedelta(seconds=30)) == 0
    [row] = await rows(db)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 2, start + timedelta(seconds=90))
    # The server comes back: the message arrives, once.
    smtp_down.start()
    assert await deliver_notifications(db.engine, settings, start + timedelta(seconds=90)) == 1
    assert await deliver_notifications(db.engine, settings, start + timedelta(hours=2)) == 0
    assert len(smtp_down.inbox.messages) == 1
    [row] = await rows(db)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")


async def test_a_server_that_drops_the_connection_or_says_try_later_gets_the_message_once_in_the_end(
    db: Database, smtp: SmtpServer, make_user: MakeUser
) -> None:
    citizen = await make_user()
    start = utcnow()
    await _notices_for(db, citizen.id, 1, start)
    settings = mail_settings(db, smtp, notify_backoff_seconds=10)
    smtp.inbox.drop, smtp.inbox.refuse = 1, 1
    assert await deliver_notifications(db.engine, settings, start) == 0  # the connection drops at DATA
    assert "Disconnected" in (await rows(db))[0].last_error
    assert await deliver_notifications(db.engine, settings, start + timedelta(seconds=10)) == 0  # 451
    assert "451" in (await rows(db))[0].last_error
    assert await deliver_notifications(db.engine, settings, start + timedelta(seconds=30)) == 1
    assert await deliver_notifications(db.engine, settings, start + timedelta(hours=1)) == 0
    assert len(smtp.inbox.messages) == 1
    [row] = await rows(db)
    assert (row.status, row.attempts) == ("sent", 3)


async def test_after_the_last_try_or_a_permanent_refusal_a_message_is_failed_and_sent_no_more(
    db: Database, smtp: SmtpServer, make_user: MakeUser
) -> None:
    citizen = await make_user()
    start = utcnow()
    await _notices_for(db, citizen.id, 1, start)
    settings = mail_settings(db, smtp, notify_backoff_seconds=1, notify_max_attempts=3)
    smtp.inbox.refuse = 10
    for second in (0, 1, 3):
        assert await deliver_notifications(db.engine, settings, start + timedelta(seconds=second)) == 0
    [row] = await rows(db)
    assert (row.status, row.attempts) == ("failed", 3)
    assert await deliver_notifications(db.engine, settings, start + timedelta(days=1)) == 0
    assert smtp.inbox.messages == []
    # 550 for the recipient: permanent, failed at the first try.
    smtp.inbox.refuse, smtp.inbox.reject_recipients = 0, True
    await _notices_for(db, citizen.id, 1, start)
    assert await deliver_notifications(db.engine, settings, start + timedelta(days=1)) == 0
    second_row = (await rows(db))[1]
    assert (second_row.status, second_row.attempts) == ("failed", 1)
    assert "550" in second_row.last_error


async def test_two_delivery_runs_at_once_from_two_engines_send_each_message_once(
    db: Database, smtp: SmtpServer, make_user: MakeUser
) -> None:
    citizens = [await make_user() for _ in range(4)]
    for citizen in citizens:
        await _notices_for(db, citizen.id, 6)
    settings = mail_settings(db, smtp)
    smtp.inbox.delay = 0.01  # each send takes a moment, so that the two runs overlap throughout
    engines = [db.new_engine(), db.new_engine()]
    workers = [Delivery(engine, settings, worker=f"worker-{n}") for n, engine in enumerate(engines)]
    try:
        sent = await asyncio.gather(*(w.run() for w in workers))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sum(sent) == 24
    assert all(s > 0 for s in sent), sent  # both runs really delivered, side by side
    ids = [m["Message-ID"] for m in smtp.inbox.messages]
    assert len(ids) == 24
    assert len(set(ids)) == 24  # no message twice
    assert {r.status for r in await rows(db)} == {"sent"}


async def test_a_worker_that_dies_while_sending_leaves_a_failed_row_to_check_never_a_duplicate(
    client: Client, db: Database, smtp: SmtpServer, make_user: MakeUser
) -> None:
    citizen = await make_user()
    admin = await make_user(role="admin")
    start = utcnow()
    await _notices_for(db, citizen.id, 1, start)
    settings = mail_settings(db, smtp)
    # A worker claims the message and stops before its outcome is written (a crash after the claim).
    gone = Delivery(db.engine, settings, worker="gone", now=start)
    assert await gone.claim() is not None
    # Within the lease nobody else touches it; after it, it is failed as interrupted, and not sent.
    assert await deliver_notifications(db.engine, settings, start + LEASE - timedelta(seconds=1)) == 0
    assert (await rows(db))[0].status == "sending"
    assert await deliver_notifications(db.engine, settings, start + LEASE + timedelta(seconds=1)) == 0
    [row] = await rows(db)
    assert (row.status, row.last_error) == ("failed", INTERRUPTED)
    assert smtp.inbox.messages == []
    # An administrator sees it, checks, and sends it again: it arrives once.
    failed = (await client.get("/api/notifications/outbox", params={"status": "failed"}, headers=admin.headers)).json()
    assert [(m["id"], m["kind"], m["channel"], m["address"]) for m in failed["items"]] == [
        (row.id, "suspended", "email", citizen.user.email)
    ]
    retried = await client.post(f"/api/notifications/outbox/{row.id}/retry", headers=admin.headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"
    assert await deliver_notifications(db.engine, settings) == 1
    assert len(smtp.inbox.messages) == 1
