"""A door's repeated scan answered from memory (``server.fast_lane``): the route's own answer, for
answers that wrote nothing and that the clock does not change, and never once anything is written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from checkin.keys import key_ring
from checkin.models import CheckinKey
from core.catalogue_version import REPEATABLE_HEADER
from core.clock import utcnow
from core.database import unit_of_work
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client
from tests.booking.test_rush_fast_lane import statements_of
from tests.checkin.door import Door, code_of
from tests.conftest import Database, MakeUser, MakeVenue


async def scan(client: Client, door: Door, payload: str, **headers: str) -> Any:
    body = {"payload": payload, "venue_id": door.venue.id}
    return await client.post("/api/checkin/scan", json=body, headers={**door.staff.headers, **headers})


async def remembered(client: Client, door: Door, make_user: MakeUser) -> tuple[Any, str]:
    """A booking checked in at the door, and its code scanned once more (an answer now remembered)."""
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    code = await code_of(client, citizen, booking.id)
    assert (await scan(client, door, code)).json()["result"] == "checked_in"
    assert (await scan(client, door, code)).json()["result"] == "already_checked_in"
    return booking, code


async def test_a_repeated_scan_is_answered_again_without_the_database(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    citizen = await make_user(name="박지영")
    booking = await door.booking(citizen, timedelta(minutes=10))
    code = await code_of(client, citizen, booking.id)
    first = await scan(client, door, code)
    assert first.json()["result"] == "checked_in"
    assert REPEATABLE_HEADER not in first.headers
    second = await scan(client, door, code)  # the route's answer, kept
    assert second.json()["result"] == "already_checked_in"
    assert REPEATABLE_HEADER not in second.headers  # the mark never reaches the client
    first_again = await scan(client, door, code)  # from memory: who asks is read once per version
    with statements_of(db) as statements:
        again = [first_again, *[await scan(client, door, code) for _ in range(3)]]
    assert statements == []
    assert {(a.status_code, a.content) for a in again} == {(200, second.content)}
    assert {k: v for k, v in again[0].headers.items() if k not in {"date", "x-request-id"}} == {
        k: v for k, v in second.headers.items() if k not in {"date", "x-request-id"}
    }
    english = await scan(client, door, code, **{"Accept-Language": "en"})  # both languages in every answer
    assert english.json() == second.json()


async def test_a_write_ends_what_was_remembered(client: Client, door: Door, make_user: MakeUser) -> None:
    booking, code = await remembered(client, door, make_user)
    undone = await client.post(f"/api/bookings/{booking.id}/undo-check-in", headers=door.staff.headers)
    assert undone.status_code == 200, undone.text
    assert (await scan(client, door, code)).json()["result"] == "checked_in"  # checked in again, not remembered
    cancelled = await client.post(f"/api/bookings/{booking.id}/cancel", headers=door.staff.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert (await scan(client, door, code)).json()["result"] == "cancelled"


async def test_an_expired_key_is_seen_though_the_scan_was_remembered(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    _, code = await remembered(client, door, make_user)
    async with unit_of_work(db.engine) as session:  # the key ends (as a rotation's grace period does)
        await session.execute(update(CheckinKey).values(expires_at=utcnow() - timedelta(minutes=1)))
        await key_ring(session, db.settings.secret_key, refresh=True)
    assert (await scan(client, door, code)).json()["result"] == "invalid"


async def test_other_staff_and_revoked_tokens_get_their_own_answers(
    client: Client, door: Door, make_user: MakeUser, make_venue: MakeVenue
) -> None:
    _, code = await remembered(client, door, make_user)
    elsewhere = await make_user(role="staff", venues=[await make_venue()])
    body = {"payload": code, "venue_id": door.venue.id}
    assert_problem(await client.post("/api/checkin/scan", json=body, headers=elsewhere.headers), 403, "forbidden")
    assert (await client.post("/api/auth/logout", headers=door.staff.headers)).is_success
    assert_problem(await scan(client, door, code), 401, "unauthenticated")
