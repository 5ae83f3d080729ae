"""The audit log through HTTP: one test per kind of entry (every action of ``audit.actions``), who may
read which entries, CSV, and that nothing changes an entry once written (no route, and the database's
trigger on both databases)."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from audit.actions import ACTIONS
from audit.log import record
from audit.models import AuditEntry
from booking import jobs
from core.clock import utcnow
from core.database import unit_of_work
from server.app import create_app
from tests.accounts.test_auth_http import assert_problem, registration
from tests.booking.conftest import Client, book
from tests.checkin.door import Door, code_of
from tests.conftest import Account, Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.programs.test_programs_http import programme

# The address the test client's requests come from (Litestar's TestClient puts it in the ASGI scope).
TEST_ADDRESS = "testclient"

# What each test below proves, so that an action added to audit.actions without its test fails.
TESTED = {
    "test_accounts": ("account.registered", "account.created", "account.updated"),
    "test_venues_and_spaces": (
        "venue.created",
        "venue.updated",
        "venue.opening_hours_set",
        "space.created",
        "space.updated",
    ),
    "test_closures": ("closure.created", "closure.removed"),
    "test_slots": ("slot.created", "slot.blocked", "slot.unblocked"),
    "test_bookings_and_the_waitlist": (
        "booking.created",
        "booking.cancelled",
        "booking.offered",
        "booking.confirmed",
        "booking.expired",
    ),
    "test_the_door": ("booking.checked_in", "booking.check_in_undone", "booking.checked_out", "booking.qr_reissued"),
    "test_no_shows_and_suspension": ("booking.no_show", "account.suspended"),
    "test_programmes_and_sessions": ("program.created", "program.updated", "session.moved", "booking.moved"),
    "test_a_cancelled_session": ("session.cancelled",),
    "test_lottery": ("application.submitted", "program.drawn"),
}


def test_every_action_has_its_test() -> None:
    tested = [a for actions in TESTED.values() for a in actions]
    assert sorted(set(tested)) == sorted(ACTIONS)


async def log(client: Client, reader: Account, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/audit", params={"limit": 500, **params}, headers=reader.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def the_entry(client: Client, admin: Account, action: str, **params: Any) -> dict[str, Any]:
    """The one entry of ``action`` (for the given subject): exactly one, as each change is recorded once."""
    found = await log(client, admin, action=action, **params)
    assert len(found) == 1, found
    return found[0]


def by(entry: dict[str, Any], actor: Account | None, venue_id: int | None) -> None:
    """The entry names the actor (None: the system) and the venue; requests leave their address."""
    if actor is None:
        assert (entry["actor_id"], entry["actor_role"]) == (None, "system")
    else:
        assert (entry["actor_id"], entry["actor_role"]) == (actor.id, actor.user.role)
        assert entry["address"] == TEST_ADDRESS
    assert entry["venue_id"] == venue_id
    assert entry["at"].endswith("+09:00")


@pytest.fixture
async def admin(make_user: MakeUser) -> Account:
    return await make_user(role="admin")


async def test_accounts(client: Client, admin: Account, make_venue: MakeVenue) -> None:
    registered = await client.post("/api/auth/register", json=registration(email="audit@example.com"))
    assert registered.status_code == 201, registered.text
    citizen_id = registered.json()["id"]
    entry = await the_entry(client, admin, "account.registered", subject_id=citizen_id)
    # Nobody was signed in: the new account is its own actor.
    assert (entry["actor_id"], entry["actor_role"], entry["address"]) == (citizen_id, "citizen", TEST_ADDRESS)
    assert (entry["subject_kind"], entry["venue_id"]) == ("account", None)

    venue = await make_venue()
    body = {"email": "park@example.com", "password": "Staff-pass-4050", "name": "박직원", "role": "staff"}
    created = await client.post("/api/users", json={**body, "venue_ids": [venue.id]}, headers=admin.headers)
    assert created.status_code == 201, created.text
    staff_id = created.json()["id"]
    entry = await the_entry(client, admin, "account.created", subject_id=staff_id)
    by(entry, admin, None)
    assert entry["details"] == {"role": "staff", "venue_ids": [venue.id]}

    changed = await client.patch(
        f"/api/users/{staff_id}", json={"role": "manager", "password": "New-pass-4050x"}, headers=admin.headers
    )
    assert changed.status_code == 200, changed.text
    entry = await the_entry(client, admin, "account.updated", subject_id=staff_id)
    by(entry, admin, None)
    assert entry["details"]["fields"] == ["password", "role"]
    assert entry["details"]["role"] == {"from": "staff", "to": "manager"}
    assert "New-pass" not in str(entry)  # never the password


async def test_venues_and_spaces(client: Client, admin: Account, make_user: MakeUser) -> None:
    body = {
        "slug": "audit-plaza",
        "kind": "digital_plaza",
        "name": "감사 플라자",
        "name_en": "Audit plaza",
        "district": "gangbuk",
        "address": "서울특별시 강북구 1",
    }
    created = await client.post("/api/venues", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    venue_id = created.json()["id"]
    by(await the_entry(client, admin, "venue.created", subject_id=venue_id), admin, venue_id)

    manager = await make_user(role="manager", venues=[])
    await client.patch(f"/api/users/{manager.id}", json={"venue_ids": [venue_id]}, headers=admin.headers)
    patched = await client.patch(f"/api/venues/{venue_id}", json={"name": "새 이름"}, headers=manager.headers)
    assert patched.status_code == 200, patched.text
    entry = await the_entry(client, admin, "venue.updated", subject_id=venue_id)
    by(entry, manager, venue_id)
    assert entry["details"] == {"fields": ["name"]}

    hours = [{"weekday": 0, "opens": "09:00", "closes": "18:00"}]
    put = await client.put(f"/api/venues/{venue_id}/opening-hours", json=hours, headers=manager.headers)
    assert put.status_code == 200, put.text
    entry = await the_entry(client, admin, "venue.opening_hours_set", subject_id=venue_id)
    by(entry, manager, venue_id)
    assert entry["details"] == {"hours": ["0 09:00-18:00"]}

    space_body = {
        "slug": "room",
        "kind": "classroom",
        "shape": "shared",
        "name": "교실",
        "name_en": "Classroom",
        "capacity": 10,
        "slot_minutes": 60,
    }
    space = await client.post(f"/api/venues/{venue_id}/spaces", json=space_body, headers=manager.headers)
    assert space.status_code == 201, space.text
    space_id = space.json()["id"]
    by(await the_entry(client, admin, "space.created", subject_id=space_id), manager, venue_id)
    patched = await client.patch(f"/api/spaces/{space_id}", json={"capacity": 12}, headers=manager.headers)
    assert patched.status_code == 200, patched.text
    entry = await the_entry(client, admin, "space.updated", subject_id=space_id)
    by(entry, manager, venue_id)
    assert entry["details"] == {"fields": ["capacity"]}


async def test_closures(
    client: Client, admin: Account, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space()
    manager = await make_user(role="manager", venues=[await _venue_of(space)])
    slot = await make_slot(space, start=in_days(3))
    citizen = await make_user()
    booked = (await book(client, citizen.headers, slot_id=slot.id)).json()
    day = in_days(3).date().isoformat()
    body = {"start_date": day, "end_date": day, "reason": "=정기 점검"}
    closed = await client.post(f"/api/venues/{space.venue_id}/closures", json=body, headers=manager.headers)
    assert closed.status_code == 201, closed.text
    closure_id = closed.json()["id"]
    entry = await the_entry(client, admin, "closure.created", subject_id=closure_id)
    by(entry, manager, space.venue_id)
    assert entry["details"]["reason"] == "=정기 점검"
    # The booking it cancelled is recorded too, in the manager's name, with the reason.
    cancelled = await the_entry(client, admin, "booking.cancelled", subject_id=booked["id"])
    by(cancelled, manager, space.venue_id)
    assert cancelled["details"]["reason"] == "closure"

    removed = await client.delete(f"/api/venues/{space.venue_id}/closures/{closure_id}", headers=manager.headers)
    assert removed.status_code == 204, removed.text
    by(await the_entry(client, admin, "closure.removed", subject_id=closure_id), manager, space.venue_id)


async def _venue_of(space: Any) -> Any:
    class Ref:
        id = space.venue_id

    return Ref()


async def test_slots(client: Client, admin: Account, make_space: MakeSpace, make_user: MakeUser) -> None:
    space = await make_space()
    manager = await make_user(role="manager", venues=[await _venue_of(space)])
    staff = await make_user(role="staff", venues=[await _venue_of(space)])
    start = in_days(3, time(20))
    body = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    created = await client.post(f"/api/spaces/{space.id}/slots", json=body, headers=manager.headers)
    assert created.status_code == 201, created.text
    slot_id = created.json()["id"]
    by(await the_entry(client, admin, "slot.created", subject_id=slot_id), manager, space.venue_id)
    blocked = await client.post(f"/api/slots/{slot_id}/block", json={"note": "결강"}, headers=staff.headers)
    assert blocked.status_code == 200, blocked.text
    entry = await the_entry(client, admin, "slot.blocked", subject_id=slot_id)
    by(entry, staff, space.venue_id)
    assert entry["details"] == {"note": "결강"}
    assert (await client.post(f"/api/slots/{slot_id}/unblock", headers=staff.headers)).status_code == 200
    by(await the_entry(client, admin, "slot.unblocked", subject_id=slot_id), staff, space.venue_id)
    # Blocking what is open again is recorded again; unblocking an open slot changes nothing and is not.
    assert (await client.post(f"/api/slots/{slot_id}/unblock", headers=staff.headers)).status_code == 200
    assert len(await log(client, admin, action="slot.unblocked")) == 1


async def test_bookings_and_the_waitlist(
    client: Client,
    db: Database,
    admin: Account,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:
    town = await make_venue(kind="vitality_town", opens_on_holidays=True)  # offers freed places for a day
    room = await make_space(town, kind="meditation_room", shape="exclusive", capacity=6, max_party=6)
    slot = await make_slot(room, start=in_days(4))
    first, second, third = await make_user(), await make_user(), await make_user()
    held = (await book(client, first.headers, slot_id=slot.id, party_size=2)).json()
    entry = await the_entry(client, admin, "booking.created", subject_id=held["id"])
    by(entry, first, town.id)
    assert entry["details"] == {"from": None, "to": "confirmed", "reason": "booked", "party_size": 2}
    queued = (await book(client, second.headers, slot_id=slot.id, party_size=3, join_waitlist=True)).json()
    late = (await book(client, third.headers, slot_id=slot.id, join_waitlist=True)).json()
    assert (await the_entry(client, admin, "booking.created", subject_id=queued["id"]))["details"]["to"] == "waitlisted"
    # A refused booking leaves no entry: the entry is in the refused change's transaction.
    assert (await book(client, first.headers, slot_id=slot.id)).status_code == 409
    assert len(await log(client, admin, action="booking.created")) == 3

    assert (await client.post(f"/api/bookings/{held['id']}/cancel", headers=first.headers)).status_code == 200
    by(await the_entry(client, admin, "booking.cancelled", subject_id=held["id"]), first, town.id)
    # The freed place was offered by the system, after the cancellation's commit.
    offered = await the_entry(client, admin, "booking.offered", subject_id=queued["id"])
    by(offered, None, town.id)
    assert offered["address"] == TEST_ADDRESS  # in the request that freed the place
    assert (await client.post(f"/api/bookings/{queued['id']}/accept", headers=second.headers)).status_code == 200
    entry = await the_entry(client, admin, "booking.confirmed", subject_id=queued["id"])
    by(entry, second, town.id)
    assert entry["details"]["reason"] == "offer_accepted"

    # An offer left to run out expires by the scheduled job: the system, from no address.
    assert (await client.post(f"/api/bookings/{queued['id']}/cancel", headers=second.headers)).status_code == 200
    assert (await the_entry(client, admin, "booking.offered", subject_id=late["id"]))["actor_role"] == "system"
    assert await jobs.expire_offers(db.engine, db.settings, utcnow() + timedelta(days=2)) == 1
    expired = await the_entry(client, admin, "booking.expired", subject_id=late["id"])
    by(expired, None, town.id)
    assert expired["address"] is None


async def test_the_door(client: Client, admin: Account, door: Door, make_user: MakeUser) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    reissued = await client.post(f"/api/bookings/{booking.id}/qr/reissue", headers=citizen.headers)
    assert reissued.status_code == 200, reissued.text
    by(await the_entry(client, admin, "booking.qr_reissued", subject_id=booking.id), citizen, door.venue.id)
    code = await code_of(client, citizen, booking.id)
    assert (await door.scan(client, code))["result"] == "checked_in"
    by(await the_entry(client, admin, "booking.checked_in", subject_id=booking.id), door.staff, door.venue.id)
    undone = await client.post(f"/api/bookings/{booking.id}/undo-check-in", headers=door.staff.headers)
    assert undone.status_code == 200, undone.text
    by(await the_entry(client, admin, "booking.check_in_undone", subject_id=booking.id), door.staff, door.venue.id)
    assert (await door.scan(client, code))["result"] == "checked_in"
    out = await client.post(f"/api/bookings/{booking.id}/check-out", headers=door.staff.headers)
    assert out.status_code == 200, out.text
    by(await the_entry(client, admin, "booking.checked_out", subject_id=booking.id), door.staff, door.venue.id)
    assert len(await log(client, admin, action="booking.checked_in", subject_id=booking.id)) == 2


async def test_no_shows_and_suspension(
    client: Client,
    db: Database,
    admin: Account,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:
    venue = await make_venue(rules={"no_show_limit": 1})
    space = await make_space(venue)
    slot = await make_slot(space, start=in_days(2))
    citizen = await make_user()
    booked = (await book(client, citizen.headers, slot_id=slot.id)).json()
    assert await jobs.mark_no_shows(db.engine, db.settings, in_days(2) + timedelta(hours=2)) == 1
    by(await the_entry(client, admin, "booking.no_show", subject_id=booked["id"]), None, venue.id)
    entry = await the_entry(client, admin, "account.suspended", subject_id=citizen.id)
    by(entry, None, None)
    assert entry["details"]["no_shows"] == 1


async def test_programmes_and_sessions(
    client: Client, admin: Account, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(kind="digital_plaza", hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, kind="classroom", capacity=20)
    manager = await make_user(role="manager", venues=[venue])
    created = await client.post("/api/programs", json=programme(venue.id, space.id), headers=manager.headers)
    assert created.status_code == 201, created.text
    program = created.json()
    by(await the_entry(client, admin, "program.created", subject_id=program["id"]), manager, venue.id)
    patched = await client.patch(f"/api/programs/{program['id']}", json={"title": "새 제목"}, headers=manager.headers)
    assert patched.status_code == 200, patched.text
    entry = await the_entry(client, admin, "program.updated", subject_id=program["id"])
    by(entry, manager, venue.id)
    assert entry["details"] == {"fields": ["title"]}

    session = next(s for s in program["sessions"] if s["status"] == "scheduled")
    citizen = await make_user(birth_year=utcnow().year - 55)
    booked = (await book(client, citizen.headers, slot_id=session["slot_id"])).json()
    start = in_days(6, time(10))
    body = {"start": start.isoformat(), "end": (start + timedelta(minutes=90)).isoformat()}
    moved = await client.post(
        f"/api/programs/{program['id']}/sessions/{session['id']}/move", json=body, headers=manager.headers
    )
    assert moved.status_code == 200, moved.text
    entry = await the_entry(client, admin, "session.moved", subject_id=session["id"])
    by(entry, manager, venue.id)
    assert entry["details"]["program_id"] == program["id"]
    by(await the_entry(client, admin, "booking.moved", subject_id=booked["id"]), manager, venue.id)


async def test_a_cancelled_session(
    client: Client, admin: Account, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(kind="digital_plaza", hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, kind="classroom", capacity=20)
    manager = await make_user(role="manager", venues=[venue])
    program = (await client.post("/api/programs", json=programme(venue.id, space.id), headers=manager.headers)).json()
    session = next(s for s in program["sessions"] if s["status"] == "scheduled")
    citizen = await make_user(birth_year=utcnow().year - 55)
    booked = (await book(client, citizen.headers, slot_id=session["slot_id"])).json()
    url = f"/api/programs/{program['id']}/sessions/{session['id']}/cancel"
    assert (await client.post(url, headers=manager.headers)).status_code == 200
    by(await the_entry(client, admin, "session.cancelled", subject_id=session["id"]), manager, venue.id)
    cancelled = await the_entry(client, admin, "booking.cancelled", subject_id=booked["id"])
    assert cancelled["details"]["reason"] == "session_cancelled"
    assert (await client.post(url, headers=manager.headers)).status_code == 200  # again: nothing changes
    assert len(await log(client, admin, action="session.cancelled")) == 1


async def test_lottery(
    client: Client, db: Database, admin: Account, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(kind="digital_plaza", hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, kind="classroom", capacity=20)
    body = programme(venue.id, space.id, allocation="lottery", enrolment="course", min_age=None)
    program = (await client.post("/api/programs", json=body, headers=admin.headers)).json()
    citizen = await make_user()
    applied = await client.post(
        f"/api/programs/{program['id']}/applications", json={"party_size": 1}, headers=citizen.headers
    )
    assert applied.status_code == 201, applied.text
    entry = await the_entry(client, admin, "application.submitted", subject_id=applied.json()["id"])
    by(entry, citizen, venue.id)
    assert entry["details"] == {"program_id": program["id"], "party_size": 1}
    assert await jobs.draw_lotteries(db.engine, db.settings, utcnow() + timedelta(days=4)) == 1
    drawn = await the_entry(client, admin, "program.drawn", subject_id=program["id"])
    by(drawn, None, venue.id)
    assert drawn["details"] == {"entries": 1, "winners": 1}
    won = await log(client, admin, action="booking.created", venue_id=venue.id)
    assert won
    assert all(e["actor_role"] == "system" and e["details"]["reason"] == "lottery_won" for e in won)


# --- who reads what ------------------------------------------------------------------------------


async def test_staff_and_managers_read_their_venues_entries_only(
    client: Client, admin: Account, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    here, there = await make_space(), await make_space()
    staff_here = await make_user(role="staff", venues=[await _venue_of(here)])
    manager_there = await make_user(role="manager", venues=[await _venue_of(there)])
    citizen = await make_user()
    for days, space in enumerate((here, there), start=2):
        slot = await make_slot(space, start=in_days(days))
        assert (await book(client, citizen.headers, slot_id=slot.id)).status_code == 201
    assert {e["venue_id"] for e in await log(client, admin)} >= {here.venue_id, there.venue_id}
    assert {e["venue_id"] for e in await log(client, staff_here)} == {here.venue_id}
    assert {e["venue_id"] for e in await log(client, manager_there)} == {there.venue_id}
    # Asking for the other venue by name is refused rather than answered empty.
    response = await client.get("/api/audit", params={"venue_id": there.venue_id}, headers=staff_here.headers)
    assert_problem(response, 403, "forbidden")
    assert_problem(await client.get("/api/audit", headers=citizen.headers), 403, "forbidden")
    assert_problem(await client.get("/api/audit"), 401, "unauthenticated")
    instructor = await make_user(role="instructor")
    assert_problem(await client.get("/api/audit", headers=instructor.headers), 403, "forbidden")


async def test_filters_and_pages(
    client: Client, admin: Account, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space()
    citizens = [await make_user() for _ in range(3)]
    slot = await make_slot(space)
    for citizen in citizens:
        assert (await book(client, citizen.headers, slot_id=slot.id)).status_code == 201
    page = (
        await client.get("/api/audit", params={"limit": 2, "venue_id": space.venue_id}, headers=admin.headers)
    ).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (3, 2, 0, 2)
    assert page["items"][0]["id"] > page["items"][1]["id"]  # newest first
    mine = await log(client, admin, actor_id=citizens[1].id)
    assert [e["actor_id"] for e in mine] == [citizens[1].id]
    today = utcnow().date()
    assert len(await log(client, admin, subject_kind="booking", **{"from": str(today - timedelta(days=1))})) == 3
    assert await log(client, admin, **{"to": str(today - timedelta(days=2))}) == []
    assert_problem(
        await client.get("/api/audit", params={"limit": 501}, headers=admin.headers), 400, "validation_error"
    )


async def test_csv_opens_in_a_spreadsheet_with_its_hangul(
    client: Client, admin: Account, make_space: MakeSpace, make_user: MakeUser
) -> None:
    space = await make_space()
    manager = await make_user(role="manager", venues=[await _venue_of(space)])
    day = in_days(3).date().isoformat()
    body = {"start_date": day, "end_date": day, "reason": '=HYPERLINK("x") 정기 점검'}
    assert (
        await client.post(f"/api/venues/{space.venue_id}/closures", json=body, headers=manager.headers)
    ).status_code == 201
    for params, headers in (({"format": "csv"}, {}), ({}, {"Accept": "text/csv"})):
        response = await client.get("/api/audit", params=params, headers={**manager.headers, **headers})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0][:6] == ["id", "at", "actor_id", "actor_role", "address", "action"]
        [row] = [r for r in rows[1:] if r[5] == "closure.created"]
        assert row[3] == "manager"
        assert "정기 점검" in row[9]
        assert response.headers["x-total-count"] == str(len(rows) - 1)
    # A cell that would start with a formula is written as text.
    json_page = await log(client, manager, action="closure.created")
    assert json_page[0]["details"]["reason"].startswith("=")


# --- nothing changes an entry ------------------------------------------------------------------------


async def test_no_route_changes_an_entry(
    client: Client, admin: Account, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space()
    citizen = await make_user()
    assert (await book(client, citizen.headers, slot_id=(await make_slot(space)).id)).status_code == 201
    [entry] = await log(client, admin, action="booking.created", venue_id=space.venue_id)
    schema = (await client.get("/schema/openapi.json")).json()
    audit_paths = [p for p in schema["paths"] if "/audit" in p]
    assert audit_paths == ["/api/audit"]
    assert {m for p in audit_paths for m in schema["paths"][p]} == {"get"}
    for path in (*audit_paths, f"/api/audit/{entry['id']}"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = await client.request(method, path, headers=admin.headers, json={"action": "x"})
            assert response.status_code in (404, 405), (method, path, response.status_code)
    assert await log(client, admin, action="booking.created", venue_id=space.venue_id) == [entry]


async def _refused(db: Database, statement: Any) -> None:
    with pytest.raises((IntegrityError, DBAPIError)) as refused:
        async with unit_of_work(db.engine) as session:
            await session.execute(statement)
    assert "append-only" in str(refused.value)


async def test_the_database_refuses_to_change_or_delete_an_entry(db: Database) -> None:
    async with unit_of_work(db.engine) as session:
        await record(session, "venue.updated", "venue", 1, venue_id=1, details={"fields": ["name"]})
    async with unit_of_work(db.engine) as session:  # written with the commit (core.database.write_at_commit)
        entry_id = await session.scalar(select(func.max(AuditEntry.id)))
    assert entry_id is not None
    await _refused(db, update(AuditEntry).where(AuditEntry.id == entry_id).values(action="venue.created"))
    await _refused(db, delete(AuditEntry).where(AuditEntry.id == entry_id))
    await _refused(db, text("DELETE FROM audit_entry"))
    if db.backend == "postgres":  # SQLite has no TRUNCATE
        await _refused(db, text("TRUNCATE audit_entry"))
    async with unit_of_work(db.engine) as session:
        kept = await session.get(AuditEntry, entry_id)
        assert kept is not None
        assert kept.action == "venue.updated"
        # Appending still works.
        await record(session, "venue.updated", "venue", 1, venue_id=1)
    async with unit_of_work(db.engine) as session:
        assert await session.scalar(text("SELECT count(*) FROM audit_entry")) == 2


async def test_an_entry_rolls_back_with_its_change(db: Database) -> None:
    async def failing_change() -> None:
        async with unit_of_work(db.engine) as session:
            await record(session, "venue.updated", "venue", 1, venue_id=1)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with unit_of_work(db.engine) as session:
        assert await session.scalar(text("SELECT count(*) FROM audit_entry")) == 0


async def test_behind_a_trusted_proxy_the_address_is_the_client_it_names(
    db: Database, admin: Account, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    """The address is read as the abuse limits read it (core.clients): X-Forwarded-For only from a proxy
    this deployment trusts; from anyone else, the peer itself."""
    app = create_app(dataclasses.replace(db.settings, trusted_proxies=("127.0.0.1",)), engine=db.engine)
    space = await make_space()
    citizen, other = await make_user(), await make_user()
    forwarded = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}
    for peer, account in (("127.0.0.1", citizen), ("192.0.2.1", other)):
        slot = await make_slot(space, start=in_days(2 + int(account is other)))
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as proxied:
            headers = {**account.headers, **forwarded}
            answer = await proxied.post("/api/bookings", json={"slot_id": slot.id, "party_size": 1}, headers=headers)
            assert answer.status_code == 201, answer.text
            [entry] = (await proxied.get("/api/audit", params={"actor_id": account.id}, headers=admin.headers)).json()[
                "items"
            ]
        assert entry["address"] == ("203.0.113.7" if peer == "127.0.0.1" else "192.0.2.1")
