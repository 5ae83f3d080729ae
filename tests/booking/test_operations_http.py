"""Managers and staff running the day through HTTP: closures that cancel bookings, extra and blocked
slots, offers accepted over HTTP, notices."""

from __future__ import annotations

from datetime import time, timedelta

from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client, book, slot_state
from tests.conftest import Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days


async def test_a_closure_posted_by_a_manager_cancels_bookings_and_notifies(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    slot = await make_slot(space, start=in_days(3))
    manager = await make_user(role="manager", venues=[venue])
    citizen = await make_user()
    booking = (await book(client, citizen.headers, slot_id=slot.id)).json()
    day = booking["start"][:10]
    closure = {"start_date": day, "end_date": day, "reason": "정전 점검", "reason_en": "Power maintenance"}
    assert (
        await client.post(f"/api/venues/{venue.id}/closures", json=closure, headers=manager.headers)
    ).status_code == 201
    after = (await client.get(f"/api/bookings/{booking['id']}", headers=citizen.headers)).json()
    assert after["status"] == "cancelled"
    notices = (await client.get("/api/me/notices", headers=citizen.headers)).json()
    assert [n["kind"] for n in notices["items"]] == ["closure_cancelled", "booking_confirmed"]  # newest first
    notice = notices["items"][0]
    assert "정전 점검" in notice["body"]
    assert "Power maintenance" in notice["body_en"]
    assert (await client.post(f"/api/me/notices/{notice['id']}/read", headers=citizen.headers)).status_code == 204
    unread = (await client.get("/api/me/notices", params={"unread": True}, headers=citizen.headers)).json()
    assert [n["kind"] for n in unread["items"]] == ["booking_confirmed"]
    slots = (await client.get(f"/api/spaces/{space.id}/availability", params={"from": day, "to": day})).json()["slots"]
    assert [(s["status"], s["remaining"]) for s in slots] == [("closed", 0)]
    assert await slot_state(db, slot.id) == (0, 0)


async def test_managers_add_slots_and_staff_block_them(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=12)
    manager = await make_user(role="manager", venues=[venue])
    staff = await make_user(role="staff", venues=[venue])
    outsider = await make_user(role="manager", venues=[await make_venue()])
    start = in_days(2, time(19))
    body = {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat(), "note": "야간 특강"}
    assert_problem(
        await client.post(f"/api/spaces/{space.id}/slots", json=body, headers=outsider.headers), 403, "forbidden"
    )
    assert_problem(
        await client.post(f"/api/spaces/{space.id}/slots", json=body, headers=staff.headers), 403, "forbidden"
    )
    created = await client.post(f"/api/spaces/{space.id}/slots", json=body, headers=manager.headers)
    assert created.status_code == 201, created.text
    slot = created.json()
    assert slot["capacity"] == 12
    assert slot["origin"] == "extra"
    assert slot["start"].endswith("+09:00")
    assert_problem(
        await client.post(f"/api/spaces/{space.id}/slots", json=body, headers=manager.headers), 409, "conflict"
    )
    backwards = {**body, "end": (start - timedelta(hours=1)).isoformat()}
    assert_problem(
        await client.post(f"/api/spaces/{space.id}/slots", json=backwards, headers=manager.headers),
        400,
        "validation_error",
    )

    blocked = await client.post(f"/api/slots/{slot['id']}/block", json={"note": "강사 결강"}, headers=staff.headers)
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["status"] == "blocked"
    citizen = await make_user()
    assert_problem(await book(client, citizen.headers, slot_id=slot["id"]), 409, "closed")
    assert_problem(await client.post(f"/api/slots/{slot['id']}/unblock", headers=outsider.headers), 403, "forbidden")
    assert (await client.post(f"/api/slots/{slot['id']}/unblock", headers=staff.headers)).json()["status"] == "open"
    assert (await book(client, citizen.headers, slot_id=slot["id"])).status_code == 201


async def test_a_waitlisted_citizen_accepts_an_offer_over_http(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    town = await make_venue(kind="vitality_town", opens_on_holidays=True)
    room = await make_space(town, kind="meditation_room", shape="exclusive", capacity=6, max_party=6)
    slot = await make_slot(room, start=in_days(4))
    first, second = await make_user(), await make_user()
    held = (await book(client, first.headers, slot_id=slot.id, party_size=2)).json()
    queued = (await book(client, second.headers, slot_id=slot.id, party_size=3, join_waitlist=True)).json()
    assert queued["status"] == "waitlisted"
    cancelled = await client.post(f"/api/bookings/{held['id']}/cancel", headers=first.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    offered = (await client.get(f"/api/bookings/{queued['id']}", headers=second.headers)).json()
    assert offered["status"] == "offered"
    assert offered["offer_expires_at"].endswith("+09:00")
    assert_problem(await client.post(f"/api/bookings/{queued['id']}/accept", headers=first.headers), 404, "not_found")
    accepted = await client.post(f"/api/bookings/{queued['id']}/accept", headers=second.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "confirmed"
    again = await client.post(f"/api/bookings/{held['id']}/cancel", headers=first.headers)
    assert again.status_code == 200  # cancelling twice is a no-op
    kinds = [n["kind"] for n in (await client.get("/api/me/notices", headers=second.headers)).json()["items"]]
    assert kinds == ["booking_confirmed", "waitlist_offer"]  # accepting the offer confirmed it


async def test_venue_availability_renders_a_month_of_every_space(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    town = await make_venue(kind="vitality_town", opens_on_holidays=True)
    trail = await make_space(town, kind="trail", capacity=30, max_party=6)
    room = await make_space(town, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    slot = await make_slot(trail, start=in_days(3))
    citizen = await make_user()
    night = in_days(6).date()
    stay = {"space_id": room.id, "check_in": night.isoformat(), "check_out": (night + timedelta(days=1)).isoformat()}
    assert (await book(client, citizen.headers, **stay, party_size=2)).status_code == 201
    today = in_days(0).date()
    response = await client.get(
        f"/api/venues/{town.id}/availability",
        params={"from": today.isoformat(), "to": (today + timedelta(days=30)).isoformat()},
    )
    assert response.status_code == 200, response.text
    spaces = {s["space_id"]: s for s in response.json()["spaces"]}
    assert [s["id"] for s in spaces[trail.id]["slots"]] == [slot.id]
    nights = {n["date"]: n["available"] for n in spaces[room.id]["nights"]}
    assert len(nights) == 31
    assert nights[night.isoformat()] is False
    assert nights[(night + timedelta(days=1)).isoformat()] is True
    too_long = await client.get(
        f"/api/spaces/{room.id}/availability", params={"from": "2027-01-01", "to": "2027-04-01"}
    )
    assert_problem(too_long, 400, "validation_error")


async def test_a_new_capacity_resizes_future_slots_but_never_below_their_bookings(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    lab = await make_space(venue, capacity=3)
    busy = await make_slot(lab, start=in_days(2), origin="generated")
    quiet = await make_slot(lab, start=in_days(3), origin="generated")
    for _ in range(3):
        assert (await book(client, (await make_user()).headers, slot_id=busy.id)).status_code == 201
    manager = await make_user(role="manager", venues=[venue])
    assert (
        await client.patch(f"/api/spaces/{lab.id}", json={"capacity": 2}, headers=manager.headers)
    ).status_code == 200
    slots = {s["id"]: s for s in (await client.get(f"/api/spaces/{lab.id}/availability")).json()["slots"]}
    assert (slots[busy.id]["capacity"], slots[busy.id]["remaining"]) == (3, 0)  # its three bookings stay
    assert (slots[quiet.id]["capacity"], slots[quiet.id]["remaining"]) == (2, 2)
    assert (
        await client.patch(f"/api/spaces/{lab.id}", json={"capacity": 8}, headers=manager.headers)
    ).status_code == 200
    slots = {s["id"]: s for s in (await client.get(f"/api/spaces/{lab.id}/availability")).json()["slots"]}
    assert (slots[busy.id]["capacity"], slots[busy.id]["remaining"]) == (8, 5)
