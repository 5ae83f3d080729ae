"""Programmes through HTTP: finding them, booking drop-in sessions, enrolling, applying, instructors."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from core.clock import utcnow
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client, book
from tests.conftest import MakeSpace, MakeUser, MakeVenue, in_days


def programme(venue_id: int, space_id: int, **overrides: Any) -> dict[str, Any]:
    now = utcnow()
    body: dict[str, Any] = {
        "venue_id": venue_id,
        "space_id": space_id,
        "title": "스마트폰 사진으로 가게 홍보하기",
        "title_en": "Promote your shop with smartphone photos",
        "kind": "class",
        "capacity": 2,
        "registration_opens_at": (now - timedelta(hours=1)).isoformat(),
        "registration_closes_at": (now + timedelta(days=3)).isoformat(),
        "rrule": "FREQ=DAILY;INTERVAL=7;COUNT=3",
        "first_start": in_days(5, time(19)).isoformat(),
        "duration_minutes": 90,
        "min_age": 50,
    }
    body.update(overrides)
    return body


async def test_a_manager_creates_a_programme_and_citizens_find_and_book_it(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(kind="digital_plaza", hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, kind="classroom", capacity=20)
    manager = await make_user(role="manager", venues=[venue])
    instructor = await make_user(role="instructor")
    outsider = await make_user(role="manager", venues=[await make_venue()])
    body = programme(venue.id, space.id, instructor_ids=[instructor.id])
    assert_problem(await client.post("/api/programs", json=body, headers=outsider.headers), 403, "forbidden")
    created = await client.post("/api/programs", json=body, headers=manager.headers)
    assert created.status_code == 201, created.text
    program = created.json()
    sessions = [s for s in program["sessions"] if s["status"] == "scheduled"]
    assert len(sessions) >= 2  # three weekly evenings, minus any that fall on a public holiday
    assert sessions[0]["start"].endswith("19:00:00+09:00")
    assert sessions[0]["remaining"] == 2

    listed = (await client.get("/api/programs", params={"age": 55, "kind": "class"})).json()
    assert [p["id"] for p in listed["items"]] == [program["id"]]
    assert listed["items"][0]["allocation"] == "first_come"
    assert (await client.get("/api/programs", params={"age": 45})).json()["total"] == 0
    assert (await client.get("/api/programs", params={"q": "스마트폰"})).json()["total"] == 1
    assert (await client.get("/api/programs", params={"venue_id": venue.id + 999})).json()["total"] == 0
    far = (utcnow() + timedelta(days=90)).date().isoformat()
    assert (await client.get("/api/programs", params={"from": far})).json()["total"] == 0

    fifty_five = await make_user(birth_year=utcnow().year - 55)
    forty = await make_user(birth_year=utcnow().year - 40)
    slot_id = sessions[0]["slot_id"]
    booked = await book(client, fifty_five.headers, slot_id=slot_id)
    assert booked.status_code == 201, booked.text
    assert_problem(await book(client, forty.headers, slot_id=slot_id), 409, "not_eligible")
    detail = (await client.get(f"/api/programs/{program['id']}")).json()
    assert detail["sessions"][0]["remaining"] == 1

    mine = (await client.get("/api/me/sessions", headers=instructor.headers)).json()
    assert [s["slot_id"] for s in mine] == [s["slot_id"] for s in program["sessions"]]
    roster = await client.get(
        f"/api/programs/{program['id']}/sessions/{sessions[0]['id']}/roster", headers=instructor.headers
    )
    assert roster.status_code == 200, roster.text
    assert [r["booking_id"] for r in roster.json()] == [booked.json()["id"]]
    stranger = await make_user(role="instructor")
    assert_problem(
        await client.get(
            f"/api/programs/{program['id']}/sessions/{sessions[0]['id']}/roster", headers=stranger.headers
        ),
        403,
        "forbidden",
    )


async def test_courses_are_enrolled_whole_and_lotteries_by_application(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, capacity=20)
    admin = await make_user(role="admin")
    course = (
        await client.post(
            "/api/programs",
            json=programme(venue.id, space.id, kind="course", enrolment="course", min_age=None, capacity=5),
            headers=admin.headers,
        )
    ).json()
    citizen = await make_user()
    first_slot = course["sessions"][0]["slot_id"]
    assert_problem(await book(client, citizen.headers, slot_id=first_slot), 409, "invalid_transition")
    enrolled = await client.post(f"/api/programs/{course['id']}/enrol", json={"party_size": 1}, headers=citizen.headers)
    assert enrolled.status_code == 201, enrolled.text
    assert len(enrolled.json()["bookings"]) == len([s for s in course["sessions"] if s["status"] == "scheduled"])
    again = await client.post(f"/api/programs/{course['id']}/enrol", json={"party_size": 1}, headers=citizen.headers)
    assert_problem(again, 409, "already_booked")

    # The same room cannot hold a second programme at the course's times.
    clash = programme(venue.id, space.id, allocation="lottery", enrolment="course", min_age=None, title="추첨반")
    assert_problem(await client.post("/api/programs", json=clash, headers=admin.headers), 409, "conflict")
    other_room = await make_space(venue, capacity=20)
    lottery = (
        await client.post("/api/programs", json={**clash, "space_id": other_room.id}, headers=admin.headers)
    ).json()
    assert_problem(await client.get(f"/api/programs/{lottery['id']}/draw"), 404, "not_found")
    # An application meets the citizen's rules as a booking would: not at the time of their course.
    overlapping = await client.post(
        f"/api/programs/{lottery['id']}/applications", json={"party_size": 1}, headers=citizen.headers
    )
    assert_problem(overlapping, 409, "overlap")
    citizen = await make_user()
    applied = await client.post(
        f"/api/programs/{lottery['id']}/applications", json={"party_size": 1}, headers=citizen.headers
    )
    assert applied.status_code == 201, applied.text
    assert applied.json()["status"] == "applied"
    second = await client.post(
        f"/api/programs/{lottery['id']}/applications", json={"party_size": 1}, headers=citizen.headers
    )
    assert_problem(second, 409, "already_booked")
    mine = await client.get(f"/api/programs/{lottery['id']}/applications/mine", headers=citizen.headers)
    assert mine.json()["id"] == applied.json()["id"]
    closed = (
        await client.post(
            "/api/programs",
            json=programme(
                venue.id,
                (await make_space(venue, capacity=20)).id,
                allocation="lottery",
                min_age=None,
                title="마감반",
                registration_opens_at=(utcnow() - timedelta(days=2)).isoformat(),
                registration_closes_at=(utcnow() - timedelta(days=1)).isoformat(),
            ),
            headers=admin.headers,
        )
    ).json()
    late = await client.post(
        f"/api/programs/{closed['id']}/applications", json={"party_size": 1}, headers=citizen.headers
    )
    assert_problem(late, 409, "window_closed")


async def test_invalid_programmes_are_refused(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    admin = await make_user(role="admin")
    for overrides, field in [
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"rrule": "FREQ=WEEKLY"}, "rrule"),  # no end
        ({"min_age": 64, "max_age": 40}, "min_age"),
        ({"registration_closes_at": (utcnow() - timedelta(days=9)).isoformat()}, "registration_closes_at"),
        ({"kind": "camp"}, "rooms"),
        ({"first_start": "2027-03-01T10:00:00"}, "first_start"),
        ({"exdates": ["someday"]}, "exdates"),
    ]:
        response = await client.post(
            "/api/programs", json=programme(venue.id, space.id, **overrides), headers=admin.headers
        )
        problem = assert_problem(response, 400, "validation_error")
        assert any(field in e["field"] for e in problem["errors"]), (field, problem)
    assert (await client.get("/api/programs")).json()["total"] == 0


async def test_a_published_draw_and_a_family_camp_through_http(
    client: Client, db: Any, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    from booking import jobs
    from booking.lottery import draw_order

    town = await make_venue(
        kind="vitality_town", opens_on_holidays=True, hours=[(d, "09:00", "21:00") for d in range(7)]
    )
    hall = await make_space(town, kind="hall", shape="exclusive", capacity=80, max_party=80, slot_minutes=180)
    rooms = [
        await make_space(town, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
        for _ in range(2)
    ]
    admin = await make_user(role="admin")
    now = utcnow()
    camp_body = programme(
        town.id,
        hall.id,
        kind="camp",
        title="가족 캠프",
        title_en="Family camp",
        capacity=8,
        max_party=4,
        min_age=None,
        allocation="lottery",
        enrolment="course",
        rooms=[r.id for r in rooms],
        nights=1,
        rrule="FREQ=DAILY;COUNT=1",
        first_start=in_days(10, time(15)).isoformat(),
        duration_minutes=20 * 60,
    )
    camp = await client.post("/api/programs", json=camp_body, headers=admin.headers)
    assert camp.status_code == 201, camp.text
    program = camp.json()
    [session] = program["sessions"]
    night = session["check_in"]
    assert session["check_out"] > night
    # The camp's night is gone from the rooms' availability.
    nights = (await client.get(f"/api/spaces/{rooms[0].id}/availability", params={"from": night, "to": night})).json()
    assert nights["nights"] == [{"date": night, "available": False}]

    families = [await make_user() for _ in range(3)]
    for family in families:
        applied = await client.post(
            f"/api/programs/{program['id']}/applications", json={"party_size": 4}, headers=family.headers
        )
        assert applied.status_code == 201, applied.text
    assert await jobs.draw_lotteries(db.engine, db.settings, now + timedelta(days=4)) == 1
    draw = await client.get(f"/api/programs/{program['id']}/draw")
    assert draw.status_code == 200, draw.text
    result = draw.json()
    assert result["order"] == draw_order(result["seed"], result["order"])
    assert len(result["winners"]) == 2  # two rooms
    assert result["waitlisted"] == [i for i in result["order"] if i not in result["winners"]]
    assert "sha256" in result["algorithm"]
    outcomes = [
        (await client.get(f"/api/programs/{program['id']}/applications/mine", headers=f.headers)).json()["status"]
        for f in families
    ]
    assert sorted(outcomes) == ["waitlisted", "won", "won"]
    winner = families[outcomes.index("won")]
    [booking] = (await client.get("/api/me/bookings", headers=winner.headers)).json()["items"]
    assert booking["space"]["id"] in {r.id for r in rooms}
    assert booking["start"].endswith("15:00:00+09:00")
    assert booking["end"].endswith("11:00:00+09:00")
