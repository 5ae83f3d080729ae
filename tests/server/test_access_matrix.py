"""Who may call what: every operation of the app's OpenAPI document × every kind of caller.

The operations come from the document itself (``app.openapi_schema``), so a new endpoint without its row
in ``ACCESS`` fails ``test_every_operation_has_its_row``. For each operation a fresh world is made (a
venue and another one, a space, slots, a booking, a programme with a session and an instructor, a
closure, a notice and its outbox message, a feed) and each caller calls it with the world's ids in the
path and a valid body:

- allowed: anything but 401 and 403 (a 404, 409 or 400 means the call got past the access check), and
  never a 5xx;
- refused: 401 for an anonymous caller, 403 for everyone else, or 404 where the API hides that the
  thing exists (``hidden``: another person's booking, notice or feed, whose id must not be probed).

The callers: ``citizen`` is the holder of the world's booking (and owner of its notice and feed);
``staff`` and ``manager`` work at the world's venue, ``*_elsewhere`` at another one; ``instructor``
teaches the world's programme.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.database import unit_of_work
from notifications.models import OutboxMessage
from server.app import create_app
from tests.accounts.test_auth_http import registration
from tests.booking.conftest import Client
from tests.conftest import PASSWORD, Account, Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, _settings, in_days
from tests.programs.test_programs_http import programme

NONE = "none"
ROLES = ("none", "citizen", "staff", "staff_elsewhere", "manager", "manager_elsewhere", "instructor", "admin")
HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Access:
    allowed: frozenset[str]
    # Refused with 404 rather than 403: the API does not say that the thing exists.
    hidden: frozenset[str] = frozenset()


def access(*allowed: str, hidden: tuple[str, ...] = ()) -> Access:
    return Access(frozenset(allowed), frozenset(hidden))


PUBLIC = access(*ROLES)
SIGNED_IN = access(*ROLES[1:])
ADMIN = access("admin")
MANAGERS_HERE = access("manager", "admin")
STAFF_HERE = access("staff", "manager", "admin")
# Another person's booking is not found, whoever asks (no probing of ids).
NOT_THE_HOLDER = ("staff_elsewhere", "manager_elsewhere", "instructor")
HOLDER_OR_STAFF = access("citizen", "staff", "manager", "admin", hidden=NOT_THE_HOLDER)
HOLDER_ONLY = access(
    "citizen", hidden=("staff", "staff_elsewhere", "manager", "manager_elsewhere", "instructor", "admin")
)
# What belongs to the caller (notices, feeds) is looked up among the caller's own: another's is not found.
OWN_THINGS = access(
    "citizen", hidden=("staff", "staff_elsewhere", "manager", "manager_elsewhere", "instructor", "admin")
)

ACCESS: dict[str, Access] = {
    # system and accounts
    "health": PUBLIC,
    # The metrics token (none here) or an admin's token.
    "metrics": ADMIN,
    "login": PUBLIC,
    "register": PUBLIC,
    "logout": SIGNED_IN,
    "me": SIGNED_IN,
    "listUsers": ADMIN,
    "createUser": ADMIN,
    "getUser": ADMIN,
    "updateUser": ADMIN,
    # the venue catalogue: read by anyone, edited by the venue's managers
    "listVenues": PUBLIC,
    "getVenue": PUBLIC,
    "venueDays": PUBLIC,
    "listClosures": PUBLIC,
    "getSpace": PUBLIC,
    "listDistricts": PUBLIC,
    "spaceAvailability": PUBLIC,
    "venueAvailability": PUBLIC,
    "createVenue": ADMIN,
    "updateVenue": MANAGERS_HERE,
    "setOpeningHours": MANAGERS_HERE,
    "createSpace": MANAGERS_HERE,
    "updateSpace": MANAGERS_HERE,
    "createClosure": MANAGERS_HERE,
    "deleteClosure": MANAGERS_HERE,
    "previewClosure": MANAGERS_HERE,
    "venueTeam": STAFF_HERE,
    # bookings
    "createBooking": SIGNED_IN,  # the engine's rules decide (409), not a role
    "getBooking": HOLDER_OR_STAFF,
    "bookingHistory": HOLDER_OR_STAFF,
    "cancelBooking": HOLDER_OR_STAFF,
    "acceptOffer": HOLDER_ONLY,
    "myBookings": SIGNED_IN,
    "myStanding": SIGNED_IN,
    # a venue's day
    "venueBookings": STAFF_HERE,
    "createSlot": MANAGERS_HERE,
    "blockSlot": STAFF_HERE,
    "unblockSlot": STAFF_HERE,
    # notices
    "myNotices": SIGNED_IN,
    "readNotice": OWN_THINGS,
    "myNotificationPreferences": SIGNED_IN,
    "setMyNotificationPreferences": SIGNED_IN,
    "listOutbox": ADMIN,
    "retryOutboxMessage": ADMIN,
    # programmes
    "listPrograms": PUBLIC,
    "getProgram": PUBLIC,
    "lotteryDraw": PUBLIC,
    "createProgram": MANAGERS_HERE,
    "updateProgram": MANAGERS_HERE,
    "moveSession": MANAGERS_HERE,
    "cancelSession": MANAGERS_HERE,
    "mySessions": access("staff", "staff_elsewhere", "manager", "manager_elsewhere", "instructor", "admin"),
    "sessionRoster": access("staff", "manager", "instructor", "admin"),
    "enrolInCourse": SIGNED_IN,
    "applyToLottery": SIGNED_IN,
    "myApplication": SIGNED_IN,
    # check-in
    "bookingQrPng": HOLDER_ONLY,
    "bookingQrSvg": HOLDER_ONLY,
    "bookingQrText": HOLDER_ONLY,
    "reissueQr": HOLDER_ONLY,
    "checkOut": STAFF_HERE,
    "undoCheckIn": STAFF_HERE,
    "scan": STAFF_HERE,
    "checkinSync": STAFF_HERE,
    "checkinManifest": STAFF_HERE,
    "walkIn": STAFF_HERE,
    # calendar feeds: the secret url is the credential
    "listFeeds": SIGNED_IN,
    "createFeed": STAFF_HERE,  # a feed of the venue: its staff and managers
    "revokeFeed": OWN_THINGS,
    "calendarFeed": PUBLIC,
    "calendarFeedHead": PUBLIC,
    # the audit log (each reader sees their venues' entries) and reports
    "listAuditEntries": access("staff", "staff_elsewhere", "manager", "manager_elsewhere", "admin"),
    "bookingReport": access("manager", "manager_elsewhere", "admin"),
}


def _document(app: Any) -> dict[str, tuple[str, str]]:
    """operationId → (method, path), from the app's OpenAPI document."""
    schema = app.openapi_schema.to_schema()
    return {
        operation["operationId"]: (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in HTTP_METHODS
    }


# Collected from an app that never touches its (in-memory) database.
OPERATIONS = sorted(_document(create_app(_settings("sqlite+aiosqlite:///:memory:"))))


def test_every_operation_has_its_row() -> None:
    document = _document(create_app(_settings("sqlite+aiosqlite:///:memory:")))
    assert sorted(set(document) - set(ACCESS)) == [], "new endpoint without its row in ACCESS"
    assert sorted(set(ACCESS) - set(document)) == [], "a row for an endpoint that is gone"
    for operation_id, row in ACCESS.items():
        assert row.allowed <= set(ROLES), operation_id
        assert not row.allowed & row.hidden, operation_id
        assert NONE not in row.hidden, operation_id  # an anonymous caller is told to log in


@dataclass
class World:
    callers: dict[str, Account | None]
    params: dict[str, Any]
    free_slot_id: int
    values: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
async def world(
    client: Client,
    db: Database,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> World:
    venue = await make_venue(kind="digital_plaza", hours=[(d, "09:00", "22:00") for d in range(7)])
    elsewhere = await make_venue()
    space = await make_space(venue, kind="classroom", capacity=20, max_party=4)
    slot = await make_slot(space, start=in_days(2, time(10)))
    free = await make_slot(space, start=in_days(3, time(10)))
    citizen, instructor, admin = await make_user(), await make_user(role="instructor"), await make_user(role="admin")
    callers: dict[str, Account | None] = {
        "none": None,
        "citizen": citizen,
        "staff": await make_user(role="staff", venues=[venue]),
        "staff_elsewhere": await make_user(role="staff", venues=[elsewhere]),
        "manager": await make_user(role="manager", venues=[venue]),
        "manager_elsewhere": await make_user(role="manager", venues=[elsewhere]),
        "instructor": instructor,
        "admin": admin,
    }

    async def made(response: Any) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()

    booking = await made(
        await client.post("/api/bookings", json={"slot_id": slot.id, "party_size": 1}, headers=citizen.headers)
    )
    body = programme(venue.id, space.id, instructor_ids=[instructor.id], min_age=None)
    program = await made(await client.post("/api/programs", json=body, headers=admin.headers))
    day = in_days(40).date().isoformat()
    closure = await made(
        await client.post(
            f"/api/venues/{venue.id}/closures",
            json={"start_date": day, "end_date": day, "reason": "점검"},
            headers=admin.headers,
        )
    )
    notices = await made(await client.get("/api/me/notices", headers=citizen.headers))
    feed = await made(await client.post("/api/feeds", json={"scope": "me"}, headers=citizen.headers))
    async with unit_of_work(db.engine) as session:
        message_id = await session.scalar(select(OutboxMessage.id).where(OutboxMessage.user_id == citizen.id))
    return World(
        callers=callers,
        params={
            "venue_id": venue.id,
            "space_id": space.id,
            "slot_id": slot.id,
            "booking_id": booking["id"],
            "closure_id": closure["id"],
            "program_id": program["id"],
            "session_id": program["sessions"][0]["id"],
            "user_id": citizen.id,
            "notice_id": notices["items"][0]["id"],
            "message_id": message_id,
            "feed_id": feed["id"],
            "filename": feed["url"].rsplit("/", 1)[1],
        },
        free_slot_id=free.id,
        values={"email": citizen.user.email},
    )


def _at(days: int, hour: int) -> tuple[str, str]:
    start = in_days(days, time(hour))
    return start.isoformat(), (start + timedelta(hours=1)).isoformat()


def _body(operation_id: str, world: World) -> Any:
    """A valid body for each operation that takes one, so that refusals come from the access check."""
    venue_id = world.params["venue_id"]
    unique = uuid.uuid4().hex[:8]
    start, end = _at(5, 20)
    bodies: dict[str, Callable[[], Any]] = {
        "login": lambda: {"email": world.values["email"], "password": PASSWORD},
        "register": lambda: registration(email=f"new-{unique}@example.com"),
        "createUser": lambda: {
            "email": f"u-{unique}@example.com",
            "password": "Made-by-admin-4050",
            "name": "새 직원",
            "role": "citizen",
        },
        "updateUser": lambda: {"name": "새 이름"},
        "createVenue": lambda: {
            "slug": f"v-{unique}",
            "kind": "practice_site",
            "name": "새 장소",
            "name_en": "New venue",
            "district": "jongno",
            "address": "서울특별시 종로구 1",
        },
        "updateVenue": lambda: {"name": "새 이름"},
        "setOpeningHours": lambda: [{"weekday": d, "opens": "09:00", "closes": "22:00"} for d in range(7)],
        "createSpace": lambda: {
            "slug": f"s-{unique}",
            "kind": "classroom",
            "shape": "shared",
            "name": "새 교실",
            "name_en": "New classroom",
            "capacity": 5,
            "slot_minutes": 60,
        },
        "updateSpace": lambda: {"name": "새 교실"},
        "createClosure": lambda: {
            "start_date": in_days(50).date().isoformat(),
            "end_date": in_days(50).date().isoformat(),
            "reason": "점검",
        },
        "previewClosure": lambda: {
            "start_date": in_days(50).date().isoformat(),
            "end_date": in_days(50).date().isoformat(),
            "reason": "점검",
        },
        "createBooking": lambda: {"slot_id": world.free_slot_id, "party_size": 1},
        "createSlot": lambda: {"start": start, "end": end},
        "blockSlot": lambda: {"note": "점검"},
        "setMyNotificationPreferences": lambda: {"email": True, "sms": False},
        "createProgram": lambda: programme(venue_id, world.params["space_id"], min_age=None),
        "updateProgram": lambda: {"title": "새 제목"},
        "moveSession": lambda: dict(zip(("start", "end"), _at(6, 20), strict=True)),
        "enrolInCourse": lambda: {"party_size": 1},
        "applyToLottery": lambda: {"party_size": 1},
        "scan": lambda: {"payload": "not-a-code", "venue_id": venue_id},
        "checkinSync": lambda: {"venue_id": venue_id, "device_id": "door-1", "scans": []},
        "walkIn": lambda: {"slot_id": world.free_slot_id, "name": "홍길동", "party_size": 1},
        "createFeed": lambda: {"scope": "venue", "target_id": venue_id},
    }
    return bodies[operation_id]() if operation_id in bodies else None


def _path(template: str, world: World) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(world.params[m.group(1)]), template)


@pytest.mark.parametrize("operation_id", OPERATIONS)
async def test_who_may_call(operation_id: str, client: Client, world: World) -> None:
    method, template = _document(client.app)[operation_id]
    row = ACCESS[operation_id]
    path = _path(template, world)
    body = _body(operation_id, world)
    wrong = []
    # The refused first: a refusal must change nothing, so the allowed calls after them find the world intact.
    for role in sorted(ROLES, key=lambda r: r in row.allowed):
        caller = world.callers[role]
        headers = caller.headers if caller is not None else {}
        response = await client.request(method, path, headers=headers, **({"json": body} if body is not None else {}))
        status = response.status_code
        if role in row.allowed:
            expected = "not 401/403"
            ok = status not in (401, 403) and status < 500
        else:
            want = 401 if role == NONE else 404 if role in row.hidden else 403
            expected, ok = str(want), status == want
        if not ok:
            wrong.append(f"{role}: {status}, expected {expected}: {response.text[:160]}")
    assert wrong == [], f"{method} {template} ({operation_id})"
