"""Every way to a place obeys the same rules (DOMAIN.md), through HTTP: regression tests of what a review
found holding on one way in and not another (the [core] issue's findings 1 to 6)."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from sqlalchemy import func, select

from accounts.models import User
from booking import jobs
from booking.models import Booking
from core.clock import to_kst, utcnow
from core.database import unit_of_work
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client, book, slot_state
from tests.checkin.door import Door, code_of
from tests.conftest import Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.programs.test_programs_http import programme
from venues.models import Slot, StayNight


async def _status(client: Client, headers: dict[str, str], booking_id: int) -> str:
    response = await client.get(f"/api/bookings/{booking_id}", headers=headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def _cancel(client: Client, headers: dict[str, str], booking_id: int) -> Any:
    response = await client.post(f"/api/bookings/{booking_id}/cancel", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# --- 1. walk-ins are named guests, never someone's account ------------------------------------------


async def test_a_walk_in_is_a_named_guest_never_an_existing_account(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    admin = await make_user(role="admin", name="시청관리자")
    citizen = await make_user(name="김현장")
    async with unit_of_work(db.engine) as session:
        accounts_before = await session.scalar(select(func.count()).select_from(User))
    slot = await door.make_slot(door.space, start=utcnow().replace(microsecond=0) + timedelta(minutes=5))
    url = f"/api/checkin/venues/{door.venue.id}/walk-ins"
    # An email (anyone's, or none at all) cannot attach a walk-in to an account: the field does not exist.
    for email in (admin.user.email, citizen.user.email, "not-an-email"):
        refused = await client.post(
            url, json={"slot_id": slot.id, "name": "김현장", "email": email}, headers=door.staff.headers
        )
        assert_problem(refused, 400, "validation_error")
    walk = await client.post(
        url, json={"slot_id": slot.id, "name": "김현장", "party_size": 2}, headers=door.staff.headers
    )
    assert walk.status_code == 201, walk.text
    assert walk.json()["walk_in"] is True
    assert walk.json()["status"] == "checked_in"
    # Nobody's bookings hold it, and no account was made for the guest.
    for account in (admin, citizen, door.staff):
        mine = (await client.get("/api/me/bookings", headers=account.headers)).json()
        assert mine["total"] == 0
    async with unit_of_work(db.engine) as session:
        assert await session.scalar(select(func.count()).select_from(User)) == accounts_before
        booking = await session.get(Booking, walk.json()["id"])
        assert booking is not None
        assert (booking.user_id, booking.guest_name) == (None, "김현장")
    day = walk.json()["start"][:10]
    listed = (
        await client.get(f"/api/venues/{door.venue.id}/bookings", params={"date": day}, headers=door.staff.headers)
    ).json()
    [guest] = [i for i in listed["items"] if i["id"] == walk.json()["id"]]
    assert (guest["holder"], guest["holder_name"], guest["walk_in"]) == ("김*장", "김현장", True)


async def test_undone_walk_ins_marked_no_shows_suspend_nobody(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    citizen = await make_user(name="김시민")
    for minutes in (3, 4, 5):
        slot = await door.make_slot(door.space, start=utcnow().replace(microsecond=0) + timedelta(minutes=minutes))
        walk = await client.post(
            f"/api/checkin/venues/{door.venue.id}/walk-ins",
            json={"slot_id": slot.id, "name": "김시민"},
            headers=door.staff.headers,
        )
        assert walk.status_code == 201, walk.text
        undone = await client.post(f"/api/bookings/{walk.json()['id']}/undo-check-in", headers=door.staff.headers)
        assert undone.json()["status"] == "confirmed"
    assert await jobs.mark_no_shows(db.engine, db.settings, utcnow() + timedelta(hours=1)) == 3
    async with unit_of_work(db.engine) as session:
        suspended = (await session.scalars(select(User.email).where(User.suspended_until.is_not(None)))).all()
    assert suspended == []
    # The citizen of the same name books as ever.
    later = await door.make_slot(door.space, start=in_days(2))
    assert (await book(client, citizen.headers, slot_id=later.id)).status_code == 201


# --- 2. the weekly quota holds on the waitlist and for whole courses ----------------------------------


async def test_the_weekly_quota_holds_when_waitlisted_places_come_free(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(rules={"weekly_quota": 1})
    space = await make_space(venue, capacity=1)
    today = to_kst(utcnow()).date()
    monday = today + timedelta(days=7 - today.weekday())  # next week, inside the booking window
    slots = [await make_slot(space, start=in_days((monday - today).days + d, time(14))) for d in (1, 2)]
    holders = [await make_user() for _ in slots]
    for holder, slot in zip(holders, slots, strict=True):
        assert (await book(client, holder.headers, slot_id=slot.id)).status_code == 201
    keen, patient = await make_user(), await make_user()
    keen_waits = [(await book(client, keen.headers, slot_id=s.id, join_waitlist=True)).json() for s in slots]
    patient_waits = [(await book(client, patient.headers, slot_id=s.id, join_waitlist=True)).json() for s in slots]
    assert {w["status"] for w in keen_waits + patient_waits} == {"waitlisted"}
    for holder in holders:
        mine = (await client.get("/api/me/bookings", headers=holder.headers)).json()["items"]
        await _cancel(client, holder.headers, mine[0]["id"])
    # The first freed place goes to the keen citizen, who is then at their quota of one for that week:
    # the second goes to the next in line.
    assert [await _status(client, keen.headers, w["id"]) for w in keen_waits] == ["confirmed", "waitlisted"]
    assert [await _status(client, patient.headers, w["id"]) for w in patient_waits] == ["waitlisted", "confirmed"]
    for slot in slots:
        assert await slot_state(db, slot.id) == (1, 1)


async def test_a_whole_course_counts_against_the_weekly_quota(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(rules={"weekly_quota": 2}, hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, capacity=20)
    admin = await make_user(role="admin")
    course = await client.post(
        "/api/programs",
        json=programme(
            venue.id, space.id, kind="course", enrolment="course", min_age=None, capacity=10,
            rrule="FREQ=DAILY;COUNT=3", first_start=in_days(8, time(19)).isoformat(),
        ),
        headers=admin.headers,
    )  # fmt: skip
    assert course.status_code == 201, course.text
    sessions = [s for s in course.json()["sessions"] if s["status"] == "scheduled"]
    weeks = {date.fromisoformat(s["start"][:10]).isocalendar()[:2] for s in sessions}
    citizen = await make_user()
    enrolled = await client.post(
        f"/api/programs/{course.json()['id']}/enrol", json={"party_size": 1}, headers=citizen.headers
    )
    if len(weeks) == 1:  # three sessions in one week against a quota of two
        problem = assert_problem(enrolled, 409, "quota_exceeded")
        assert problem["weekly_quota"] == 2
    else:
        assert enrolled.status_code == 201  # the days straddle a week: at most two in each
    assert (await client.get("/api/me/bookings", headers=citizen.headers)).json()["total"] == (
        0 if len(weeks) == 1 else len(sessions)
    )


# --- 3. a camp family moved up from the waitlist gets a room ------------------------------------------


async def test_a_camp_family_promoted_and_accepting_an_offer_gets_a_room(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    town = await make_venue(
        kind="vitality_town", opens_on_holidays=True, hours=[(d, "09:00", "21:00") for d in range(7)]
    )
    hall = await make_space(town, kind="hall", shape="exclusive", capacity=80, max_party=80, slot_minutes=180)
    room = await make_space(town, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    admin = await make_user(role="admin")
    camp = await client.post(
        "/api/programs",
        json=programme(
            town.id, hall.id, kind="camp", title="가족 캠프", title_en="Family camp", capacity=4, max_party=4,
            min_age=None, rooms=[room.id], nights=1, rrule="FREQ=DAILY;COUNT=1",
            first_start=in_days(10, time(15)).isoformat(), duration_minutes=20 * 60,
        ),
        headers=admin.headers,
    )  # fmt: skip
    assert camp.status_code == 201, camp.text
    [session] = camp.json()["sessions"]
    first, second = await make_user(), await make_user()
    booked = (await book(client, first.headers, slot_id=session["slot_id"], party_size=3)).json()
    assert booked["space"]["id"] == room.id
    queued = (await book(client, second.headers, slot_id=session["slot_id"], party_size=4, join_waitlist=True)).json()
    assert queued["status"] == "waitlisted"
    await _cancel(client, first.headers, booked["id"])
    # The town offers a freed place for a day; the offer holds the room for the family.
    offered = (await client.get(f"/api/bookings/{queued['id']}", headers=second.headers)).json()
    assert offered["status"] == "offered"
    assert offered["space"]["id"] == room.id
    accepted = await client.post(f"/api/bookings/{queued['id']}/accept", headers=second.headers)
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["space"]["id"]) == ("confirmed", room.id)
    async with unit_of_work(db.engine) as s:
        holders = (await s.scalars(select(StayNight.booking_id).where(StayNight.space_id == room.id))).all()
    assert holders == [queued["id"]]


# --- 4. closures: removing one reopens what it closed; a course goes on without its closed day ---------


async def test_removing_a_closure_reopens_its_slots(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=10)
    slot = await make_slot(space, start=in_days(3))
    manager = await make_user(role="manager", venues=[venue])
    staff = await make_user(role="staff", venues=[venue])
    day = to_kst(slot.starts_at).date().isoformat()
    closure = await client.post(
        f"/api/venues/{venue.id}/closures",
        json={"start_date": day, "end_date": day, "reason": "소독", "reason_en": "Disinfection"},
        headers=manager.headers,
    )
    assert closure.status_code == 201, closure.text
    refused = assert_problem(
        await client.post(f"/api/slots/{slot.id}/unblock", headers=staff.headers), 409, "invalid_transition"
    )
    assert refused["closure_id"] == closure.json()["id"]
    citizen = await make_user()
    assert_problem(await book(client, citizen.headers, slot_id=slot.id), 409, "closed")
    removed = await client.delete(f"/api/venues/{venue.id}/closures/{closure.json()['id']}", headers=manager.headers)
    assert removed.status_code == 204, removed.text
    window = {"from": day, "to": day}
    slots = (await client.get(f"/api/spaces/{space.id}/availability", params=window)).json()["slots"]
    [after] = [s for s in slots if s["id"] == slot.id]
    assert (after["status"], after["remaining"]) == ("open", 10)
    assert (await book(client, citizen.headers, slot_id=slot.id)).status_code == 201


async def test_a_course_goes_on_without_the_session_a_closure_cancelled(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, capacity=20)
    manager = await make_user(role="manager", venues=[venue])
    course = await client.post(
        "/api/programs",
        json=programme(venue.id, space.id, kind="course", enrolment="course", min_age=None, capacity=5),
        headers=manager.headers,
    )
    assert course.status_code == 201, course.text
    program_id = course.json()["id"]
    sessions = course.json()["sessions"]
    closed_day = sessions[1]["start"][:10]
    closure = await client.post(
        f"/api/venues/{venue.id}/closures",
        json={"start_date": closed_day, "end_date": closed_day, "reason": "정전", "reason_en": "Power cut"},
        headers=manager.headers,
    )
    assert closure.status_code == 201
    detail = (await client.get(f"/api/programs/{program_id}")).json()
    assert [s["status"] for s in detail["sessions"]] == ["scheduled", "cancelled", "scheduled"]
    citizen = await make_user()
    enrolled = await client.post(f"/api/programs/{program_id}/enrol", json={"party_size": 1}, headers=citizen.headers)
    assert enrolled.status_code == 201, enrolled.text  # not sold_out: the closed day is not a place to take
    assert len(enrolled.json()["bookings"]) == 2
    await client.delete(f"/api/venues/{venue.id}/closures/{closure.json()['id']}", headers=manager.headers)
    detail = (await client.get(f"/api/programs/{program_id}")).json()
    assert [s["status"] for s in detail["sessions"]] == ["scheduled"] * 3
    assert detail["sessions"][1]["remaining"] == 5


# --- 5. offline scans are evidence of what the door could have seen -------------------------------------


async def test_offline_sync_refuses_scans_outside_what_the_door_could_have_seen(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    ahead = await door.booking(await make_user(), timedelta(days=7))
    now_booking = await door.booking(await make_user(), timedelta(minutes=10))
    missed_citizen = await make_user()
    missed = await door.booking(missed_citizen, timedelta(minutes=-30))
    assert await jobs.mark_no_shows(db.engine, db.settings) == 1

    def scan(booking: Booking, at: Any, **extra: Any) -> dict[str, Any]:
        return {"booking_id": booking.id, "scanned_at": at.isoformat(), **extra}

    now = utcnow()
    batch = {
        "venue_id": door.venue.id,
        "device_id": "door-3",
        "scans": [
            scan(ahead, now),  # a week before its start
            scan(now_booking, now + timedelta(days=1)),  # in the future
            scan(now_booking, now - timedelta(days=3)),  # older than the sync allows
            scan(missed, missed.starts_at - timedelta(minutes=5)),  # a no-show, claimed without its code
        ],
    }
    synced = await client.post("/api/checkin/sync", json=batch, headers=door.staff.headers)
    assert synced.status_code == 200, synced.text
    results = {(i["booking_id"], i["scanned_at"][:16]): i["result"] for i in synced.json()["items"]}
    assert sorted(results.values()) == ["future", "needs_code", "stale", "too_early"]
    assert synced.json()["applied"] == 0
    assert await _status(client, missed_citizen.headers, missed.id) == "no_show"
    # With the code, but back-dated past the check-in window: still a no-show.
    code = await code_of(client, missed_citizen, missed.id)
    late = await client.post(
        "/api/checkin/sync",
        json={"venue_id": door.venue.id, "device_id": "door-3", "scans": [scan(missed, now, payload=code)]},
        headers=door.staff.headers,
    )
    assert [i["result"] for i in late.json()["items"]] == ["too_late"]
    assert await _status(client, missed_citizen.headers, missed.id) == "no_show"
    # Someone else's code does not vouch for this booking.
    other_code = await code_of(client, missed_citizen, missed.id)
    wrong = await client.post(
        "/api/checkin/sync",
        json={
            "venue_id": door.venue.id,
            "device_id": "door-4",
            "scans": [scan(now_booking, now - timedelta(minutes=1), payload=other_code)],
        },
        headers=door.staff.headers,
    )
    assert [i["result"] for i in wrong.json()["items"]] == ["invalid"]


# --- 6. a moved session takes its new time's practice slots, and gives back its old time's ---------------


async def test_a_moved_session_takes_the_practice_slots_of_its_new_time(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(hours=[(d, "09:00", "22:00") for d in range(7)])
    lab = await make_space(venue, capacity=20, max_party=20, slot_minutes=60)
    manager = await make_user(role="manager", venues=[venue])
    old_start, busy_start, free_start = in_days(5, time(10)), in_days(5, time(14)), in_days(5, time(17))
    generated = {
        start: await make_slot(lab, start=start, origin="generated")
        for start in (old_start, old_start + timedelta(hours=1), busy_start, free_start)
    }
    class_body = programme(
        venue.id, lab.id, kind="class", enrolment="drop_in", min_age=None, capacity=20,
        rrule="FREQ=DAILY;COUNT=1", first_start=old_start.isoformat(), duration_minutes=120,
    )  # fmt: skip
    created = await client.post("/api/programs", json=class_body, headers=manager.headers)
    assert created.status_code == 201, created.text
    program_id, session_id = created.json()["id"], created.json()["sessions"][0]["id"]
    # The session holds its two hours: the practice slots then are closed to bookings.
    walker = await make_user()
    assert_problem(await book(client, walker.headers, slot_id=generated[old_start].id), 409, "closed")
    # Sixteen people book practice at 14:00 (one party).
    group = await make_user()
    assert (await book(client, group.headers, slot_id=generated[busy_start].id, party_size=16)).status_code == 201

    def move_to(start: Any) -> dict[str, str]:
        return {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}

    url = f"/api/programs/{program_id}/sessions/{session_id}/move"
    # A room for 20 cannot hold a session of 20 and the sixteen at once.
    assert_problem(await client.post(url, json=move_to(busy_start), headers=manager.headers), 409, "conflict")
    moved = await client.post(url, json=move_to(free_start), headers=manager.headers)
    assert moved.status_code == 200, moved.text
    assert_problem(await book(client, walker.headers, slot_id=generated[free_start].id), 409, "closed")
    # The old time is practice time again.
    assert (await book(client, walker.headers, slot_id=generated[old_start].id)).status_code == 201
    async with unit_of_work(db.engine) as session:
        held = (await session.scalars(select(Slot.id).where(Slot.held_by_id.is_not(None)))).all()
    assert held == [generated[free_start].id]
