"""A citizen's own pages through HTTP: my bookings (status, cancel with its deadline, an offer to accept,
pages), a booking's QR code for the session cookie (owner only, and the code the door reads), calendar
subscription (webcal and the link that serves the calendar), notices and their channels."""

from __future__ import annotations

import io
import re
from datetime import time, timedelta

import zxingcpp
from PIL import Image
from sqlalchemy import select

from booking.models import Booking
from core.clock import KST
from core.database import unit_of_work
from tests.conftest import Account, Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.web.conftest import HTML, Client, post_form, text_of
from web.auth import SESSION_COOKIE


def sign_in(client: Client, account: Account) -> None:
    client.cookies.set(SESSION_COOKIE, account.token)


async def book(client: Client, slot_id: int, **extra: str) -> int:
    response = await post_form(client, f"/book/slot/{slot_id}", {"party_size": "1", **extra})
    assert response.status_code == 303, text_of(response.text)[-600:]
    return int(response.headers["location"].rsplit("/", 1)[1])


async def status_of(db: Database, booking_id: int) -> str:
    async with unit_of_work(db.engine) as s:
        return str(await s.scalar(select(Booking.status).where(Booking.id == booking_id)))


async def test_my_bookings_show_status_and_the_cancellation_deadline_and_page(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(rules={"weekly_quota": 30})
    space = await make_space(venue)
    slots = [await make_slot(space, in_days(2 + d // 3, time(10 + d % 3))) for d in range(5)]
    citizen = await make_user()
    sign_in(client, citizen)
    ids = [await book(client, s.id) for s in slots]
    page = await client.get("/me/bookings?limit=3", headers=HTML)
    text = text_of(page.text)
    assert "예약 5건" in text
    assert text.count("예약 확정") >= 3
    deadline = (slots[0].starts_at - timedelta(hours=24)).astimezone(KST)
    assert f"{deadline:%H:%M} (KST)까지 무료로 취소할 수 있습니다" in text
    assert f'href="/me/bookings/{ids[0]}/cancel"' in page.text
    assert 'rel="next"' in page.text
    second = await client.get("/me/bookings?limit=3&offset=3", headers=HTML)
    listed = {int(i) for i in re.findall(r'href="/me/bookings/(\d+)"', page.text + second.text)}
    assert listed == set(ids)
    # Someone else's booking does not exist for this citizen.
    other = await make_user()
    sign_in(client, other)
    assert (await client.get(f"/me/bookings/{ids[0]}", headers=HTML)).status_code == 404
    assert "예약이 없습니다" in text_of((await client.get("/me/bookings", headers=HTML)).text)


async def test_the_qr_code_is_served_to_its_owner_and_scans_to_the_bookings_code(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot = await make_slot(await make_space())
    citizen = await make_user()
    sign_in(client, citizen)
    booking_id = await book(client, slot.id)
    page = await client.get(f"/me/bookings/{booking_id}", headers=HTML)
    assert f'src="/me/bookings/{booking_id}/qr.png"' in page.text
    assert re.search(r'<img class="qr"[^>]*width="320"[^>]*alt="[^"]+"', page.text)
    png = await client.get(f"/me/bookings/{booking_id}/qr.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert "no-store" in png.headers["cache-control"]
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    code = (await client.get(f"/api/bookings/{booking_id}/qr", headers=citizen.headers)).json()["payload"]
    assert decoded.text == code.upper()  # the very code the door's scanner checks
    svg = await client.get(f"/me/bookings/{booking_id}/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    sign_in(client, await make_user())
    assert (await client.get(f"/me/bookings/{booking_id}/qr.png")).status_code == 404
    client.cookies.clear()
    assert (await client.get(f"/me/bookings/{booking_id}/qr.png", follow_redirects=False)).status_code == 303


async def test_cancel_asks_first_then_cancels_and_a_late_one_is_refused_in_words(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot = await make_slot(await make_space())
    citizen = await make_user()
    sign_in(client, citizen)
    booking_id = await book(client, slot.id)
    ask = text_of((await client.get(f"/me/bookings/{booking_id}/cancel", headers=HTML)).text)
    assert "예약을 취소할까요?" in ask
    assert "지금 취소하면 무료 취소입니다" in ask  # two days ahead, the deadline is 24 hours before
    done = await post_form(client, f"/me/bookings/{booking_id}/cancel", {}, page=f"/me/bookings/{booking_id}/cancel")
    assert done.status_code == 303
    assert await status_of(db, booking_id) == "cancelled"
    assert "예약을 취소했습니다" in text_of((await client.get(done.headers["location"], headers=HTML)).text)

    strict = await make_venue(rules={"late_cancel_allowed": False, "cancel_deadline_hours": 72})
    late = await make_slot(await make_space(strict))
    late_id = await book(client, late.id)
    refused = await post_form(client, f"/me/bookings/{late_id}/cancel", {}, page=f"/me/bookings/{late_id}/cancel")
    assert refused.status_code == 422
    assert "까지 취소할 수 있었습니다" in text_of(refused.text)
    assert await status_of(db, late_id) == "confirmed"


async def test_an_offer_from_the_waitlist_is_accepted_before_it_expires(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(rules={"waitlist_offer_minutes": 120, "cancel_deadline_hours": 1})
    slot = await make_slot(await make_space(venue, shape="exclusive", capacity=1, max_party=1))
    first, second = await make_user(), await make_user()
    sign_in(client, first)
    first_id = await book(client, slot.id)
    sign_in(client, second)
    waiting_id = await book(client, slot.id, join_waitlist="1")
    assert await status_of(db, waiting_id) == "waitlisted"
    sign_in(client, first)
    await post_form(client, f"/me/bookings/{first_id}/cancel", {}, page=f"/me/bookings/{first_id}/cancel")
    assert await status_of(db, waiting_id) == "offered"
    sign_in(client, second)
    page = await client.get("/me/bookings", headers=HTML)
    assert "대기하던 자리가 났습니다" in text_of(page.text)
    assert f'action="/me/bookings/{waiting_id}/accept"' in page.text
    accepted = await post_form(client, f"/me/bookings/{waiting_id}/accept", {}, page="/me/bookings")
    assert accepted.status_code == 303
    assert await status_of(db, waiting_id) == "confirmed"
    assert "자리를 받았습니다" in text_of((await client.get(accepted.headers["location"], headers=HTML)).text)


async def test_subscribe_in_my_calendar_gives_a_webcal_link_and_a_feed_of_my_bookings(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot = await make_slot(await make_space())
    sign_in(client, await make_user())
    booking_id = await book(client, slot.id)
    assert "아직 구독이 없습니다" in text_of((await client.get("/me/calendar", headers=HTML)).text)
    created = await post_form(client, "/me/calendar", {})
    assert created.status_code == 201
    [webcal] = re.findall(r'href="(webcal://[^"]+)"', created.text)
    [url] = re.findall(r'id="feed-url"[^>]*value="([^"]+)"', created.text)
    assert webcal.split("://", 1)[1] == url.split("://", 1)[1]
    feed = await client.get(url.removeprefix("http://testserver"))
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    assert f"UID:booking-{booking_id}@" in feed.text
    listed = await client.get("/me/calendar", headers=HTML)
    assert url not in listed.text  # the secret is shown once
    [feed_id] = re.findall(r'action="/me/calendar/(\d+)/revoke"', listed.text)
    revoked = await post_form(client, f"/me/calendar/{feed_id}/revoke", {}, page="/me/calendar")
    assert revoked.status_code == 303
    assert (await client.get(url.removeprefix("http://testserver"))).status_code == 404


async def test_notices_are_listed_marked_read_and_their_channels_chosen(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot = await make_slot(await make_space())
    citizen = await make_user()
    sign_in(client, citizen)
    await book(client, slot.id)
    page = await client.get("/me/notices", headers=HTML)
    text = text_of(page.text)
    assert "알림 1건" in text
    assert "새 알림" in text
    [notice_id] = re.findall(r'action="/me/notices/(\d+)/read"', page.text)
    read = await post_form(client, f"/me/notices/{notice_id}/read", {}, page="/me/notices")
    assert read.status_code == 303
    assert f'action="/me/notices/{notice_id}/read"' not in (await client.get("/me/notices", headers=HTML)).text
    refused = await post_form(client, "/me/notices/preferences", {"email": "1", "sms": "1"}, page="/me/notices")
    assert refused.status_code == 422  # no phone number on the account
    assert 'href="#f-sms"' in refused.text
    saved = await post_form(client, "/me/notices/preferences", {"sms": ""}, page="/me/notices")
    assert saved.status_code == 303
    prefs = (await client.get("/api/me/notification-preferences", headers=citizen.headers)).json()
    assert prefs == {"email": False, "sms": False}
