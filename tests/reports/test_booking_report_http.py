"""The booking report through HTTP, on a small data set whose every figure is known (API.md, Reports).

Two weeks, 2026-11-02 (Mon) to 2026-11-15 (Sun), Seoul dates:

venue A (practice site), lab of 10 places:
  a1  Mon 11-02 10:00  open     confirmed ×2, checked in ×3, cancelled ×1, no-show ×1
  a2  Mon 11-09 08:00  open     checked out ×2, no-show ×1, waitlisted ×1   (Sunday 23:00 in UTC)
  a3  Tue 11-03 10:00  blocked  (offers nothing)
  a4  Mon 11-16 00:30  open     confirmed ×1                                 (after the period in Seoul)
venue B (digital plaza), classroom of 4, programme P's session:
  b1  Wed 11-04 19:00  open     checked in ×1, cancelled ×2
(×n: a booking with a party of n.)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from booking.models import Booking
from core.clock import kst
from core.database import unit_of_work
from programs.models import Program, ProgramSession
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client
from tests.conftest import Account, Database, MakeSpace, MakeUser, MakeVenue
from venues.models import Slot, Space

PERIOD = {"from": "2026-11-02", "to": "2026-11-15"}


@dataclass
class World:
    a: int
    b: int
    program: int
    admin: Account
    manager_a: Account


async def _slot(session: Any, space: Space, at: datetime, status: str = "open") -> Slot:
    slot = Slot(
        space_id=space.id,
        venue_id=space.venue_id,
        starts_at=at,
        ends_at=at + timedelta(hours=1),
        capacity=space.capacity,
        taken=0,
        status=status,
    )
    session.add(slot)
    await session.flush()
    return slot


def _booking(user_id: int, slot: Slot, status: str, party: int) -> Booking:
    return Booking(
        user_id=user_id,
        venue_id=slot.venue_id,
        space_id=slot.space_id,
        slot_id=slot.id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        party_size=party,
        units=party,
        status=status,
    )


@pytest.fixture
async def world(db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser) -> World:
    venue_a = await make_venue(kind="practice_site")
    venue_b = await make_venue(kind="digital_plaza")
    lab = await make_space(venue_a, capacity=10, max_party=4)
    room = await make_space(venue_b, kind="classroom", capacity=4, max_party=4)
    people = [await make_user() for _ in range(8)]
    ids = iter(p.id for p in people)
    async with unit_of_work(db.engine) as session:
        a1 = await _slot(session, lab, kst(date(2026, 11, 2), time(10)))
        a2 = await _slot(session, lab, kst(date(2026, 11, 9), time(8)))
        await _slot(session, lab, kst(date(2026, 11, 3), time(10)), status="blocked")
        a4 = await _slot(session, lab, kst(date(2026, 11, 16), time(0, 30)))
        b1 = await _slot(session, room, kst(date(2026, 11, 4), time(19)))
        program = Program(
            venue_id=venue_b.id,
            space_id=room.id,
            title="디지털 배움",
            title_en="Digital learning",
            kind="class",
            capacity=4,
            registration_opens_at=kst(date(2026, 10, 1), time(10)),
            registration_closes_at=kst(date(2026, 11, 1), time(10)),
            rrule="FREQ=DAILY;COUNT=1",
            first_start=b1.starts_at,
            duration_minutes=60,
        )
        session.add(program)
        await session.flush()
        session.add(ProgramSession(program_id=program.id, slot_id=b1.id, occurrence=b1.starts_at))
        rows = [
            (a1, "confirmed", 2),
            (a1, "checked_in", 3),
            (a1, "cancelled", 1),
            (a1, "no_show", 1),
            (a2, "checked_out", 2),
            (a2, "no_show", 1),
            (a2, "waitlisted", 1),
            (a4, "confirmed", 1),
            (b1, "checked_in", 1),
            (b1, "cancelled", 2),
        ]
        session.add_all(_booking(next(ids, people[0].id), slot, status, party) for slot, status, party in rows)
    admin = await make_user(role="admin")
    manager_a = await make_user(role="manager", venues=[venue_a])
    return World(venue_a.id, venue_b.id, program.id, admin, manager_a)


def _figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        row[k]
        for k in (
            "bookings",
            "confirmed",
            "cancelled",
            "attended",
            "no_shows",
            "cancellation_rate",
            "no_show_rate",
            "places_offered",
            "places_used",
            "share_used",
        )
    )


VENUE_A = (7, 1, 1, 2, 2, 0.1429, 0.5, 20, 7, 0.35)
VENUE_B = (2, 0, 1, 1, 0, 0.5, 0.0, 4, 1, 0.25)


async def report(client: Client, reader: Account, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/reports/bookings", params={**PERIOD, **params}, headers=reader.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_figures_per_venue_and_per_venue_kind(client: Client, world: World) -> None:
    by_venue = await report(client, world.admin, group="venue")
    assert (by_venue["group"], by_venue["from"], by_venue["to"]) == ("venue", "2026-11-02", "2026-11-15")
    rows = {r["key"]: _figures(r) for r in by_venue["rows"]}
    assert rows == {str(world.a): VENUE_A, str(world.b): VENUE_B}
    by_kind = await report(client, world.admin, group="venue_kind")
    assert {r["key"]: _figures(r) for r in by_kind["rows"]} == {"practice_site": VENUE_A, "digital_plaza": VENUE_B}


async def test_figures_per_week_follow_seoul_time(client: Client, world: World) -> None:
    rows = {r["key"]: _figures(r) for r in (await report(client, world.admin, group="week"))["rows"]}
    # a2 starts on Monday 08:00 in Seoul, still Sunday in UTC: it counts in the second week.
    assert rows == {
        "2026-11-02": (6, 1, 2, 2, 1, 0.3333, 0.3333, 14, 6, 0.4286),
        "2026-11-09": (3, 0, 0, 1, 1, 0.0, 0.5, 10, 2, 0.2),
    }


async def test_figures_per_programme(client: Client, world: World) -> None:
    rows = (await report(client, world.admin, group="program"))["rows"]
    assert [(r["key"], r["label"], _figures(r)) for r in rows] == [(str(world.program), "디지털 배움", VENUE_B)]


async def test_a_shorter_period_and_one_venue(client: Client, world: World) -> None:
    body = await report(client, world.admin, group="venue", to="2026-11-08")
    assert {r["key"]: r["bookings"] for r in body["rows"]} == {str(world.a): 4, str(world.b): 2}
    only_b = await report(client, world.admin, group="venue", venue_id=world.b)
    assert [r["key"] for r in only_b["rows"]] == [str(world.b)]
    late = await report(client, world.admin, group="venue", **{"from": "2026-11-16", "to": "2026-11-16"})
    assert [_figures(r) for r in late["rows"]] == [(1, 1, 0, 0, 0, 0.0, None, 10, 1, 0.1)]
    empty = await report(client, world.admin, **{"from": "2025-01-01", "to": "2025-01-31"})
    assert empty["rows"] == []


async def test_managers_see_their_venues_and_nobody_else_reads_reports(
    client: Client, world: World, make_user: MakeUser
) -> None:
    mine = await report(client, world.manager_a, group="venue")
    assert [(r["key"], _figures(r)) for r in mine["rows"]] == [(str(world.a), VENUE_A)]
    kinds = await report(client, world.manager_a, group="venue_kind")
    assert [r["key"] for r in kinds["rows"]] == ["practice_site"]
    url = "/api/reports/bookings"
    assert_problem(
        await client.get(url, params={"venue_id": world.b}, headers=world.manager_a.headers), 403, "forbidden"
    )
    for role in ("staff", "citizen", "instructor"):
        other = await make_user(role=role)
        assert_problem(await client.get(url, headers=other.headers), 403, "forbidden")
    assert_problem(await client.get(url), 401, "unauthenticated")


async def test_bad_parameters_are_refused(client: Client, world: World) -> None:
    url = "/api/reports/bookings"
    for params in (
        {"group": "month"},
        {"from": "2026-11-10", "to": "2026-11-01"},
        {"from": "2024-01-01", "to": "2026-01-01"},
    ):
        assert_problem(await client.get(url, params=params, headers=world.admin.headers), 400, "validation_error")


async def test_the_report_as_csv(client: Client, world: World) -> None:
    response = await client.get(
        "/api/reports/bookings",
        params={**PERIOD, "group": "program"},
        headers={**world.admin.headers, "Accept": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["key", "label", "bookings"]
    assert rows[1][:3] == [str(world.program), "디지털 배움", "2"]
    assert rows[1][-1] == "0.25"
