"""Fixtures of the calendar feed tests: the app with the feed routes, factories of other domains' tests,
a feed helper over HTTP and both parsers.

``calendar_feeds.models`` is imported here, at collection, before any ``db`` fixture creates the tables
from the metadata, so that the ``calendar_feed`` table exists in every test database even before
``server.models`` imports it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import vobject
from icalendar import Calendar
from litestar import Litestar
from litestar.testing import AsyncTestClient

import calendar_feeds.models  # noqa: F401 - the calendar_feed table on the metadata
from calendar_feeds.cache import render_cache
from core.clock import utcnow
from core.database import unit_of_work
from programs.models import Program
from programs.schemas import ProgramCreate
from programs.services import ProgramService
from tests.conftest import Account, Database, MakeSlot, in_days
from venues.models import Slot

BASE_URL = "http://testserver"
Client = AsyncTestClient[Litestar]
AddSlot = Callable[..., Awaitable[Slot]]
AddProgram = Callable[..., Awaitable[Program]]


@pytest.fixture
def add_slot(make_slot: MakeSlot) -> AddSlot:
    """A slot of a space, by default a one-off one in two days at 14:00 in Seoul."""
    return functools.partial(make_slot, origin="extra")


@pytest.fixture
def add_program(db: Database) -> AddProgram:
    """A weekly course of four sessions from two days from now, open for registration."""

    async def make(venue_id: int, space_id: int, **overrides: Any) -> Program:
        now = utcnow()
        fields: dict[str, Any] = {
            "venue_id": venue_id,
            "space_id": space_id,
            "title": "드론 정비 실습",
            "title_en": "Drone maintenance practice",
            "kind": "course",
            "capacity": 10,
            "registration_opens_at": now - timedelta(days=1),
            "registration_closes_at": now + timedelta(days=1),
            "rrule": "FREQ=WEEKLY;COUNT=4",
            "first_start": in_days(2),
            "duration_minutes": 120,
        }
        fields.update(overrides)
        async with unit_of_work(db.engine) as session:
            return await ProgramService(session, now=now).create(ProgramCreate(**fields))

    return make


@pytest.fixture(autouse=True)
def fresh_render_cache() -> Iterator[None]:
    """Each test starts with an empty render cache (it is per process, and the tests share one)."""
    render_cache.clear()
    yield
    render_cache.clear()


@dataclass
class Feed:
    id: int
    url: str
    body: dict[str, Any]

    @property
    def path(self) -> str:
        assert self.url.startswith(BASE_URL)
        return self.url[len(BASE_URL) :]


async def subscribe(client: Client, account: Account, scope: str, target_id: int | None = None) -> Feed:
    payload: dict[str, Any] = {"scope": scope}
    if target_id is not None:
        payload["target_id"] = target_id
    response = await client.post("/api/feeds", json=payload, headers=account.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    return Feed(body["id"], body["url"], body)


@dataclass
class Fetched:
    """A fetched feed, parsed twice: by icalendar and, independently, by vobject."""

    raw: bytes
    calendar: Calendar
    vcalendar: Any
    headers: Any

    def events(self) -> dict[str, Any]:
        return {str(e["UID"]): e for e in self.calendar.walk("VEVENT")}

    def vevents(self) -> dict[str, Any]:
        return {v.uid.value: v for v in getattr(self.vcalendar, "vevent_list", [])}


async def fetch(client: Client, feed: Feed, **headers: str) -> Fetched:
    response = await client.get(feed.path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    raw = response.content
    return Fetched(raw, Calendar.from_ical(raw), vobject.readOne(raw.decode("utf-8")), response.headers)
