"""A rush on a real server: ``seoulrun serve --workers 2``, 200 citizens at once for one slot.

Two server processes, each with its own connection pool (and on SQLite its own write queue), take
the requests over real sockets: only the database can keep the invariant between them. Exactly
``capacity`` citizens are confirmed, nobody gets a 5xx, and the slot's counter equals the units of
the bookings that hold a place.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

import server.models  # noqa: F401 - every table on the metadata
from booking.models import TAKING, Booking
from core.database import create_engine, unit_of_work
from core.settings import Settings
from tests.conftest import Account, create_citizens, in_days
from tests.realserver import RealServer, real_server, scratch_database
from venues.models import OpeningHours, Slot, SlotStatus, Space, Venue
from venues.services import parse_hhmm

RACERS = 200
CAPACITY = 25


@dataclass
class Rush:
    server: RealServer
    slot_id: int
    citizens: list[Account]


async def _prepare(settings: Settings) -> tuple[int, list[Account]]:
    engine = create_engine(settings)
    try:
        async with unit_of_work(engine) as session:
            venue = Venue(
                slug="rush-site",
                kind="practice_site",
                name="러시 실습장",
                name_en="Rush site",
                district="jongno",
                address="서울특별시 종로구 종로 1",
                rules={},
                opening_hours=[
                    OpeningHours(weekday=d, opens=parse_hhmm("09:00"), closes=parse_hhmm("18:00")) for d in range(7)
                ],
                spaces=[],
            )  # fmt: skip
            session.add(venue)
            await session.flush()
            space = Space(
                venue_id=venue.id, slug="lab", kind="lab", shape="shared", name="실습실", name_en="Lab",
                capacity=CAPACITY, max_party=1, slot_minutes=60, rules={},
            )  # fmt: skip
            session.add(space)
            await session.flush()
            start = in_days(2)
            slot = Slot(
                space_id=space.id, venue_id=venue.id, starts_at=start, ends_at=start + timedelta(hours=1),
                capacity=CAPACITY, taken=0, status=SlotStatus.OPEN,
            )  # fmt: skip
            session.add(slot)
            await session.flush()
            slot_id = slot.id
        citizens = await create_citizens(engine, settings, RACERS, prefix="rush")
        return slot_id, citizens
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def rush(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rush]:
    with scratch_database(request.param, tmp_path) as settings:
        slot_id, citizens = asyncio.run(_prepare(settings))
        # Every racer waits for the one slot's row lock, held until each booking commits: on a loaded
        # machine the last of 200 waits longer than the 10 s a request may wait for a pooled connection
        # and the 5 s it may wait for a lock, and would get the documented 503 (busy, retry). This test
        # is about who gets the places, so it gives them time.
        patient = {"SEOULRUN_DB_POOL_TIMEOUT_S": "60", "SEOULRUN_DB_LOCK_TIMEOUT_MS": "60000"}
        with real_server(settings, tmp_path, workers=2, env=patient) as server:
            yield Rush(server, slot_id, citizens)


async def _held(rush: Rush) -> tuple[int, int, Counter[str]]:
    engine = create_engine(rush.server.settings)
    try:
        async with unit_of_work(engine) as session:
            taken = await session.scalar(select(Slot.taken).where(Slot.id == rush.slot_id))
            held = await session.scalar(
                select(func.coalesce(func.sum(Booking.units), 0)).where(
                    Booking.slot_id == rush.slot_id, Booking.status.in_(TAKING)
                )
            )
            rows = await session.execute(
                select(Booking.status, func.count()).where(Booking.slot_id == rush.slot_id).group_by(Booking.status)
            )
            return int(taken or 0), int(held or 0), Counter({str(s): int(n) for s, n in rows.all()})
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_two_hundred_citizens_rushing_one_slot_on_two_workers_get_exactly_its_places(rush: Rush) -> None:
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with httpx.AsyncClient(base_url=rush.server.base_url, limits=limits, timeout=120) as http:
        responses = await asyncio.gather(
            *(http.post("/api/bookings", json={"slot_id": rush.slot_id}, headers=c.headers) for c in rush.citizens)
        )
    errors = [(r.status_code, r.text) for r in responses if r.status_code >= 500]
    assert not errors, f"{len(errors)} answers of 5xx, e.g. {errors[:3]}\n{rush.server.log()[-3000:]}"
    outcome = Counter(r.json()["status"] if r.status_code == 201 else r.json()["code"] for r in responses)
    assert outcome == {"confirmed": CAPACITY, "sold_out": RACERS - CAPACITY}
    taken, held, statuses = await _held(rush)
    assert taken == held == CAPACITY, statuses
    assert statuses == {"confirmed": CAPACITY}
