"""Two real servers on one database: a write through one is seen at once in the cached reads of the
other (server.read_cache, keyed by the catalogue version that the write bumped in its transaction)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

import server.models  # noqa: F401 - every table on the metadata
from accounts.models import Role, User, VenueAssignment
from accounts.services import AccountService
from core.database import create_engine, unit_of_work
from core.settings import Settings
from tests.conftest import Account, create_citizens, in_days
from tests.realserver import real_server, scratch_database
from venues.models import OpeningHours, Slot, SlotStatus, Space, Venue
from venues.services import parse_hhmm


async def _prepare(settings: Settings) -> tuple[int, int, int, Account, Account]:
    engine = create_engine(settings)
    try:
        async with unit_of_work(engine) as session:
            venue = Venue(
                slug="two-servers", kind="practice_site", name="두 서버 실습장", name_en="Two servers lab",
                district="jongno", address="서울특별시 종로구 종로 1", lat=37.57, lon=126.98, rules={},
                opening_hours=[OpeningHours(weekday=d, opens=parse_hhmm("09:00"), closes=parse_hhmm("18:00"))
                               for d in range(7)],
                spaces=[],
            )  # fmt: skip
            session.add(venue)
            await session.flush()
            space = Space(
                venue_id=venue.id, slug="lab", kind="lab", shape="shared", name="실습실", name_en="Lab",
                capacity=3, max_party=1, slot_minutes=60, rules={},
            )  # fmt: skip
            session.add(space)
            await session.flush()
            start = in_days(2)
            slot = Slot(
                space_id=space.id, venue_id=venue.id, starts_at=start, ends_at=start + timedelta(hours=1),
                capacity=3, taken=0, status=SlotStatus.OPEN,
            )  # fmt: skip
            session.add(slot)
            manager = User(
                email="manager@two-servers.example", name="관리자", birth_year=1970, role=str(Role.MANAGER),
                password_hash="x", assignments=[VenueAssignment(venue_id=venue.id)],
            )  # fmt: skip
            session.add(manager)
            await session.flush()
            token, _ = await AccountService(session, settings).issue_token(manager)
            ids = venue.id, space.id, slot.id
        [citizen] = await create_citizens(engine, settings, 1, prefix="two-servers")
        return *ids, Account(manager, token), citizen
    finally:
        await engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_write_on_one_server_is_seen_at_once_in_the_cached_reads_of_another(backend: str, tmp_path: Path) -> None:
    with scratch_database(backend, tmp_path) as settings:
        venue_id, space_id, slot_id, manager, citizen = asyncio.run(_prepare(settings))
        with (
            real_server(settings, tmp_path, workers=1) as writer,
            real_server(settings, tmp_path, workers=1) as reader,
        ):
            venue_url = f"{reader.base_url}/api/venues/{venue_id}"
            availability_url = f"{reader.base_url}/api/spaces/{space_id}/availability"

            def remaining() -> int:
                slots = httpx.get(availability_url).json()["slots"]
                return int(next(s["remaining"] for s in slots if s["id"] == slot_id))

            for _ in range(3):  # built once, then from the reader's cache
                assert httpx.get(venue_url).json()["name"] == "두 서버 실습장"
                assert remaining() == 3
            etag = httpx.get(venue_url).headers["etag"]
            assert httpx.get(venue_url, headers={"If-None-Match": etag}).status_code == 304

            edited = httpx.patch(
                f"{writer.base_url}/api/venues/{venue_id}", json={"name": "새 이름"}, headers=manager.headers
            )
            assert edited.status_code == 200, edited.text
            fresh = httpx.get(venue_url, headers={"If-None-Match": etag})
            assert fresh.status_code == 200
            assert fresh.json()["name"] == "새 이름"

            booked = httpx.post(
                f"{writer.base_url}/api/bookings",
                json={"slot_id": slot_id},
                headers={**citizen.headers, "Idempotency-Key": "two-servers-1"},
            )
            assert booked.status_code == 201, booked.text
            assert remaining() == 2
