"""The staff pages through HTTP, on both databases: my venues, the scanner without JavaScript (typed
code) and its session endpoints (scan, manifest, sync), and the venue's day with its actions: walk-in,
undo a check-in, check a stay out. Each action is checked by what the API says of the booking after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from accounts.models import User
from booking.models import Booking, BookingStatus
from booking.schemas import BookingCreate
from booking.services import BookingService
from checkin.services import CheckinService
from core.clock import day_bounds_utc, today_kst, utcnow
from core.database import unit_of_work
from tests.checkin.door import Door, code_of
from tests.conftest import PASSWORD, Account, Database, MakeSpace, MakeUser, MakeVenue
from tests.web.conftest import HTML, Client, csrf_token, post_form, text_of

HTMX = {**HTML, "HX-Request": "true", "HX-Target": "day"}


async def log_in(client: Client, account: Account) -> None:
    response = await post_form(client, "/login", {"email": account.user.email, "password": PASSWORD})
    assert response.status_code == 303, response.text


async def status_of(client: Client, staff: Account, booking_id: int) -> str:
    response = await client.get(f"/api/bookings/{booking_id}", headers=staff.headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def day_path(door: Door) -> str:
    return f"/staff/venues/{door.venue.id}/day"


async def test_staff_home_lists_only_their_venues_and_citizens_are_turned_away(
    client: Client, door: Door, make_venue: MakeVenue, make_user: MakeUser
) -> None:
    other = await make_venue(name="다른 장소", name_en="Another venue")
    await log_in(client, door.staff)
    page = await client.get("/staff", headers=HTML)
    assert page.status_code == 200
    assert door.venue.name in page.text
    assert other.name not in page.text
    assert f'href="/staff/scan?venue_id={door.venue.id}"' in page.text
    assert 'href="/staff"' in page.text  # the header's navigation has the staff entry
    # Another venue's scanner or day: the 403 page.
    assert (await client.get(f"/staff/scan?venue_id={other.id}", headers=HTML)).status_code == 403
    assert (await client.get(f"/staff/venues/{other.id}/day", headers=HTML)).status_code == 403

    citizen = await make_user()
    await client.post("/logout", data={"_csrf_token": await csrf_token(client, "/staff")}, headers=HTML)
    await log_in(client, citizen)
    assert (await client.get("/staff", headers=HTML)).status_code == 403
    assert (await client.get("/staff/scan", headers=HTML)).status_code == 403


async def test_the_typed_code_checks_in_once_without_javascript(
    client: Client, door: Door, make_user: MakeUser
) -> None:
    citizen = await make_user(name="김민수")
    booking = await door.booking(citizen, timedelta(minutes=10), party_size=2)
    code = await code_of(client, citizen, booking.id)
    await log_in(client, door.staff)
    page = await client.get("/staff/scan", headers=HTML)  # one venue: chosen without asking
    assert page.status_code == 200
    assert f'name="venue_id" value="{door.venue.id}"' in page.text

    spaced = " ".join(code[i : i + 8] for i in range(0, len(code), 8))  # copied with spaces
    first = await post_form(client, "/staff/scan", {"venue_id": door.venue.id, "payload": spaced}, page="/staff/scan")
    assert first.status_code == 200, first.text
    assert 'data-result="checked_in"' in first.text
    assert "scan-result--ok" in first.text
    words = text_of(first.text)
    assert "입장 가능" in words
    assert "입장 확인되었습니다" in words
    assert "Checked in" in words
    assert "김*수" in words
    assert "2명" in words
    assert "김민수" not in words  # the name is masked at the door

    again = await post_form(client, "/staff/scan", {"venue_id": door.venue.id, "payload": code}, page="/staff/scan")
    assert 'data-result="already_checked_in"' in again.text
    assert "scan-result--refused" in again.text
    assert await status_of(client, door.staff, booking.id) == "checked_in"

    empty = await post_form(client, "/staff/scan", {"venue_id": door.venue.id, "payload": ""}, page="/staff/scan")
    assert empty.status_code == 422
    assert "error-summary" in empty.text


async def test_the_scanner_endpoints_are_the_apis_for_the_pages_session(
    client: Client, door: Door, make_user: MakeUser
) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=5))
    code = await code_of(client, citizen, booking.id)
    await log_in(client, door.staff)
    token = await csrf_token(client, "/staff/scan")
    headers = {"x-csrftoken": token, "Accept": "application/json"}

    manifest = await client.get(f"/staff/checkin/venues/{door.venue.id}/manifest", headers=headers)
    assert manifest.status_code == 200, manifest.text
    assert [b["id"] for b in manifest.json()["bookings"]] == [booking.id]
    assert manifest.json()["keys"][0]["public_key"]

    # Without the CSRF header the session cannot be used from another site's form.
    body = {"venue_id": door.venue.id, "device_id": "door-1", "scans": [{"booking_id": booking.id}]}
    refused = await client.post("/staff/checkin/sync", json=body, headers={"Accept": "application/json"})
    assert refused.status_code == 403
    scanned_at = (utcnow() - timedelta(minutes=1)).isoformat()
    scans = [{"booking_id": booking.id, "scanned_at": scanned_at, "payload": code}]
    synced = await client.post("/staff/checkin/sync", json={**body, "scans": scans}, headers=headers)
    assert synced.status_code == 200, synced.text
    assert [i["result"] for i in synced.json()["items"]] == ["checked_in"]
    assert await status_of(client, door.staff, booking.id) == "checked_in"

    scan = await client.post("/staff/checkin/scan", json={"payload": code, "venue_id": door.venue.id}, headers=headers)
    assert scan.status_code == 200
    assert scan.json()["result"] == "already_checked_in"

    # The service worker is served at the scanner's folder, with what it keeps offline.
    worker = await client.get("/staff/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "const PRECACHE = [" in worker.text
    assert "scanner.js" in worker.text
    assert "jsQR.js" in worker.text


async def test_the_day_shows_who_is_booked_and_undoes_a_check_in(
    client: Client, door: Door, make_user: MakeUser
) -> None:
    arrived = await make_user(name="박도착")
    coming = await make_user(name="이예정")
    early = await door.booking(arrived, timedelta(minutes=10), party_size=3)
    await door.booking(coming, timedelta(minutes=20))
    await door.scan(client, await code_of(client, arrived, early.id))
    await log_in(client, door.staff)

    page = await client.get(day_path(door), headers=HTML)
    assert page.status_code == 200
    words = text_of(page.text)
    assert "박*착" in words
    assert "이*정" in words
    assert "박도착" not in words
    assert "입장 1/2건 · 3/4명" in words
    undo_action = f"/staff/venues/{door.venue.id}/bookings/{early.id}/undo-check-in"
    assert f'action="{undo_action}"' in page.text

    # Without JavaScript: a redirect back to the day, with a notice.
    today = today_kst().isoformat()
    response = await post_form(client, undo_action, {"date": today}, page=day_path(door))
    assert response.status_code == 303
    assert response.headers["location"] == f"{day_path(door)}?date={today}"
    assert await status_of(client, door.staff, early.id) == "confirmed"
    after = await client.get(response.headers["location"], headers=HTML)
    assert f"#{early.id}의 입장을 취소했습니다" in text_of(after.text)
    assert f'action="{undo_action}"' not in after.text

    # Undoing again (a second click, a second tablet) is a no-op, as in the API.
    again = await post_form(client, undo_action, {"date": today}, page=day_path(door))
    assert again.status_code == 303
    assert await status_of(client, door.staff, early.id) == "confirmed"


async def test_undo_through_htmx_answers_the_days_list(client: Client, door: Door, make_user: MakeUser) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    await door.scan(client, await code_of(client, citizen, booking.id))
    await log_in(client, door.staff)
    token = await csrf_token(client, day_path(door))
    response = await client.post(
        f"/staff/venues/{door.venue.id}/bookings/{booking.id}/undo-check-in",
        data={"_csrf_token": token},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "<html" not in response.text  # the fragment only
    assert f"#{booking.id}의 입장을 취소했습니다" in text_of(response.text)
    assert await status_of(client, door.staff, booking.id) == "confirmed"


async def test_a_walk_in_is_booked_and_checked_in(client: Client, door: Door, make_slot: Any) -> None:
    now = utcnow().replace(microsecond=0)
    start = max(now - timedelta(minutes=10), day_bounds_utc(today_kst(now))[0])
    slot = await door.make_slot(door.space, start=start)
    await log_in(client, door.staff)
    page = await client.get(day_path(door), headers=HTML)
    assert f'<option value="{slot.id}"' in page.text

    missing = await post_form(
        client,
        f"/staff/venues/{door.venue.id}/walk-ins",
        {"slot_id": slot.id, "name": "", "party_size": "0"},
        page=day_path(door),
    )
    assert missing.status_code == 422
    assert 'aria-invalid="true"' in missing.text
    assert "error-summary" in missing.text

    response = await post_form(
        client,
        f"/staff/venues/{door.venue.id}/walk-ins",
        {"slot_id": slot.id, "name": "정현장", "party_size": "2", "phone": ""},
        page=day_path(door),
    )
    assert response.status_code == 303, response.text
    listing = await client.get(f"/api/venues/{door.venue.id}/bookings", headers=door.staff.headers)
    [walk_in] = listing.json()["items"]
    assert walk_in["walk_in"] is True
    assert walk_in["status"] == "checked_in"
    assert walk_in["party_size"] == 2
    after = await client.get(response.headers["location"], headers=HTML)
    words = text_of(after.text)
    assert "정현장 님을 접수하고 입장 처리했습니다" in words
    assert "정*장" in words
    assert "현장 접수" in words


async def book_stay(db: Database, citizen: Account, staff: Account, space_id: int) -> Booking:
    """A stay from today to tomorrow, booked a week ago, checked in now."""
    today = today_kst()
    async with unit_of_work(db.engine) as session:
        user = await session.get(User, citizen.id)
        assert user is not None
        service = BookingService(session, now=utcnow() - timedelta(days=7))
        create = BookingCreate(space_id=space_id, check_in=today, check_out=today + timedelta(days=1), party_size=2)
        answer, _ = await service.book(user, create)
        booking = await session.get(Booking, answer.id)
        assert booking is not None
        assert await CheckinService(session, db.settings).check_in(booking, staff.id, utcnow(), None, "test")
        return booking


async def test_a_stay_is_checked_out_from_the_day(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    town = await make_venue(kind="vitality_town")
    room = await make_space(town, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    staff = await make_user(role="staff", venues=[town])
    stay = await book_stay(db, await make_user(birth_year=1970), staff, room.id)
    await log_in(client, staff)
    path = f"/staff/venues/{town.id}/day"
    page = await client.get(path, headers=HTML)
    action = f"/staff/venues/{town.id}/bookings/{stay.id}/check-out"
    assert f'action="{action}"' in page.text
    assert "숙박" in text_of(page.text)

    response = await post_form(client, action, {"date": today_kst().isoformat()}, page=path)
    assert response.status_code == 303
    assert await status_of(client, staff, stay.id) == BookingStatus.CHECKED_OUT
    after = await client.get(response.headers["location"], headers=HTML)
    assert f"#{stay.id} 퇴실 처리했습니다" in text_of(after.text)
    assert f'action="{action}"' not in after.text


async def test_an_action_on_another_venues_booking_changes_nothing(
    client: Client, door: Door, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser, make_slot: Any
) -> None:
    # Staff of two venues act on venue B's booking through venue A's page: refused, rolled back.
    other = await make_venue()
    lab = await make_space(other, capacity=10)
    both = await make_user(role="staff", venues=[door.venue, other])
    other_door = Door(door.db, other, lab, both, make_slot)
    citizen = await make_user()
    booking = await other_door.booking(citizen, timedelta(minutes=10))
    await other_door.scan(client, await code_of(client, citizen, booking.id))
    await log_in(client, both)
    response = await post_form(
        client, f"/staff/venues/{door.venue.id}/bookings/{booking.id}/undo-check-in", {}, page=day_path(door)
    )
    assert response.status_code == 409
    assert await status_of(client, both, booking.id) == "checked_in"
    # Through HTMX the refusal is swapped into the day (422), in words.
    token = await csrf_token(client, day_path(door))
    swapped = await client.post(
        f"/staff/venues/{door.venue.id}/bookings/{booking.id}/undo-check-in",
        data={"_csrf_token": token},
        headers=HTMX,
    )
    assert swapped.status_code == 422
    assert "notice--bad" in swapped.text
    assert "<html" not in swapped.text
    assert await status_of(client, both, booking.id) == "checked_in"
