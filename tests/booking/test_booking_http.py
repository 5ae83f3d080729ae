"""Booking slots and stays through HTTP: the answers, the refusals and their codes."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from core.clock import KST, kst, utcnow
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client, book, slot_state, switch_off_overlap_rule
from tests.conftest import Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days


async def test_booking_a_shared_slot_returns_the_contract_fields(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=10, max_party=3)
    slot = await make_slot(space)
    citizen = await make_user()
    response = await book(client, citizen.headers, slot_id=slot.id, party_size=3)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["party_size"] == 3
    assert body["start"].endswith("+09:00")
    assert body["start"][11:16] == "14:00"
    assert body["venue"]["id"] == space.venue_id
    assert body["space"]["id"] == space.id
    assert body["slot_id"] == slot.id
    assert body["waitlist_position"] is None
    assert await slot_state(db, slot.id) == (3, 3)

    availability = (await client.get(f"/api/spaces/{space.id}/availability")).json()
    [listed] = [s for s in availability["slots"] if s["id"] == slot.id]
    assert listed["capacity"] == 10
    assert listed["remaining"] == 7

    mine = (await client.get("/api/me/bookings", headers=citizen.headers)).json()
    assert [b["id"] for b in mine["items"]] == [body["id"]]
    assert (await client.get(f"/api/bookings/{body['id']}", headers=citizen.headers)).json()["status"] == "confirmed"
    history = (await client.get(f"/api/bookings/{body['id']}/history", headers=citizen.headers)).json()
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in history] == [(None, "confirmed", "booked")]


async def test_other_citizens_cannot_see_a_booking_but_its_venue_staff_can(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser, make_venue: MakeVenue
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    slot = await make_slot(space)
    owner, stranger = await make_user(), await make_user()
    booking = (await book(client, owner.headers, slot_id=slot.id)).json()
    assert_problem(await client.get(f"/api/bookings/{booking['id']}", headers=stranger.headers), 404, "not_found")
    assert_problem(
        await client.post(f"/api/bookings/{booking['id']}/cancel", headers=stranger.headers), 404, "not_found"
    )
    venue_staff = await make_user(role="staff", venues=[venue])
    assert (await client.get(f"/api/bookings/{booking['id']}", headers=venue_staff.headers)).status_code == 200
    other_staff = await make_user(role="staff", venues=[await make_venue()])
    assert_problem(await client.get(f"/api/bookings/{booking['id']}", headers=other_staff.headers), 404, "not_found")
    day = booking["start"][:10]
    listed = await client.get(
        f"/api/venues/{space.venue_id}/bookings", params={"date": day}, headers=venue_staff.headers
    )
    assert listed.status_code == 200, listed.text
    assert [b["id"] for b in listed.json()["items"]] == [booking["id"]]
    assert listed.json()["items"][0]["holder"].count("*") >= 1
    refused = await client.get(f"/api/venues/{space.venue_id}/bookings", headers=other_staff.headers)
    assert_problem(refused, 403, "forbidden")


async def test_a_full_slot_is_sold_out_or_waitlisted(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=2, max_party=2)
    slot = await make_slot(space)
    first, second, third = await make_user(), await make_user(), await make_user()
    assert (await book(client, first.headers, slot_id=slot.id, party_size=2)).status_code == 201
    problem = assert_problem(await book(client, second.headers, slot_id=slot.id), 409, "sold_out")
    assert problem["remaining"] == 0
    queued = await book(client, second.headers, slot_id=slot.id, join_waitlist=True)
    assert queued.status_code == 201, queued.text
    assert queued.json()["status"] == "waitlisted"
    assert queued.json()["waitlist_position"] == 1
    assert (await book(client, third.headers, slot_id=slot.id, join_waitlist=True)).json()["waitlist_position"] == 2
    assert await slot_state(db, slot.id) == (2, 2)


async def test_an_exclusive_slot_takes_one_party(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    room = await make_space(kind="meditation_room", shape="exclusive", capacity=6, max_party=6)
    slot = await make_slot(room)
    a, b = await make_user(), await make_user()
    assert (await book(client, a.headers, slot_id=slot.id, party_size=6)).status_code == 201
    assert_problem(await book(client, b.headers, slot_id=slot.id, party_size=1), 409, "sold_out")
    slots = (await client.get(f"/api/spaces/{room.id}/availability")).json()["slots"]
    assert [(s["capacity"], s["remaining"]) for s in slots] == [(1, 0)]
    too_many = await book(client, b.headers, slot_id=(await make_slot(room, start=in_days(3))).id, party_size=7)
    problem = assert_problem(too_many, 400, "validation_error")
    assert problem["errors"][0]["field"] == "party_size"


async def test_same_slot_twice_is_already_booked_and_overlaps_are_refused(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    lab, studio = await make_space(venue), await make_space(venue)
    slot = await make_slot(lab, start=in_days(2, time(14)))
    clash = await make_slot(studio, start=in_days(2, time(14, 30)))
    after = await make_slot(studio, start=in_days(2, time(15)))  # starts when the first ends: no overlap
    citizen = await make_user()
    assert (await book(client, citizen.headers, slot_id=slot.id)).status_code == 201
    assert_problem(await book(client, citizen.headers, slot_id=slot.id), 409, "already_booked")
    assert_problem(await book(client, citizen.headers, slot_id=slot.id, join_waitlist=True), 409, "already_booked")
    assert_problem(await book(client, citizen.headers, slot_id=clash.id), 409, "overlap")
    assert (await book(client, citizen.headers, slot_id=after.id)).status_code == 201
    # Other people's bookings never make an overlap.
    assert (await book(client, (await make_user()).headers, slot_id=clash.id)).status_code == 201


async def test_the_one_booking_per_slot_constraint_answers_already_booked_and_gives_the_place_back(
    client: Client,
    db: Database,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database's constraint is the last guard of one booking per citizen and slot: with the rule
    that answers first switched off, the second booking reaches it, is refused ``already_booked``, and
    the place its guarded UPDATE had taken is given back with the rest of its transaction."""
    slot = await make_slot(await make_space(capacity=3))
    citizen = await make_user()
    assert (await book(client, citizen.headers, slot_id=slot.id)).status_code == 201

    switch_off_overlap_rule(monkeypatch)
    assert_problem(await book(client, citizen.headers, slot_id=slot.id), 409, "already_booked")
    assert await slot_state(db, slot.id) == (1, 1)
    assert (await book(client, (await make_user()).headers, slot_id=slot.id)).status_code == 201
    assert await slot_state(db, slot.id) == (2, 2)


async def test_booking_window_and_closed_slots(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space()
    too_far = await make_slot(space, start=in_days(20))
    too_soon = await make_slot(space, start=utcnow().replace(microsecond=0) + timedelta(minutes=30))
    past = await make_slot(space, start=in_days(-1))
    blocked = await make_slot(space, start=in_days(3), status="blocked", note="강사 사정")
    citizen = await make_user()
    problem = assert_problem(await book(client, citizen.headers, slot_id=too_far.id), 409, "window_closed")
    assert problem["opens_at"].endswith("T10:00:00+09:00")
    assert_problem(await book(client, citizen.headers, slot_id=too_soon.id), 409, "window_closed")
    assert_problem(await book(client, citizen.headers, slot_id=past.id), 409, "window_closed")
    assert_problem(await book(client, citizen.headers, slot_id=blocked.id), 409, "closed")
    assert_problem(await book(client, citizen.headers, slot_id=987654), 404, "not_found")


async def test_weekly_quota_per_venue_kind(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    # Bookings open a month ahead: the week after next is up to 14 days away, which on a Monday before
    # 10:00 in Seoul is not yet open under the default of two weeks ahead at 10:00.
    venue = await make_venue(rules={"weekly_quota": 2, "booking_opens_days_ahead": 30})
    space = await make_space(venue)
    # Three slots in one Seoul week (Monday to Sunday), all of them in the future, and one the week after.
    today = utcnow().astimezone(KST).date()
    monday = today + timedelta(days=7 - today.weekday())
    starts = [monday + timedelta(days=n) for n in (0, 1, 2)]
    slots = [await make_slot(space, start=kst(d, time(11))) for d in starts]
    next_week = await make_slot(space, start=kst(monday + timedelta(days=7), time(11)))
    citizen = await make_user()
    for slot in slots[:2]:
        assert (await book(client, citizen.headers, slot_id=slot.id)).status_code == 201
    assert_problem(await book(client, citizen.headers, slot_id=slots[2].id), 409, "quota_exceeded")
    assert (await book(client, citizen.headers, slot_id=next_week.id)).status_code == 201


async def test_malformed_booking_requests(client: Client, make_user: MakeUser, make_space: MakeSpace) -> None:
    citizen = await make_user()
    room = await make_space(kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    for body in (
        {},
        {"party_size": 1},
        {"slot_id": "one"},
        {"slot_id": 1, "party_size": 0},
        {"slot_id": 1, "space_id": room.id, "check_in": "2027-01-01", "check_out": "2027-01-02"},
        {"space_id": room.id, "check_in": "2027-01-03", "check_out": "2027-01-02"},
        {"space_id": room.id, "check_in": "2027-01-01", "check_out": "2027-03-01"},
        {"slot_id": 1, "surprise": True},
    ):
        assert_problem(await book(client, citizen.headers, **body), 400, "validation_error")
    assert_problem(await client.post("/api/bookings", json={"slot_id": 1}), 401, "unauthenticated")


async def test_my_bookings_filters_by_status(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space()
    citizen = await make_user()
    a = (await book(client, citizen.headers, slot_id=(await make_slot(space, start=in_days(2))).id)).json()
    b = (await book(client, citizen.headers, slot_id=(await make_slot(space, start=in_days(3))).id)).json()
    await client.post(f"/api/bookings/{a['id']}/cancel", headers=citizen.headers)
    confirmed = (await client.get("/api/me/bookings", params={"status": "confirmed"}, headers=citizen.headers)).json()
    assert [x["id"] for x in confirmed["items"]] == [b["id"]]
    both = (
        await client.get("/api/me/bookings", params={"status": "confirmed,cancelled"}, headers=citizen.headers)
    ).json()
    assert both["total"] == 2
    assert_problem(
        await client.get("/api/me/bookings", params={"status": "happy"}, headers=citizen.headers),
        400,
        "validation_error",
    )


async def test_a_full_slot_still_says_already_booked_to_its_holder(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=1)
    slot = await make_slot(space)
    holder, other = await make_user(), await make_user()
    first = await client.post(
        "/api/bookings", json={"slot_id": slot.id}, headers={**holder.headers, "Idempotency-Key": "k-1"}
    )
    assert first.status_code == 201
    # The slot is full now: others hear sold_out, the holder hears already_booked, and a retry of the
    # holder's request with its key gets the first answer back.
    assert_problem(await book(client, other.headers, slot_id=slot.id), 409, "sold_out")
    assert_problem(await book(client, holder.headers, slot_id=slot.id), 409, "already_booked")
    retry = await client.post(
        "/api/bookings", json={"slot_id": slot.id}, headers={**holder.headers, "Idempotency-Key": "k-1"}
    )
    assert retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
