"""QR check-in at the door, through HTTP: every scan answer, forged codes, races, offline sync."""

from __future__ import annotations

import asyncio
import base64
import io
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from PIL import Image
from sqlalchemy import update

from accounts.models import User
from booking import jobs
from booking.models import Booking
from checkin import tokens
from checkin.keys import key_ring, rotate
from checkin.models import CheckinKey
from core.clock import KST, utcnow
from core.database import unit_of_work
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client
from tests.checkin.door import Door, code_of
from tests.conftest import Database, MakeUser, MakeVenue
from venues.models import Space, Venue


async def test_a_qr_png_decodes_with_a_standard_decoder_and_checks_in_once(
    client: Client, door: Door, make_user: MakeUser
) -> None:
    citizen = await make_user(name="김민수")
    booking = await door.booking(citizen, timedelta(minutes=10), party_size=4)
    png = await client.get(f"/api/bookings/{booking.id}/qr.png", headers=citizen.headers)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert decoded.text.startswith("SR1:")
    svg = await client.get(f"/api/bookings/{booking.id}/qr.svg", headers=citizen.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content

    first = await door.scan(client, decoded.text, arrived=3)
    assert first["ok"] is True
    assert first["result"] == "checked_in"
    assert first["holder"] == "김*수"
    assert first["party_size"] == 4
    assert first["arrived"] == 3
    assert first["booking"]["status"] == "checked_in"
    second = await door.scan(client, decoded.text)
    assert second["ok"] is False
    assert second["result"] == "already_checked_in"
    assert second["checked_in_at"] == first["checked_in_at"]
    history = (await client.get(f"/api/bookings/{booking.id}/history", headers=citizen.headers)).json()
    assert [e["to_status"] for e in history] == ["confirmed", "checked_in"]


async def test_only_the_holder_gets_the_code(client: Client, door: Door, make_user: MakeUser) -> None:
    citizen, other = await make_user(), await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    assert_problem(await client.get(f"/api/bookings/{booking.id}/qr.png", headers=other.headers), 404, "not_found")
    assert_problem(await client.get(f"/api/bookings/{booking.id}/qr.png", headers=door.staff.headers), 404, "not_found")
    assert_problem(await client.get(f"/api/bookings/{booking.id}/qr.png"), 401, "unauthenticated")


async def test_every_refusal_has_its_answer(
    client: Client, db: Database, door: Door, make_user: MakeUser, make_venue: MakeVenue
) -> None:
    citizen = await make_user()
    early = await door.booking(citizen, timedelta(hours=3))
    assert (await door.scan(client, await code_of(client, citizen, early.id)))["result"] == "too_early"
    late = await door.booking(await make_user(), timedelta(minutes=-20))
    assert (await door.scan(client, await _code_for(db, late)))["result"] == "too_late"
    to_cancel = await door.booking(await make_user(), timedelta(minutes=5))
    code = await _code_for(db, to_cancel)
    async with unit_of_work(db.engine) as session:
        await session.execute(update(Booking).where(Booking.id == to_cancel.id).values(status="cancelled"))
    assert (await door.scan(client, code))["result"] == "cancelled"

    # Another venue's code, scanned here.
    elsewhere = await make_venue()
    other_space = await _space(db, elsewhere)
    there = Door(db, elsewhere, other_space, door.staff, door.make_slot)
    foreign = await there.booking(await make_user(), timedelta(minutes=10))
    assert (await door.scan(client, await _code_for(db, foreign)))["result"] == "wrong_venue"

    # A genuine signature for a booking that does not exist.
    async with unit_of_work(db.engine) as session:
        ring = await key_ring(session, db.settings.secret_key)
    ghost = tokens.Claims(ring.signing_id, 987654, door.venue.id, 0, utcnow() + timedelta(days=1))
    assert (await door.scan(client, tokens.encode(ghost, ring.signing)))["result"] == "not_found"


async def _user(db: Database, user_id: int) -> User:
    async with unit_of_work(db.engine) as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


async def _space(db: Database, venue: Venue) -> Space:
    async with unit_of_work(db.engine) as session:
        space = Space(
            venue_id=venue.id, slug="lab", kind="lab", shape="shared", name="실습실", name_en="Lab",
            capacity=10, max_party=2, slot_minutes=60, rules={},
        )  # fmt: skip
        session.add(space)
    return space


async def _code_for(db: Database, booking: Booking) -> str:
    from checkin.services import CheckinService

    async with unit_of_work(db.engine) as session:
        fresh = await session.get(Booking, booking.id)
        assert fresh is not None
        return await CheckinService(session, db.settings).code_for(fresh)


def _flip(code: str, index: int) -> str:
    raw = code[len(tokens.PREFIX) :]
    data = bytearray(base64.b32decode(raw + "=" * (-len(raw) % 8)))
    data[index] ^= 0x01
    return tokens.PREFIX + base64.b32encode(bytes(data)).decode().rstrip("=")


async def test_forged_codes_are_invalid(client: Client, db: Database, door: Door, make_user: MakeUser) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    other = await door.booking(await make_user(), timedelta(minutes=10, hours=1))
    code = await code_of(client, citizen, booking.id)
    claims = tokens.verify(code, (await _ring(db)).public)
    intruder = Ed25519PrivateKey.generate()
    forged = {
        "bit flipped in the signature": _flip(code, 40),
        "booking id altered": _flip(code, 6),
        "signed by another key": tokens.encode(claims, intruder),
        "another booking, other key": tokens.encode(
            tokens.Claims(claims.key_id, other.id, door.venue.id, 0, claims.valid_until), intruder
        ),
        "not ours": "https://example.com/ticket/123",
        "truncated": code[:-10],
        "empty": "",
    }
    for name, payload in forged.items():
        answer = await door.scan(client, payload)
        assert (answer["result"], answer["ok"]) == ("invalid", False), name
    assert (await door.scan(client, code))["result"] == "checked_in"


async def _ring(db: Database) -> Any:
    async with unit_of_work(db.engine) as session:
        return await key_ring(session, db.settings.secret_key)


async def test_reissued_codes_and_expired_keys_are_refused(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    old = await code_of(client, citizen, booking.id)
    reissued = await client.post(f"/api/bookings/{booking.id}/qr/reissue", headers=citizen.headers)
    assert reissued.status_code == 200
    new = reissued.json()["payload"]
    assert new != old
    assert (await door.scan(client, old))["result"] == "invalid"

    # Rotate the keys: codes of the retired key still work during its grace period, then not at all.
    async with unit_of_work(db.engine) as session:
        await rotate(session, db.settings.secret_key)
    second = await door.booking(await make_user(), timedelta(minutes=10, hours=2))
    old_key_code = new
    async with unit_of_work(db.engine) as session:
        await session.execute(
            update(CheckinKey)
            .where(CheckinKey.retired_at.is_not(None))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await key_ring(session, db.settings.secret_key, refresh=True)
    assert (await door.scan(client, old_key_code))["result"] == "invalid"
    fresh = await _code_for(db, second)
    assert tokens.parse(fresh)[0].key_id != tokens.parse(old_key_code)[0].key_id


async def test_staff_scan_only_at_their_venues_and_party_sizes_are_checked(
    client: Client, door: Door, make_user: MakeUser, make_venue: MakeVenue
) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10), party_size=2)
    code = await code_of(client, citizen, booking.id)
    stranger = await make_user(role="staff", venues=[await make_venue()])
    refused = await client.post(
        "/api/checkin/scan", json={"payload": code, "venue_id": door.venue.id}, headers=stranger.headers
    )
    assert_problem(refused, 403, "forbidden")
    assert_problem(
        await client.post(
            "/api/checkin/scan", json={"payload": code, "venue_id": door.venue.id}, headers=citizen.headers
        ),
        403,
        "forbidden",
    )
    too_many = await client.post(
        "/api/checkin/scan",
        json={"payload": code, "venue_id": door.venue.id, "arrived": 3},
        headers=door.staff.headers,
    )
    assert_problem(too_many, 400, "validation_error")
    assert (await door.scan(client, code, arrived=1))["arrived"] == 1


async def test_two_scans_at_once_check_in_once(client: Client, door: Door, make_user: MakeUser) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    code = await code_of(client, citizen, booking.id)
    answers = await asyncio.gather(*(door.scan(client, code) for _ in range(8)))
    assert Counter(a["result"] for a in answers) == {"checked_in": 1, "already_checked_in": 7}
    history = (await client.get(f"/api/bookings/{booking.id}/history", headers=citizen.headers)).json()
    assert [e["to_status"] for e in history].count("checked_in") == 1


async def test_the_manifest_lets_a_scanner_verify_codes_offline(
    client: Client, door: Door, make_user: MakeUser
) -> None:
    citizen = await make_user(name="박지영")
    booking = await door.booking(citizen, timedelta(minutes=10), party_size=2)
    code = await code_of(client, citizen, booking.id)
    response = await client.get(
        f"/api/checkin/venues/{door.venue.id}/manifest",
        params={"date": booking.starts_at.astimezone(KST).date().isoformat()},
        headers=door.staff.headers,
    )
    assert response.status_code == 200, response.text
    manifest = response.json()
    [entry] = [b for b in manifest["bookings"] if b["id"] == booking.id]
    assert entry["holder"] == "박*영"
    assert entry["party_size"] == 2
    assert entry["status"] == "confirmed"
    assert "박지영" not in response.text
    # The scanner's own check, with nothing but the manifest: no server involved.
    keys = {
        k["key_id"]: Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(k["public_key"] + "=="))
        for k in manifest["keys"]
    }
    claims = tokens.verify(code, keys)
    assert (claims.booking_id, claims.venue_id, claims.qr_version) == (booking.id, door.venue.id, entry["qr_version"])
    other_staff = await make_user(role="staff")
    assert_problem(
        await client.get(f"/api/checkin/venues/{door.venue.id}/manifest", headers=other_staff.headers), 403, "forbidden"
    )


async def test_an_offline_batch_synced_twice_applies_once(
    client: Client, db: Database, door: Door, make_user: MakeUser
) -> None:
    first, second = await make_user(), await make_user()
    a = await door.booking(first, timedelta(minutes=10))
    b = await door.booking(second, timedelta(minutes=10, seconds=1))
    online = await door.scan(client, await code_of(client, second, b.id))  # b was scanned online too
    assert online["result"] == "checked_in"
    scanned_at = (utcnow() - timedelta(minutes=2)).isoformat()
    batch = {
        "venue_id": door.venue.id,
        "device_id": "door-tablet-1",
        "scans": [
            {"booking_id": a.id, "scanned_at": scanned_at, "arrived": 1},
            {"booking_id": b.id, "scanned_at": scanned_at},
            {"booking_id": 987654, "scanned_at": scanned_at},
        ],
    }
    once = await client.post("/api/checkin/sync", json=batch, headers=door.staff.headers)
    assert once.status_code == 200, once.text
    assert [i["result"] for i in once.json()["items"]] == ["checked_in", "duplicate", "not_found"]
    assert once.json()["applied"] == 1
    twice = (await client.post("/api/checkin/sync", json=batch, headers=door.staff.headers)).json()
    assert [i["result"] for i in twice["items"]] == ["already_synced", "already_synced", "not_found"]
    assert twice["applied"] == 0
    a_now = (await client.get(f"/api/bookings/{a.id}", headers=first.headers)).json()
    assert a_now["status"] == "checked_in"
    # The first scan wins: b's check-in time is the earlier, offline one.
    b_now = (await client.get(f"/api/bookings/{b.id}", headers=second.headers)).json()
    assert datetime.fromisoformat(b_now["checked_in_at"]) == datetime.fromisoformat(scanned_at)


async def test_a_synced_scan_overturns_a_no_show(client: Client, db: Database, door: Door, make_user: MakeUser) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=-20))
    assert await jobs.mark_no_shows(db.engine, db.settings) == 1
    assert (await client.get(f"/api/bookings/{booking.id}", headers=citizen.headers)).json()["status"] == "no_show"
    scanned_at = (booking.starts_at - timedelta(minutes=5)).isoformat()
    code = await code_of(client, citizen, booking.id)
    synced = await client.post(
        "/api/checkin/sync",
        json={
            "venue_id": door.venue.id,
            "device_id": "door-2",
            "scans": [{"booking_id": booking.id, "scanned_at": scanned_at, "payload": code}],
        },
        headers=door.staff.headers,
    )
    assert [i["result"] for i in synced.json()["items"]] == ["checked_in"]
    assert (await client.get(f"/api/bookings/{booking.id}", headers=citizen.headers)).json()["status"] == "checked_in"
    assert await jobs.mark_no_shows(db.engine, db.settings) == 0


async def test_check_out_undo_and_walk_ins(client: Client, db: Database, door: Door, make_user: MakeUser) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    await door.scan(client, await code_of(client, citizen, booking.id))
    undone = await client.post(f"/api/bookings/{booking.id}/undo-check-in", headers=door.staff.headers)
    assert undone.status_code == 200, undone.text
    assert undone.json()["status"] == "confirmed"
    assert undone.json()["checked_in_at"] is None
    assert_problem(
        await client.post(f"/api/bookings/{booking.id}/check-out", headers=door.staff.headers),
        409,
        "invalid_transition",
    )
    await door.scan(client, await code_of(client, citizen, booking.id))
    out = await client.post(f"/api/bookings/{booking.id}/check-out", headers=door.staff.headers)
    assert out.json()["status"] == "checked_out"
    assert_problem(
        await client.post(f"/api/bookings/{booking.id}/check-out", headers=citizen.headers), 403, "forbidden"
    )
    history = [
        e["reason"] for e in (await client.get(f"/api/bookings/{booking.id}/history", headers=citizen.headers)).json()
    ]
    assert history == ["booked", "scanned", "check_in_undone", "scanned", "checked_out"]

    slot = await door.make_slot(door.space, start=utcnow().replace(microsecond=0) + timedelta(minutes=5))
    walk = await client.post(
        f"/api/checkin/venues/{door.venue.id}/walk-ins",
        json={"slot_id": slot.id, "name": "이현장", "party_size": 2, "phone": "010-0000-1111"},
        headers=door.staff.headers,
    )
    assert walk.status_code == 201, walk.text
    assert walk.json()["status"] == "checked_in"
    assert walk.json()["party_size"] == 2
    day = walk.json()["start"][:10]
    listed = (
        await client.get(f"/api/venues/{door.venue.id}/bookings", params={"date": day}, headers=door.staff.headers)
    ).json()
    assert any(item["walk_in"] and item["holder_name"] == "이현장" for item in listed["items"])
