"""A door's scans that write nothing, answered before the route (``server.fast_lane``) from a session
that only reads: the route's own answer, kept for a repeated scan while nothing is written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update

from accounts.models import VenueAssignment
from checkin.keys import key_ring
from checkin.models import CheckinKey
from core.clock import utcnow
from core.database import unit_of_work
from server.fast_lane import FastLane
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client
from tests.booking.test_rush_fast_lane import statements_of
from tests.checkin.door import Door, code_of
from tests.conftest import Database, MakeSpace, MakeUser, MakeVenue


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


def seen(response: httpx.Response) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    """What a client sees of an answer, but for the headers each answer has its own of."""
    headers = sorted((k, v) for k, v in response.headers.items() if k not in {"date", "x-request-id"})
    return response.status_code, response.content, tuple(headers)


async def test_a_repeated_scan_is_answered_again_without_the_database(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    citizen = await make_user(name="박지영")
    booking = await door.booking(citizen, timedelta(minutes=10))
    code = await code_of(client, citizen, booking.id)
    assert (await scan(client, door, code)).json()["result"] == "checked_in"
    second = await scan(client, door, code)  # read, and kept
    assert second.json()["result"] == "already_checked_in"
    with statements_of(db) as statements:
        again = [await scan(client, door, code) for _ in range(3)]
    assert statements == []
    assert {seen(a) for a in again} == {seen(second)}
    english = await scan(client, door, code, **{"Accept-Language": "en"})  # both languages in every answer
    assert english.json() == second.json()


Situation = Callable[[Client, Door, MakeUser, MakeVenue, MakeSpace], Awaitable[str]]


async def checked_in(client: Client, door: Door, make_user: MakeUser, *_: Any) -> str:
    return (await remembered(client, door, make_user))[1]


async def cancelled(client: Client, door: Door, make_user: MakeUser, *_: Any) -> str:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    assert (await client.post(f"/api/bookings/{booking.id}/cancel", headers=citizen.headers)).is_success
    return await code_of(client, citizen, booking.id)


async def too_early(client: Client, door: Door, make_user: MakeUser, *_: Any) -> str:
    citizen = await make_user()
    return await code_of(client, citizen, (await door.booking(citizen, timedelta(hours=5))).id)


async def elsewhere(
    client: Client, door: Door, make_user: MakeUser, make_venue: MakeVenue, make_space: MakeSpace
) -> str:
    other = Door(door.db, venue := await make_venue(), await make_space(venue), door.staff, door.make_slot)
    citizen = await make_user()
    return await code_of(client, citizen, (await other.booking(citizen, timedelta(minutes=10))).id)


async def nonsense(*_: Any) -> str:
    return "SR1.not-a-code"


@pytest.mark.parametrize(
    ("situation", "result"),
    [
        (checked_in, "already_checked_in"),
        (cancelled, "cancelled"),
        (too_early, "too_early"),
        (elsewhere, "wrong_venue"),
        (nonsense, "invalid"),
    ],
)
async def test_a_scan_that_writes_nothing_gets_the_routes_own_answer(
    client: Client,
    door: Door,
    make_user: MakeUser,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    monkeypatch: pytest.MonkeyPatch,
    situation: Situation,
    result: str,
) -> None:
    code = await situation(client, door, make_user, make_venue, make_space)
    answered = await scan(client, door, code)
    assert answered.json()["result"] == result
    again = await scan(client, door, code)

    async def to_the_route(*_: Any) -> None:
        return None

    monkeypatch.setattr(FastLane, "_scan_answer", to_the_route)
    by_the_route = await scan(client, door, code)
    assert seen(answered) == seen(again) == seen(by_the_route)


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


async def test_a_remembered_answer_is_never_given_past_its_keys_end(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    """A key that ends by the clock (nothing is written when it does) ends the answers it verified."""
    _, code = await remembered(client, door, make_user)
    async with unit_of_work(db.engine) as session:
        await session.execute(update(CheckinKey).values(expires_at=utcnow() + timedelta(seconds=2)))
        await key_ring(session, db.settings.secret_key, refresh=True)
    assert (await scan(client, door, code)).json()["result"] == "already_checked_in"  # kept, until the key's end
    await asyncio.sleep(2.5)
    assert (await scan(client, door, code)).json()["result"] == "invalid"


async def test_other_staff_and_revoked_tokens_get_their_own_answers(
    client: Client, door: Door, make_user: MakeUser, make_venue: MakeVenue
) -> None:
    colleague = await make_user(role="staff", venues=[door.venue])
    elsewhere = await make_user(role="staff", venues=[await make_venue()])
    _, code = await remembered(client, door, make_user)  # kept, and no write since: the others ask the memory
    body = {"payload": code, "venue_id": door.venue.id}
    kept = await client.post("/api/checkin/scan", json=body, headers=colleague.headers)
    assert kept.json()["result"] == "already_checked_in"
    assert_problem(await client.post("/api/checkin/scan", json=body, headers=elsewhere.headers), 403, "forbidden")
    assert (await client.post("/api/auth/logout", headers=door.staff.headers)).is_success
    assert_problem(await scan(client, door, code), 401, "unauthenticated")


async def test_staff_taken_off_the_venue_are_refused_at_once(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    """Who a token is is remembered under the accounts version: a venue assignment removed moves it."""
    _, code = await remembered(client, door, make_user)
    async with unit_of_work(db.engine) as session:
        await session.execute(delete(VenueAssignment).where(VenueAssignment.user_id == door.staff.id))
    assert_problem(await scan(client, door, code), 403, "forbidden")
