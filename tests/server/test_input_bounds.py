"""Out-of-range input is a ``400 validation_error`` naming the field, never a 500 or a 503.

Each case here answered 500 on SQLite and ``503 unavailable`` on PostgreSQL before: ids of 2**63 and
more (and, on PostgreSQL, past the INTEGER of a reference column), years 1 and 9999, NUL in a name, a
JSON body nested 10,000 deep. They are refused at the edge now (``core.fields``, ``core.validation``),
not by the database: ``core.errors`` still maps a DataError to 400, but no case here may reach it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core.fields import MAX_ID
from core.pagination import MAX_OFFSET
from core.settings import Rate
from server.app import create_app
from tests.accounts.test_auth_http import assert_problem
from tests.conftest import Account, Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days

Client = AsyncTestClient[Litestar]

# 2**63 overflowed SQLite and asyncpg; MAX_ID + 1 (2**31) the INTEGER reference columns of PostgreSQL.
HUGE = [2**63, MAX_ID + 1]


def assert_refused(response: Any, field: str) -> dict[str, Any]:
    problem = assert_problem(response, 400, "validation_error")
    fields = [e["field"] for e in problem["errors"]]
    assert any(f == field or f.endswith(f".{field}") or f.startswith(f"{field}[") for f in fields), problem
    return problem


@pytest.fixture
async def admin(make_user: MakeUser) -> Account:
    return await make_user(role="admin")


async def test_ids_past_the_database_integers_are_refused_in_paths(
    client: Client, make_space: MakeSpace, admin: Account
) -> None:
    await make_space()
    for huge, (method, path, field) in itertools.product(
        [*HUGE, 10**30],
        [
            ("GET", "/api/venues/{huge}", "venue_id"),
            ("GET", "/api/venues/{huge}/days", "venue_id"),
            ("GET", "/api/spaces/{huge}", "space_id"),
            ("GET", "/api/spaces/{huge}/availability", "space_id"),
            ("GET", "/api/programs/{huge}", "program_id"),
            ("GET", "/api/bookings/{huge}", "booking_id"),
            ("POST", "/api/bookings/{huge}/cancel", "booking_id"),
            ("GET", "/api/bookings/{huge}/qr.png", "booking_id"),
            ("GET", "/api/users/{huge}", "user_id"),
            ("DELETE", "/api/feeds/{huge}", "feed_id"),
            ("POST", "/api/me/notices/{huge}/read", "notice_id"),
            ("GET", "/api/programs/1/sessions/{huge}/roster", "session_id"),
        ],
    ):
        path = path.format(huge=huge)
        assert_refused(await client.request(method, path, headers=admin.headers), field)


async def test_an_id_of_zero_or_below_is_refused_and_the_largest_is_simply_not_found(
    client: Client, admin: Account
) -> None:
    assert_refused(await client.get("/api/venues/0"), "venue_id")
    assert_refused(await client.get("/api/venues/-1"), "venue_id")
    assert_problem(await client.get(f"/api/venues/{MAX_ID}"), 404, "not_found")
    assert_problem(await client.get(f"/api/users/{MAX_ID}", headers=admin.headers), 404, "not_found")


async def test_ids_and_offsets_past_the_integers_are_refused_in_queries(client: Client) -> None:
    for huge in HUGE:
        await _queries(client, huge)


async def _queries(client: Client, huge: int) -> None:
    assert_refused(await client.get(f"/api/venues?offset={huge}"), "offset")
    assert_refused(await client.get(f"/api/programs?venue_id={huge}"), "venue_id")
    assert_refused(await client.get(f"/api/programs?offset={huge}"), "offset")
    assert_refused(await client.get(f"/api/venues/1/days?space_id={huge}"), "space_id")


async def test_the_deepest_offset_allowed_answers_an_empty_page(client: Client) -> None:
    response = await client.get(f"/api/venues?offset={MAX_OFFSET}")
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert_refused(await client.get(f"/api/venues?offset={MAX_OFFSET + 1}"), "offset")


async def test_ids_past_the_integers_are_refused_in_bodies(
    client: Client, make_venue: MakeVenue, make_user: MakeUser, admin: Account
) -> None:
    citizen = await make_user()
    venue = await make_venue()
    staff = await make_user(role="staff", venues=[venue])
    for huge in HUGE:
        await _bodies(client, citizen, staff, admin, venue.id, huge)
    # A day's offline scans go in batches of at most 1000 (each is looked up under the write lock).
    many = {"venue_id": venue.id, "device_id": "door-1", "scans": [{"booking_id": 1, "scanned_at": _now()}] * 1001}
    assert_refused(await client.post("/api/checkin/sync", json=many, headers=staff.headers), "scans")


async def _bodies(client: Client, citizen: Account, staff: Account, admin: Account, venue_id: int, huge: int) -> None:
    assert_refused(await client.post("/api/bookings", json={"slot_id": huge}, headers=citizen.headers), "slot_id")
    stay = {"space_id": huge, "check_in": in_days(3).date().isoformat(), "check_out": in_days(4).date().isoformat()}
    assert_refused(await client.post("/api/bookings", json=stay, headers=citizen.headers), "space_id")
    sync = {"venue_id": venue_id, "device_id": "door-1", "scans": [{"booking_id": huge, "scanned_at": _now()}]}
    assert_refused(await client.post("/api/checkin/sync", json=sync, headers=staff.headers), "booking_id")
    scan = {"payload": "x", "venue_id": huge}
    assert_refused(await client.post("/api/checkin/scan", json=scan, headers=staff.headers), "venue_id")
    walk_in = {"slot_id": huge, "name": "김시민"}
    assert_refused(
        await client.post(f"/api/checkin/venues/{venue_id}/walk-ins", json=walk_in, headers=staff.headers), "slot_id"
    )
    assert_refused(
        await client.post("/api/feeds", json={"scope": "venue", "target_id": huge}, headers=staff.headers),
        "target_id",
    )
    account = {"email": "staff9@example.com", "password": "pw-4050-pw", "name": "김", "role": "staff"}
    assert_refused(
        await client.post("/api/users", json={**account, "venue_ids": [huge]}, headers=admin.headers), "venue_ids"
    )


def _now() -> str:
    return in_days(0).isoformat()


async def test_dates_outside_the_supported_years_are_refused_in_queries(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    staff = await make_user(role="staff", venues=[venue])
    for day in ["0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01"]:
        await _dated_queries(client, space, staff, day)
    ok = await client.get(f"/api/venues/{space.venue_id}/days?from=2100-12-01&to=2100-12-31")
    assert ok.status_code == 200, ok.text


async def _dated_queries(client: Client, space: Any, staff: Account, day: str) -> None:
    for path, field in [
        (f"/api/venues/{space.venue_id}/days?from={day}", "from"),
        (f"/api/venues/{space.venue_id}/days?from=2027-01-01&to={day}", "to"),
        (f"/api/spaces/{space.id}/availability?from={day}", "from"),
        (f"/api/spaces/{space.id}/availability?from=2027-01-01&to={day}", "to"),
        (f"/api/venues/{space.venue_id}/availability?from={day}", "from"),
        (f"/api/venues/{space.venue_id}/closures?since={day}", "since"),
        (f"/api/programs?from={day}", "from"),
        (f"/api/programs?to={day}", "to"),
    ]:
        problem = assert_refused(await client.get(path), field)
        assert problem["first"] == 2000
        assert problem["last"] == 2100
    for path, field in [
        (f"/api/venues/{space.venue_id}/bookings?date={day}", "date"),
        (f"/api/checkin/venues/{space.venue_id}/manifest?date={day}", "date"),
        (f"/api/me/sessions?from={day}", "from"),
    ]:
        assert_refused(await client.get(path, headers=staff.headers), field)


async def test_a_refused_year_is_explained_in_korean_or_english(client: Client, make_space: MakeSpace) -> None:
    space = await make_space()
    url = f"/api/spaces/{space.id}/availability?from=9999-12-31"
    korean = assert_refused(await client.get(url), "from")
    assert "2000" in korean["detail"]
    assert "2100" in korean["errors"][0]["message"]
    english = assert_refused(await client.get(url, headers={"Accept-Language": "en"}), "from")
    assert english["errors"][0]["message"] == "must be in the years 2000 to 2100"


async def test_stays_outside_the_supported_years_are_refused(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    town = await make_venue(kind="vitality_town")
    room = await make_space(town, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    citizen = await make_user()
    for check_in, check_out, field in [
        ("9999-12-30", "9999-12-31", "check_in"),
        ("0001-01-01", "0001-01-02", "check_in"),
        ("2100-12-31", "2101-01-01", "check_out"),
    ]:
        body = {"space_id": room.id, "check_in": check_in, "check_out": check_out}
        assert_refused(await client.post("/api/bookings", json=body, headers=citizen.headers), field)


async def test_slots_sessions_and_scans_outside_the_supported_years_are_refused(
    client: Client, make_space: MakeSpace, make_user: MakeUser, admin: Account
) -> None:
    space = await make_space()
    staff = await make_user(role="staff")
    for instant in ["0001-01-01T00:00:00+09:00", "9999-12-31T23:00:00-09:00", "1999-12-31T10:00:00Z"]:
        await _instants(client, space, staff, admin, instant)


async def _instants(client: Client, space: Any, staff: Account, admin: Account, instant: str) -> None:
    slot = {"start": instant, "end": in_days(3).isoformat()}
    assert_refused(await client.post(f"/api/spaces/{space.id}/slots", json=slot, headers=admin.headers), "start")
    later = {"start": in_days(3).isoformat(), "end": instant}
    assert_refused(await client.post(f"/api/spaces/{space.id}/slots", json=later, headers=admin.headers), "end")
    program = {
        "venue_id": space.venue_id,
        "space_id": space.id,
        "title": "드론 정비",
        "title_en": "Drone maintenance",
        "kind": "course",
        "capacity": 10,
        "registration_opens_at": in_days(-1).isoformat(),
        "registration_closes_at": in_days(5).isoformat(),
        "rrule": "FREQ=WEEKLY;COUNT=4",
        "first_start": instant,
        "duration_minutes": 60,
    }
    assert_refused(await client.post("/api/programs", json=program, headers=admin.headers), "first_start")
    move = {"start": instant, "end": in_days(3).isoformat()}
    assert_refused(await client.post("/api/programs/1/sessions/1/move", json=move, headers=admin.headers), "start")
    sync = {"venue_id": space.venue_id, "device_id": "door-1", "scans": [{"booking_id": 1, "scanned_at": instant}]}
    assert_refused(await client.post("/api/checkin/sync", json=sync, headers=staff.headers), "scanned_at")


async def test_instants_without_an_offset_are_refused_before_they_are_compared(
    client: Client, make_space: MakeSpace, make_user: MakeUser
) -> None:
    # A naive and an aware scan sorted together raised TypeError (a 500) in the sync.
    space = await make_space()
    staff = await make_user(role="staff", venues=[])
    scans = [{"booking_id": 1, "scanned_at": "2027-03-02T10:00:00"}, {"booking_id": 2, "scanned_at": _now()}]
    sync = {"venue_id": space.venue_id, "device_id": "door-1", "scans": scans}
    problem = assert_refused(await client.post("/api/checkin/sync", json=sync, headers=staff.headers), "scanned_at")
    assert problem["errors"][0]["message"]


async def test_names_with_nul_or_control_characters_are_refused(
    db: Database, make_venue: MakeVenue, make_user: MakeUser, admin: Account
) -> None:
    venue = await make_venue()
    staff = await make_user(role="staff", venues=[venue])
    # More logins and registrations than the per-minute limit of the auth endpoints.
    lifted = Rate(1000, 60)
    app = create_app(replace(db.settings, rate_limit_login=lifted, rate_limit_register=lifted), engine=db.engine)
    async with AsyncTestClient(app=app) as client:
        for bad in ["\u0000", "\u0007", "\u001b[31m", "\u007f", "\u0085", "\n"]:
            await _names(client, admin, staff, venue.id, bad)


async def _names(client: Client, admin: Account, staff: Account, venue_id: int, bad: str) -> None:
    registration = {"email": "kim@example.com", "password": "pw-4050-pw", "name": f"김{bad}수", "birth_year": 1975}
    assert_refused(await client.post("/api/auth/register", json=registration), "name")
    trailing = {**registration, "name": f"김수{bad}"}  # a regex's $ lets one newline through at the end
    assert_refused(await client.post("/api/auth/register", json=trailing), "name")
    assert_refused(
        await client.post("/api/auth/register", json={**trailing, "name": "김수", "phone": f"010-1234-5678{bad}"}),
        "phone",
    )
    email = {**registration, "name": "김수", "email": f"kim{bad}@example.com"}
    assert_refused(await client.post("/api/auth/register", json=email), "email")
    assert_refused(await client.post("/api/auth/login", json={"email": f"a{bad}@b.c", "password": "x"}), "email")
    assert_refused(
        await client.patch(f"/api/venues/{venue_id}", json={"name": f"장소{bad}"}, headers=admin.headers), "name"
    )
    walk_in = {"slot_id": 1, "name": f"김{bad}수"}
    assert_refused(
        await client.post(f"/api/checkin/venues/{venue_id}/walk-ins", json=walk_in, headers=staff.headers), "name"
    )
    assert_refused(await client.get("/api/venues", params={"q": f"a{bad}"}), "q")
    assert_refused(await client.get("/api/users", params={"q": f"a{bad}"}, headers=admin.headers), "q")


async def test_descriptions_keep_their_lines_but_not_nul(client: Client, make_venue: MakeVenue, admin: Account) -> None:
    venue = await make_venue()
    url = f"/api/venues/{venue.id}"
    ok = await client.patch(url, json={"description": "첫 줄\n둘째 줄\t끝"}, headers=admin.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["description"] == "첫 줄\n둘째 줄\t끝"
    assert_refused(await client.patch(url, json={"description": "a\u0000b"}, headers=admin.headers), "description")


async def test_an_idempotency_key_with_control_characters_is_refused(
    client: Client, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    slot = await make_slot(await make_space())
    citizen = await make_user()
    headers = {**citizen.headers, "Idempotency-Key": "tap\u00004050"}
    response = await client.post("/api/bookings", json={"slot_id": slot.id}, headers=headers)
    problem = assert_refused(response, "idempotency_key")
    assert problem["errors"][0]["message"] == "제어 문자(NUL 등)는 쓸 수 없습니다"


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
async def test_a_json_body_nested_ten_thousand_deep_is_a_validation_error(
    client: Client, make_user: MakeUser, opener: bytes
) -> None:
    closer = b"]" if opener == b"[" else b"}"
    body = opener * 10_000 + b"1" + closer * 10_000
    headers = {"Content-Type": "application/json"}
    assert_refused(await client.post("/api/auth/register", content=body, headers=headers), "body")
    citizen = await make_user()
    response = await client.post("/api/bookings", content=body, headers={**headers, **citizen.headers})
    assert_refused(response, "body")


async def test_the_openapi_document_states_the_bounds(client: Client) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    path_id = spec["paths"]["/api/venues/{venue_id}"]["get"]["parameters"][0]["schema"]
    assert (path_id["minimum"], path_id["maximum"]) == (1, MAX_ID)
    offset = next(p for p in spec["paths"]["/api/venues"]["get"]["parameters"] if p["name"] == "offset")
    assert offset["schema"]["maximum"] == MAX_OFFSET
    schemas = spec["components"]["schemas"]
    assert schemas["BookingCreate"]["properties"]["slot_id"]["oneOf"][0]["maximum"] == MAX_ID
    assert "\\x00" in schemas["RegisterRequest"]["properties"]["name"]["pattern"]
    # A time of day is not an ISO 8601 duration ("P1D"), as Litestar documents datetime.time by default.
    opens_at = schemas["Rules"]["properties"]["booking_opens_at"]
    assert "format" not in opens_at
    assert re.fullmatch(opens_at["pattern"], "10:00:00")
