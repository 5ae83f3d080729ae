"""A new SEOULRUN_SECRET_KEY after a first run (finding 8): the signing key sealed under the old secret is
sealed again when the old secret is given in SEOULRUN_SECRET_KEY_PREVIOUS, or else retired and replaced;
either way the QR endpoints keep answering and the codes already handed out keep scanning."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from checkin import tokens
from checkin.keys import RETIRED_KEY_GRACE, _open, rotate
from checkin.models import CheckinKey
from core.clock import utcnow
from core.database import unit_of_work
from core.settings import Settings
from server.app import create_app
from tests.booking.conftest import Client
from tests.checkin.door import Door, code_of
from tests.conftest import Database, MakeUser

SECRET_A = "the-secret-of-the-first-run-" + "a" * 20
SECRET_B = "the-secret-set-in-production-" + "b" * 20

Server = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def server(db: Database) -> Server:
    """An app on the test database with the given secrets: a restart of the server with new settings."""

    @asynccontextmanager
    async def start(secret: str, *previous: str) -> AsyncIterator[Client]:
        settings = replace(db.settings, secret_key=secret, secret_key_previous=previous)
        async with AsyncTestClient(app=create_app(settings, engine=db.engine)) as client:
            yield client

    return start


async def _keys(db: Database) -> list[CheckinKey]:
    async with unit_of_work(db.engine) as session:
        return list((await session.scalars(select(CheckinKey).order_by(CheckinKey.id))).all())


def _key_id(code: str) -> int:
    return tokens.parse(code)[0].key_id


async def _qr_endpoints_answer(client: Client, door: Door, headers: dict[str, str], booking_id: int) -> None:
    for suffix in ("", ".png", ".svg"):
        response = await client.get(f"/api/bookings/{booking_id}/qr{suffix}", headers=headers)
        assert response.status_code == 200, (suffix, response.text)
    manifest = await client.get(f"/api/checkin/venues/{door.venue.id}/manifest", headers=door.staff.headers)
    assert manifest.status_code == 200, manifest.text


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def key_warnings() -> Iterator[list[str]]:
    """The warnings of checkin.keys (on its own logger: the app's logging setup replaces the root's handlers)."""
    handler = Records()
    logger = logging.getLogger("checkin.keys")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


async def test_a_new_secret_retires_the_key_it_cannot_open_and_old_codes_still_scan(
    db: Database, door: Door, make_user: MakeUser, server: Server, key_warnings: list[str]
) -> None:
    citizen, other = await make_user(), await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    later = await door.booking(other, timedelta(minutes=20))
    async with server(SECRET_A) as first_run:
        old_code = await code_of(first_run, citizen, booking.id)
    [first_key] = await _keys(db)

    async with server(SECRET_B) as second_run:
        await _qr_endpoints_answer(second_run, door, citizen.headers, booking.id)
        new_code = await code_of(second_run, other, later.id)
        assert _key_id(new_code) != first_key.id
        # The code handed out under the old secret is genuine: its key's public half still verifies it.
        assert (await door.scan(second_run, old_code))["result"] == "checked_in"
        assert (await door.scan(second_run, new_code))["result"] == "checked_in"
        manifest = await second_run.get(f"/api/checkin/venues/{door.venue.id}/manifest", headers=door.staff.headers)
        assert {k["key_id"] for k in manifest.json()["keys"]} == {first_key.id, _key_id(new_code)}
    [warning] = key_warnings
    assert f"check-in signing key {first_key.id} was sealed under another SEOULRUN_SECRET_KEY" in warning
    assert f"started signing key {_key_id(new_code)}" in warning

    retired, current = await _keys(db)
    assert retired.id == first_key.id
    assert retired.retired_at is not None
    assert retired.expires_at is not None
    assert retired.expires_at - utcnow() > RETIRED_KEY_GRACE - timedelta(minutes=5)
    assert current.retired_at is None
    assert current.id == _key_id(new_code)
    assert _open(current.private_key, SECRET_B)  # sealed under the new secret
    # A restart with the same new secret changes nothing more.
    async with server(SECRET_B) as third_run:
        assert _key_id(await code_of(third_run, citizen, booking.id)) == current.id
    assert len(await _keys(db)) == 2


async def test_with_the_old_secret_given_as_previous_the_key_is_sealed_again_not_replaced(
    db: Database, door: Door, make_user: MakeUser, server: Server
) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    async with server(SECRET_A) as first_run:
        old_code = await code_of(first_run, citizen, booking.id)
    [key] = await _keys(db)
    assert _open(key.private_key, SECRET_A)

    async with server(SECRET_B, "an-older-secret-no-longer-used", SECRET_A) as second_run:
        await _qr_endpoints_answer(second_run, door, citizen.headers, booking.id)
        assert await code_of(second_run, citizen, booking.id) == old_code  # the same key signs on
    [resealed] = await _keys(db)
    assert resealed.id == key.id
    assert resealed.retired_at is None
    assert resealed.public_key == key.public_key
    assert _open(resealed.private_key, SECRET_B).public_key() == _open(key.private_key, SECRET_A).public_key()

    # From now on the new secret alone opens it: PREVIOUS can go.
    async with server(SECRET_B) as third_run:
        assert await code_of(third_run, citizen, booking.id) == old_code
        assert (await door.scan(third_run, old_code))["result"] == "checked_in"
    assert len(await _keys(db)) == 1


async def test_a_planned_rotation_keeps_the_old_codes_valid(
    db: Database, door: Door, make_user: MakeUser, server: Server
) -> None:
    citizen = await make_user()
    booking = await door.booking(citizen, timedelta(minutes=10))
    async with server(SECRET_A) as client:
        old_code = await code_of(client, citizen, booking.id)
        async with unit_of_work(db.engine) as session:
            new_id = await rotate(session, SECRET_A)
        assert new_id != _key_id(old_code)
        assert (await door.scan(client, old_code))["result"] == "checked_in"
    assert [k.retired_at is not None for k in await _keys(db)] == [True, False]


def test_previous_secrets_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEOULRUN_SECRET_KEY", "now")
    monkeypatch.setenv("SEOULRUN_SECRET_KEY_PREVIOUS", " last-year , , before-that ")
    assert Settings.from_env().secret_key_previous == ("last-year", "before-that")
    monkeypatch.delenv("SEOULRUN_SECRET_KEY_PREVIOUS")
    assert Settings.from_env().secret_key_previous == ()
