"""What keeps polling cheap: validators and 304s, the render cache and its invalidation, gzip, and the
once-a-minute record of the last fetch, also under concurrent fetches."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from calendar_feeds import services
from calendar_feeds.cache import render_cache
from calendar_feeds.models import CalendarFeed
from core.clock import KST
from core.database import unit_of_work
from tests.accounts.test_auth_http import assert_problem
from tests.calendar_feeds.conftest import AddProgram, AddSlot, Client, Feed, fetch, subscribe
from tests.conftest import Account, Database, MakeSpace, MakeUser, MakeVenue, in_days


async def book(client: Client, account: Account, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/bookings", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def etag_of(client: Client, feed: Feed) -> str:
    response = await client.get(feed.path)
    assert response.status_code == 200, response.text
    return str(response.headers["etag"])


async def test_an_unchanged_feed_answers_304_to_its_validators(
    client: Client, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    citizen = await make_user()
    await book(client, citizen, slot_id=(await add_slot(await make_space())).id)
    feed = await subscribe(client, citizen, "me")
    first = await client.get(feed.path)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('W/"')
    assert last_modified.endswith(" GMT")
    assert parsedate_to_datetime(last_modified) <= datetime.now(UTC)
    assert first.headers["cache-control"] == "private, max-age=300"
    assert first.headers["referrer-policy"] == "no-referrer"

    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": etag.removeprefix("W/")},  # weak comparison
        {"If-None-Match": f'"other", {etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": last_modified},
        {"If-Modified-Since": format_datetime(datetime.now(UTC) + timedelta(minutes=1), usegmt=True)},
    ):
        response = await client.get(feed.path, headers=headers)
        assert response.status_code == 304, headers
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["last-modified"] == last_modified

    earlier = format_datetime(parsedate_to_datetime(last_modified) - timedelta(seconds=1), usegmt=True)
    for headers in (
        {"If-None-Match": '"something-else"'},
        {"If-Modified-Since": earlier},
        {"If-Modified-Since": "not a date"},
        # If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
        {"If-None-Match": '"something-else"', "If-Modified-Since": last_modified},
    ):
        response = await client.get(feed.path, headers=headers)
        assert response.status_code == 200, headers
        assert response.headers["etag"] == etag


async def test_the_etag_changes_when_a_place_is_taken_or_a_slot_is_blocked(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=20, max_party=2)
    slot = await add_slot(space)
    staff = await make_user(role="staff", venues=[venue])
    feed = await subscribe(client, staff, "venue", venue.id)
    seen = [await etag_of(client, feed)]

    # Taking a place changes slot.taken with a Core UPDATE that leaves slot.updated_at alone.
    await book(client, await make_user(), slot_id=slot.id, party_size=2)
    seen.append(await etag_of(client, feed))
    fetched = await fetch(client, feed)
    summary = str(fetched.events()[f"slot-{slot.id}@testserver"]["SUMMARY"])
    assert summary == f"{space.name} · 2/20명 ({space.name_en} · 2/20 booked)"

    blocked = await client.post(f"/api/slots/{slot.id}/block", json={"note": "점검"}, headers=staff.headers)
    assert blocked.status_code == 200, blocked.text
    seen.append(await etag_of(client, feed))
    event = (await fetch(client, feed)).events()[f"slot-{slot.id}@testserver"]
    assert str(event["SUMMARY"]).startswith("[예약 중지 Closed to bookings] ")
    assert int(event["SEQUENCE"]) == 1
    assert len(set(seen)) == 3


async def test_a_rendered_feed_is_served_from_the_cache_until_something_in_it_changes(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    slot = await add_slot(space)
    one, two = await make_user(role="staff", venues=[venue]), await make_user(role="manager", venues=[venue])
    feed, colleague = await subscribe(client, one, "venue", venue.id), await subscribe(client, two, "venue", venue.id)
    assert render_cache.renders == 0

    first = await client.get(feed.path)
    assert render_cache.renders == 1
    for _ in range(3):
        again = await client.get(feed.path)
        assert (
            again.content.replace(b"\r\n", b"\n").split(b"DTSTAMP")[0]
            == first.content.replace(b"\r\n", b"\n").split(b"DTSTAMP")[0]
        )
    # A colleague's feed of the same venue is the same calendar: rendered once for both.
    assert (await client.get(colleague.path)).content == first.content
    assert render_cache.renders == 1

    await book(client, await make_user(), slot_id=slot.id)
    changed = await client.get(feed.path)
    assert render_cache.renders == 2
    assert changed.headers["etag"] != first.headers["etag"]
    assert b"1/20" in changed.content


async def test_the_feed_is_gzipped_for_apps_that_accept_it(
    client: Client, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    citizen = await make_user()
    await book(client, citizen, slot_id=(await add_slot(await make_space())).id)
    feed = await subscribe(client, citizen, "me")
    plain = await client.get(feed.path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content.startswith(b"BEGIN:VCALENDAR\r\n")
    zipped = await client.get(feed.path, headers={"Accept-Encoding": "gzip;q=1.0, identity;q=0.5"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.headers["etag"] == plain.headers["etag"]
    assert int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.content == plain.content  # httpx decoded it
    refused = await client.get(feed.path, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


async def test_a_fetch_is_recorded_at_most_once_a_minute(client: Client, db: Database, make_user: MakeUser) -> None:
    citizen = await make_user()
    feed = await subscribe(client, citizen, "me")
    before = datetime.now(UTC)
    await client.get(feed.path)
    listed = (await client.get("/api/feeds", headers=citizen.headers)).json()["items"][0]
    assert listed["last_fetched_at"] is not None
    assert listed["last_fetched_at"].endswith("+09:00")
    first = datetime.fromisoformat(listed["last_fetched_at"])
    assert first >= before - timedelta(seconds=1)

    etag = (await client.get(feed.path)).headers["etag"]
    assert (await client.get(feed.path, headers={"If-None-Match": etag})).status_code == 304
    assert (await client.get("/api/feeds", headers=citizen.headers)).json()["items"][0]["last_fetched_at"] == listed[
        "last_fetched_at"
    ]

    async with unit_of_work(db.engine) as s:
        row = await s.scalar(select(CalendarFeed).where(CalendarFeed.id == feed.id))
        assert row is not None
        row.last_fetched_at = first - timedelta(minutes=2)
    # A 304 counts as a fetch too: the app is polling.
    assert (await client.get(feed.path, headers={"If-None-Match": etag})).status_code == 304
    again = (await client.get("/api/feeds", headers=citizen.headers)).json()["items"][0]["last_fetched_at"]
    assert datetime.fromisoformat(again) >= first


async def test_concurrent_fetches_while_people_book_all_succeed(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=50)
    slots = [await add_slot(space, in_days(2 + n)) for n in range(3)]
    staff = [await make_user(role="staff", venues=[venue]) for _ in range(3)]
    feeds = [await subscribe(client, s, "venue", venue.id) for s in staff]
    citizens = [await make_user() for _ in range(6)]

    async def poll(feed: Feed) -> list[int]:
        codes = []
        etag = ""
        for _ in range(4):
            response = await client.get(feed.path, headers={"If-None-Match": etag} if etag else {})
            codes.append(response.status_code)
            etag = response.headers.get("etag", etag)
        return codes

    async def booking(n: int) -> int:
        response = await client.post("/api/bookings", json={"slot_id": slots[n % 3].id}, headers=citizens[n].headers)
        return response.status_code

    results = await asyncio.gather(*(poll(f) for f in feeds * 2), *(booking(n) for n in range(6)))
    polls, bookings = results[:6], results[6:]
    assert all(code in (200, 304) for codes in polls for code in codes), polls  # type: ignore[union-attr]
    assert bookings == [201] * 6
    final = await fetch(client, feeds[0])
    assert sum(int(str(e["SUMMARY"]).split(" · ")[1].split("/")[0]) for e in final.events().values()) == 6
    listed = [(await client.get("/api/feeds", headers=s.headers)).json()["items"][0] for s in staff]
    assert all(item["last_fetched_at"] is not None for item in listed)


async def test_a_revoked_feed_is_not_served_from_the_cache(client: Client, make_user: MakeUser) -> None:
    citizen = await make_user()
    feed = await subscribe(client, citizen, "me")
    etag = (await client.get(feed.path)).headers["etag"]
    assert (await client.delete(f"/api/feeds/{feed.id}", headers=citizen.headers)).status_code == 204
    assert_problem(await client.get(feed.path), 404, "not_found")
    assert_problem(await client.get(feed.path, headers={"If-None-Match": etag}), 404, "not_found")


async def sent_body(client: Client, method: str, path: str) -> tuple[int, bytes]:
    """The status and the body bytes the app itself sends, below any client or server (both drop the body
    of a HEAD answer, which would hide one sent anyway)."""
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await client.app(scope, receive, send)  # type: ignore[arg-type]
    [status] = [m["status"] for m in messages if m["type"] == "http.response.start"]
    return status, b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


async def test_head_answers_like_get_without_a_body(
    client: Client, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    citizen = await make_user()
    await book(client, citizen, slot_id=(await add_slot(await make_space())).id)
    feed = await subscribe(client, citizen, "me")
    same = (
        "content-type",
        "content-length",
        "content-disposition",
        "etag",
        "last-modified",
        "cache-control",
        "vary",
        "x-robots-tag",
        "referrer-policy",
    )
    for accept in ("identity", "gzip"):
        got = await client.get(feed.path, headers={"Accept-Encoding": accept})
        head = await client.head(feed.path, headers={"Accept-Encoding": accept})
        assert head.status_code == 200, head.text
        assert head.content == b""
        assert {h: head.headers.get(h) for h in same} == {h: got.headers.get(h) for h in same}, accept
        assert head.headers.get("content-encoding") == got.headers.get("content-encoding")
    assert head.headers["content-type"] == "text/calendar; charset=utf-8"
    assert head.headers["content-encoding"] == "gzip"

    assert await sent_body(client, "HEAD", feed.path) == (200, b"")
    status, body = await sent_body(client, "GET", feed.path)
    assert (status, body[:15]) == (200, b"BEGIN:VCALENDAR")

    not_modified = await client.head(feed.path, headers={"If-None-Match": got.headers["etag"]})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == got.headers["etag"]

    assert (await client.delete(f"/api/feeds/{feed.id}", headers=citizen.headers)).status_code == 204
    assert (await client.head(feed.path)).status_code == 404
    assert (await client.head(f"/ical/{'A' * 43}.ics")).status_code == 404


def unfolded(response: Any) -> str:
    text: str = response.content.decode()
    return text.replace("\r\n ", "")


async def test_renaming_a_venue_space_or_programme_changes_every_feed_that_shows_the_name(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser, add_program: AddProgram
) -> None:
    venue = await make_venue(opens_on_holidays=True)
    space = await make_space(venue)
    program = await add_program(venue.id, space.id)
    session = (await client.get(f"/api/programs/{program.id}")).json()["sessions"][0]
    citizen, manager = await make_user(), await make_user(role="manager", venues=[venue])
    await book(client, citizen, slot_id=session["slot_id"])
    feeds = {
        "venue": await subscribe(client, manager, "venue", venue.id),
        "space": await subscribe(client, manager, "space", space.id),
        "program": await subscribe(client, manager, "program", program.id),
        "me": await subscribe(client, citizen, "me"),
    }
    etags = {scope: await etag_of(client, feed) for scope, feed in feeds.items()}

    # Every one of these four feeds shows the session with its venue, address, space and programme.
    for path, change, shown in (
        (f"/api/venues/{venue.id}", {"name_en": "Renamed venue"}, "Renamed venue"),
        (f"/api/venues/{venue.id}", {"address": "서울특별시 강북구 삼양로 99"}, "삼양로 99"),
        (f"/api/spaces/{space.id}", {"name_en": "Renamed lab"}, "Renamed lab"),
        (f"/api/programs/{program.id}", {"title_en": "Renamed course"}, "Renamed course"),
    ):
        edited = await client.patch(path, json=change, headers=manager.headers)
        assert edited.status_code == 200, edited.text
        for scope, feed in feeds.items():
            response = await client.get(feed.path, headers={"If-None-Match": etags[scope]})
            assert response.status_code == 200, (change, scope)
            assert response.headers["etag"] != etags[scope], (change, scope)
            assert shown in unfolded(response), (change, scope)
            etags[scope] = response.headers["etag"]


async def test_renaming_a_stay_holder_or_a_participant_changes_the_staff_feeds_that_show_the_name(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser, add_program: AddProgram
) -> None:
    town = await make_venue(kind="vitality_town", opens_on_holidays=True)
    lab = await make_space(town)
    room = await make_space(town, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    program = await add_program(town.id, lab.id)
    session = (await client.get(f"/api/programs/{program.id}")).json()["sessions"][0]
    citizen = await make_user(name="김민수")
    await book(client, citizen, slot_id=session["slot_id"])
    check_in = in_days(6).astimezone(KST).date()
    stay = {"check_in": check_in.isoformat(), "check_out": (check_in + timedelta(days=1)).isoformat()}
    await book(client, citizen, space_id=room.id, party_size=2, **stay)
    manager, admin = await make_user(role="manager", venues=[town]), await make_user(role="admin")
    feeds = {
        "venue": await subscribe(client, manager, "venue", town.id),  # the stay, holder masked
        "space": await subscribe(client, manager, "space", room.id),  # the same
        "program": await subscribe(client, manager, "program", program.id),  # the roster, masked
    }
    # A holder or participant as shown: "김*수 2명", "1. 김*수 · 1명" (the roster's note "(김*수)" is an example).
    etags = {}
    for scope, feed in feeds.items():
        response = await client.get(feed.path)
        assert "김*수 " in unfolded(response), scope
        etags[scope] = response.headers["etag"]

    renamed = await client.patch(f"/api/users/{citizen.id}", json={"name": "이민수"}, headers=admin.headers)
    assert renamed.status_code == 200, renamed.text
    for scope, feed in feeds.items():
        response = await client.get(feed.path, headers={"If-None-Match": etags[scope]})
        assert response.status_code == 200, scope
        assert "이*수 " in unfolded(response), scope
        assert "김*수 " not in unfolded(response), scope


async def eventually(condition: Callable[[], bool], seconds: float = 5) -> None:
    """Let the other tasks run until ``condition`` holds, or ``seconds`` pass (a counter has no event)."""
    for _ in range(int(seconds * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)


async def test_a_render_runs_off_the_event_loop_and_once_for_simultaneous_misses(
    client: Client,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    add_slot: AddSlot,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    venue = await make_venue()
    await add_slot(await make_space(venue))
    feed = await subscribe(client, await make_user(role="staff", venues=[venue]), "venue", venue.id)
    # The render is held until the test lets it go; on the event loop it would hold the loop too, and
    # nothing else could answer until the hold timed out.
    started, release = threading.Event(), threading.Event()
    timeline: list[str] = []
    real_render = services.render_calendar

    def held_render(*args: Any, **kwargs: Any) -> bytes:
        timeline.append("render started")
        started.set()
        timeline.append("render released" if release.wait(timeout=5) else "render timed out")
        return real_render(*args, **kwargs)

    monkeypatch.setattr(services, "render_calendar", held_render)
    # AsyncTestClient serves one request at a time: real concurrency needs the ASGI transport.
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        # Two encodings: the server's read cache (server.read_cache) keys answers by Accept-Encoding, so
        # both polls reach the feed and meet at its render cache, which renders both bodies once.
        polls = [
            asyncio.create_task(http.get(feed.path, headers={"Accept-Encoding": encoding}))
            for encoding in ("gzip", "identity")
        ]
        await eventually(lambda: started.is_set() and render_cache.waits > 0)
        health = await http.get("/health")
        timeline.append("health answered")
        release.set()
        answers = await asyncio.gather(*polls)
    assert health.status_code == 200
    assert timeline == ["render started", "health answered", "render released"]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].content == answers[1].content  # httpx decodes the gzipped one
    assert (render_cache.renders, render_cache.waits) == (1, 1)
