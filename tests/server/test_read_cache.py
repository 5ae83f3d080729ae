"""The read cache (server.read_cache) and the catalogue version behind it (core.catalogue_version):
every kind of write that changes a cached public read is seen by the next read, ETag/304, and the
version bumps only for writes that commit and that touch what the public reads show."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import delete, func, select, update

from accounts.models import AccessToken, User, VenueAssignment
from accounts.services import AccountService
from core.catalogue_version import ROWS, SHARDS, VersionReader, catalogue_version, quiet
from core.clock import utcnow
from core.database import create_engine, unit_of_work
from server import read_cache
from server.job_runs import claim as claim_run
from server.lease import Leader
from server.read_cache import ReadCache
from tests.booking.conftest import Client, book
from tests.conftest import Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.programs.test_programs_http import programme
from venues import places
from venues.models import Slot, SlotStatus, Venue


async def version(db: Database) -> int:
    async with unit_of_work(db.engine) as s:
        return int((await s.scalar(select(func.sum(catalogue_version.c.version)))) or 0)


async def cached_twice(client: Client, app: Litestar, url: str, **params: Any) -> Any:
    """Read twice, the second time from the cache (checked: its entry is there), and return the body."""
    first = await client.get(url, params=params)
    assert first.status_code == 200, first.text
    cache: ReadCache = app.state.read_cache
    assert any(key[0] == url for key in cache.entries), "the first read was not cached"
    second = await client.get(url, params=params)
    assert second.json() == first.json()
    return second.json()


async def test_a_cached_answer_has_an_etag_and_if_none_match_gets_304(
    client: Client, app: Litestar, make_venue: MakeVenue
) -> None:
    venue = await make_venue()
    first = await client.get(f"/api/venues/{venue.id}")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["x-content-type-options"] == "nosniff"  # the security headers, from memory too
    again = await client.get(f"/api/venues/{venue.id}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await client.get(f"/api/venues/{venue.id}", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.json() == first.json()

    cache: ReadCache = app.state.read_cache
    cache.clear()  # as in another process: its first request is conditional, and the entry is kept
    cold = await client.get(f"/api/venues/{venue.id}", headers={"If-None-Match": etag})
    assert cold.status_code == 304
    assert any(key[0] == f"/api/venues/{venue.id}" for key in cache.entries)


async def test_errors_are_not_cached_and_the_missing_stays_missing(
    client: Client, app: Litestar, make_venue: MakeVenue
) -> None:
    assert (await client.get("/api/venues/999999")).status_code == 404
    cache: ReadCache = app.state.read_cache
    assert not cache.entries
    assert (await client.get("/api/venues/999999")).status_code == 404


async def test_venue_edits_opening_hours_and_closures_are_seen_at_once(
    client: Client, app: Litestar, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    manager = await make_user(role="manager", venues=[venue])
    url = f"/api/venues/{venue.id}"
    await cached_twice(client, app, url)
    listed = await cached_twice(client, app, "/api/venues")
    assert venue.name in [v["name"] for v in listed["items"]]

    edited = await client.patch(url, json={"name": "새 이름의 장소"}, headers=manager.headers)
    assert edited.status_code == 200, edited.text
    assert (await client.get(url)).json()["name"] == "새 이름의 장소"
    assert "새 이름의 장소" in [v["name"] for v in (await client.get("/api/venues")).json()["items"]]

    await cached_twice(client, app, url)
    hours = [{"weekday": 0, "opens": "10:00", "closes": "12:00"}]
    assert (await client.put(f"{url}/opening-hours", json=hours, headers=manager.headers)).status_code == 200
    assert len((await client.get(url)).json()["opening_hours"]) == 1

    day = in_days(4).date().isoformat()
    days_url = f"{url}/days"
    before = await cached_twice(client, app, days_url, **{"from": day, "to": day})
    closure = {"start_date": day, "end_date": day, "reason": "점검", "reason_en": "Maintenance"}
    assert (await client.post(f"{url}/closures", json=closure, headers=manager.headers)).status_code == 201
    after = (await client.get(days_url, params={"from": day, "to": day})).json()
    assert after != before

    space_url = f"/api/spaces/{space.id}"
    await cached_twice(client, app, space_url)
    assert (await client.patch(space_url, json={"name": "큰 실습실"}, headers=manager.headers)).status_code == 200
    assert (await client.get(space_url)).json()["name"] == "큰 실습실"


async def test_bookings_cancellations_and_blocked_slots_change_availability_at_once(
    client: Client,
    app: Litestar,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=5)
    slot = await make_slot(space, start=in_days(3))
    staff = await make_user(role="staff", venues=[venue])
    citizen = await make_user()
    url = f"/api/spaces/{space.id}/availability"
    venue_url = f"/api/venues/{venue.id}/availability"

    def remaining(body: Any) -> int:
        [listed] = [s for s in body["slots"] if s["id"] == slot.id]
        return int(listed["remaining"])

    def remaining_of_venue(body: Any) -> int:
        [of_space] = [s for s in body["spaces"] if s["space_id"] == space.id]
        return remaining(of_space)

    assert remaining(await cached_twice(client, app, url)) == 5
    assert remaining_of_venue(await cached_twice(client, app, venue_url)) == 5
    booked = await book(client, {**citizen.headers, "Idempotency-Key": "cache-1"}, slot_id=slot.id)
    assert booked.status_code == 201, booked.text
    assert remaining((await client.get(url)).json()) == 4
    assert remaining_of_venue((await client.get(venue_url)).json()) == 4

    await cached_twice(client, app, url)
    cancelled = await client.post(f"/api/bookings/{booked.json()['id']}/cancel", headers=citizen.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert remaining((await client.get(url)).json()) == 5

    await cached_twice(client, app, url)
    blocked = await client.post(f"/api/slots/{slot.id}/block", json={"note": "점검"}, headers=staff.headers)
    assert blocked.status_code == 200, blocked.text
    [listed] = [s for s in (await client.get(url)).json()["slots"] if s["id"] == slot.id]
    assert listed["status"] == "blocked"


async def test_a_new_programme_is_listed_at_once(
    client: Client, app: Litestar, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(kind="digital_plaza", hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, kind="classroom", capacity=20)
    manager = await make_user(role="manager", venues=[venue])
    assert (await cached_twice(client, app, "/api/programs"))["items"] == []
    created = await client.post("/api/programs", json=programme(venue.id, space.id), headers=manager.headers)
    assert created.status_code == 201, created.text
    listed = (await client.get("/api/programs")).json()["items"]
    assert [p["id"] for p in listed] == [created.json()["id"]]
    detail_url = f"/api/programs/{created.json()['id']}"
    await cached_twice(client, app, detail_url)
    edited = await client.patch(detail_url, json={"title": "새 제목"}, headers=manager.headers)
    assert edited.status_code == 200, edited.text
    assert (await client.get(detail_url)).json()["title"] == "새 제목"


async def test_the_version_bumps_with_a_committed_catalogue_write_only(
    db: Database, make_venue: MakeVenue, make_user: MakeUser
) -> None:
    venue = await make_venue()
    citizen = await make_user()
    async with unit_of_work(db.engine) as s:  # every shard a writer may bump is there
        assert await s.scalar(select(func.count()).select_from(catalogue_version)) == ROWS
    start = await version(db)

    async with unit_of_work(db.engine) as s:  # an ORM object changed and flushed at commit
        (await s.get_one(Venue, venue.id)).name = "바뀐 이름"
    assert await version(db) == start + 1

    async with unit_of_work(db.engine) as s:  # a DML statement through the session
        await s.execute(update(Venue).where(Venue.id == venue.id).values(name_en="Renamed"))
    assert await version(db) == start + 2

    try:
        async with unit_of_work(db.engine) as s:  # rolled back: nothing to see, nothing bumped
            await s.execute(update(Venue).where(Venue.id == venue.id).values(name_en="Never"))
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    assert await version(db) == start + 2

    async with unit_of_work(db.engine) as s:  # a new token (a login) is nothing anyone remembers yet
        await AccountService(s, db.settings).issue_token(citizen)
    assert await version(db) == start + 2

    async with unit_of_work(db.engine) as s:  # a token changed (revoked) is: who it was is remembered
        token = await s.scalar(select(AccessToken).where(AccessToken.user_id == citizen.id))
        assert token is not None
        token.expires_at = token.expires_at + timedelta(hours=1)
    assert await version(db) == start + 3
    start += 1

    async with unit_of_work(db.engine) as s:  # reading only
        await s.get_one(Venue, venue.id)
    assert await version(db) == start + 2

    async with unit_of_work(db.engine) as s:  # declared quiet (a feed's last fetch time)
        quiet(s)
        await s.execute(update(Venue).where(Venue.id == venue.id).values(name_en="Quietly"))
    assert await version(db) == start + 2

    # The scheduler's lease, taken and renewed every few seconds by every process, and a job's run
    # record: the caches must not empty at each renewal.
    leader = Leader(db.engine, db.settings, holder="test-process")
    assert await leader.try_take()
    assert await leader.try_take()
    assert await claim_run(db.engine, "purge-tokens", utcnow(), "test-process")
    assert await version(db) == start + 2


async def accounts_version(db: Database) -> int:
    async with unit_of_work(db.engine) as s:
        total = select(func.sum(catalogue_version.c.version)).where(catalogue_version.c.id > SHARDS)
        return int((await s.scalar(total)) or 0)


async def test_the_accounts_version_moves_with_who_a_token_is_and_not_with_bookings(
    db: Database, client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:  # fmt: skip
    """What the answers from memory remember of tokens is keyed by the accounts version: a booking (the
    rush's every write) leaves it, a token revoked, a role changed or a venue assignment does not."""
    venue = await make_venue()
    slot = await make_slot(await make_space(venue))
    citizen, staff = await make_user(), await make_user(role="staff", venues=[venue])
    reader = VersionReader(db.engine, db.settings)
    start, accounts = await version(db), await accounts_version(db)
    assert await reader.both() == (start, accounts)

    assert (await book(client, citizen.headers, slot_id=slot.id)).status_code == 201
    async with unit_of_work(db.engine) as s:
        await s.execute(update(Venue).where(Venue.id == venue.id).values(name_en="Renamed"))
    await make_user()  # a new account: no token anyone holds changes
    assert await version(db) == start + 3
    assert await accounts_version(db) == accounts
    assert await reader.both() == (start + 3, accounts)

    assert (await client.post("/api/auth/logout", headers=citizen.headers)).is_success
    assert await accounts_version(db) == accounts + 1
    async with unit_of_work(db.engine) as s:
        await s.execute(update(User).where(User.id == staff.id).values(role="manager"))
    assert await accounts_version(db) == accounts + 2
    async with unit_of_work(db.engine) as s:
        await s.execute(delete(VenueAssignment).where(VenueAssignment.user_id == staff.id))
    assert await accounts_version(db) == accounts + 3
    async with unit_of_work(db.engine) as s:
        s.add(VenueAssignment(user_id=staff.id, venue_id=venue.id))
    assert await accounts_version(db) == accounts + 4
    async with unit_of_work(db.engine) as s:  # quiet or not, who a token is must be seen at once
        quiet(s)
        (await s.get_one(User, staff.id)).is_active = False
    assert await accounts_version(db) == accounts + 5
    assert await version(db) == start + 8  # each of them moved the version too
    assert await reader.both() == (start + 8, accounts + 5)
    await reader.close()


async def test_a_cached_feed_follows_bookings_and_revocation_at_once(
    client: Client, app: Litestar, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot,
    make_user: MakeUser,
) -> None:  # fmt: skip
    citizen = await make_user()
    slot = await make_slot(await make_space(await make_venue()), start=in_days(3))
    feed = (await client.post("/api/feeds", json={"scope": "me"}, headers=citizen.headers)).json()
    path = "/ical/" + feed["url"].rsplit("/ical/", 1)[1]
    empty = await client.get(path)
    assert empty.status_code == 200, empty.text
    assert (await client.get(path)).content == empty.content
    cache: ReadCache = app.state.read_cache
    assert any(key[0] == path for key in cache.entries)
    assert (await client.get(path, headers={"If-None-Match": empty.headers["etag"]})).status_code == 304

    booked = await book(client, {**citizen.headers, "Idempotency-Key": "feed-1"}, slot_id=slot.id)
    assert booked.status_code == 201, booked.text
    after = await client.get(path, headers={"If-None-Match": empty.headers["etag"]})
    assert after.status_code == 200
    assert after.content.count(b"BEGIN:VEVENT") == empty.content.count(b"BEGIN:VEVENT") + 1

    assert (await client.delete(f"/api/feeds/{feed['id']}", headers=citizen.headers)).status_code == 204
    assert (await client.get(path)).status_code == 404


async def test_an_entry_past_its_time_is_rebuilt_but_a_venue_page_only_after_a_write(
    client: Client, app: Litestar, make_venue: MakeVenue, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Availability depends on the clock (slots that begin, windows that open): rebuilt after
    ``TTL_SECONDS``. A venue's page does not (``CLOCKLESS_ROUTES``): kept until a write."""
    venue = await make_venue()
    clocked, page = f"/api/venues/{venue.id}/availability", f"/api/venues/{venue.id}"
    cache: ReadCache = app.state.read_cache
    first: dict[str, Any] = {}
    for url in (clocked, page):
        await cached_twice(client, app, url)
        [first[url]] = [entry for key, entry in cache.entries.items() if key[0] == url]
    monkeypatch.setattr(read_cache, "TTL_SECONDS", -1.0)  # every entry past its time
    for url in (clocked, page):
        assert (await client.get(url)).status_code == 200
    [again] = [entry for key, entry in cache.entries.items() if key[0] == clocked]
    assert again is not first[clocked]
    assert again.body == first[clocked].body
    [kept] = [entry for key, entry in cache.entries.items() if key[0] == page]
    assert kept is first[page]
    async with unit_of_work(db.engine) as s:  # a write: the page is built again at once
        await s.execute(update(Venue).where(Venue.id == venue.id).values(name="새 이름"))
    assert (await client.get(page)).json()["name"] == "새 이름"


async def test_the_cache_keeps_within_its_byte_budget(
    client: Client, app: Litestar, make_venue: MakeVenue, monkeypatch: pytest.MonkeyPatch
) -> None:
    venues = [await make_venue() for _ in range(3)]
    cache: ReadCache = app.state.read_cache
    for venue in venues:
        await client.get(f"/api/venues/{venue.id}")
    one = max(len(entry.body) for entry in cache.entries.values())
    assert cache.total_bytes == sum(len(entry.body) for entry in cache.entries.values())
    monkeypatch.setattr(read_cache, "MAX_TOTAL_BYTES", one + 1)
    again = await client.get(f"/api/venues/{venues[0].id}?again=1")
    assert again.status_code == 200
    assert len(cache.entries) == 1  # the least recently used went out
    assert cache.total_bytes <= one + 1


@pytest.mark.parametrize("pooled", [False, True], ids=["engine", "own-connection"])
@pytest.mark.parametrize("busy", [False, True], ids=["free-file", "busy-file"])
async def test_the_version_reader_reads_a_row_with_parameters_outside_any_session(
    db: Database, make_space: MakeSpace, make_slot: MakeSlot, pooled: bool, busy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fetch_row`` with parameters (the rush's look at a slot's places): on a SQLite file by its own
    ``sqlite3`` connection (through the engine, off the loop, when the file is busy), on PostgreSQL with
    a pool by the version's own connection, else through the engine; the same answers each way, and the
    latest commit seen."""
    if busy:

        def locked(self: VersionReader, sql: str, params: tuple[Any, ...] = ()) -> Any:
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(VersionReader, "_read_sqlite", locked)
    engine = create_engine(dataclasses.replace(db.settings, db_pool_size=2), schema=db.schema) if pooled else db.engine
    reader = VersionReader(engine, db.settings if not pooled else dataclasses.replace(db.settings, db_pool_size=2))
    try:
        slot = await make_slot(await make_space(capacity=3))

        async def left(slot_id: int) -> Any:
            row = await reader.fetch_row(*reader.driver_sql(places.LEFT_IF_OPEN, slot_id=slot_id))
            return None if row is None else row[0]

        assert await left(slot.id) == 3
        async with unit_of_work(db.engine) as s:
            await s.execute(update(Slot).where(Slot.id == slot.id).values(taken=2))
        assert await left(slot.id) == 1
        async with unit_of_work(db.engine) as s:
            await s.execute(update(Slot).where(Slot.id == slot.id).values(status=SlotStatus.BLOCKED))
        assert await left(slot.id) is None  # not open
        assert await left(slot.id + 1000) is None  # not there
        assert await reader.current() is not None  # the version's own reads still answer beside them
    finally:
        await reader.close()
        if pooled:
            await engine.dispose()


@pytest.mark.parametrize("db", ["postgres"], indirect=True)  # the kept connection is PostgreSQL's
async def test_the_version_reader_opens_its_connection_again_after_losing_it(db: Database) -> None:
    """PostgreSQL with a pool: the version's own connection, killed by the server (a restart, a failover,
    an idle timeout), costs one unknown version (nothing served from a cache), then a new one answers."""
    settings = dataclasses.replace(db.settings, db_pool_size=2)
    engine = create_engine(settings, schema=db.schema)
    reader = VersionReader(engine, settings)
    try:
        before = await reader.current()
        assert before is not None
        pid = await reader.fetch_row("SELECT pg_backend_pid()")
        assert pid is not None
        async with unit_of_work(db.engine) as s:
            await s.execute(select(func.pg_terminate_backend(pid[0])))
        assert await reader.current() is None  # lost: unknown, no error
        assert await reader.current() == before  # and open again
        again = await reader.fetch_row("SELECT pg_backend_pid()")
        assert again is not None
        assert again[0] != pid[0]
    finally:
        await reader.close()
        await engine.dispose()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # PRAGMA data_version is SQLite's
async def test_sqlite_reads_the_version_again_only_after_another_connections_commit(db: Database) -> None:
    """A SQLite file's version read asks ``PRAGMA data_version`` (which moves at any other connection's
    commit) and queries the rows again only when it moved: a write is still seen at once."""
    reader = VersionReader(db.engine, db.settings)
    try:
        before = await reader.current()
        assert before is not None
        asked: list[str] = []
        assert reader._sqlite is not None
        reader._sqlite.set_trace_callback(asked.append)
        assert await reader.current() == before
        assert asked == ["PRAGMA data_version"]  # nothing committed since: the rows are not read
        async with unit_of_work(db.engine) as s:
            await s.execute(
                update(catalogue_version)
                .where(catalogue_version.c.id == 3)
                .values(version=catalogue_version.c.version + 7)
            )
        asked.clear()
        assert await reader.current() == before + 7  # seen at once
        assert len(asked) == 2
        assert await reader.current() == before + 7
        assert len(asked) == 3
    finally:
        await reader.close()
