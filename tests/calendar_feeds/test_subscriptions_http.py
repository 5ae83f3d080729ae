"""Calendar subscriptions through HTTP: creating, listing and revoking them, and who may follow what."""

from __future__ import annotations

import hashlib
import re

from openapi_spec_validator import validate
from sqlalchemy import delete, select

from accounts.models import VenueAssignment
from calendar_feeds.models import CalendarFeed
from core.database import unit_of_work
from tests.accounts.test_auth_http import assert_problem
from tests.calendar_feeds.conftest import AddProgram, Client, subscribe
from tests.conftest import Database, MakeSpace, MakeUser, MakeVenue

SECRET_URL = re.compile(r"^http://testserver/ical/([A-Za-z0-9_-]{43,})\.ics$")


async def test_a_new_feed_shows_its_secret_url_once_and_stores_only_its_hash(
    client: Client, db: Database, make_user: MakeUser
) -> None:
    citizen = await make_user()
    response = await client.post("/api/feeds", json={"scope": "me"}, headers=citizen.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body.keys() >= {"id", "scope", "target_id", "url", "webcal_url", "https_url", "created_at"}
    assert body["scope"] == "me"
    assert body["target_id"] is None
    assert body["created_at"].endswith("+09:00")
    match = SECRET_URL.match(body["url"])
    assert match, body["url"]
    secret = match.group(1)
    # token_urlsafe(32): 256 random bits, at least the 128 the issue asks for.
    assert len(secret) >= 43
    assert body["webcal_url"] == f"webcal://testserver/ical/{secret}.ics"
    assert body["https_url"] == f"https://testserver/ical/{secret}.ics"

    async with unit_of_work(db.engine) as s:
        feed = await s.scalar(select(CalendarFeed).where(CalendarFeed.id == body["id"]))
    assert feed is not None
    assert feed.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {feed.secret_hash, feed.scope, str(feed.target_id)}

    again = await subscribe(client, citizen, "me")
    assert again.url != body["url"]  # a second device gets its own url, revocable on its own

    listed = await client.get("/api/feeds", headers=citizen.headers)
    assert listed.status_code == 200
    page = listed.json()
    assert page.keys() == {"items", "total", "limit", "offset"}
    assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
    assert [item["id"] for item in page["items"]] == [body["id"], again.id]
    assert all("url" not in item and secret not in str(item) for item in page["items"])
    assert page["items"][0]["last_fetched_at"] is None
    assert (await client.get("/api/feeds?limit=1&offset=1", headers=citizen.headers)).json()["items"][0][
        "id"
    ] == again.id
    assert_problem(await client.get("/api/feeds?limit=501", headers=citizen.headers), 400, "validation_error")


async def test_feeds_need_a_login(client: Client) -> None:
    assert_problem(await client.post("/api/feeds", json={"scope": "me"}), 401, "unauthenticated")
    assert_problem(await client.get("/api/feeds"), 401, "unauthenticated")
    assert_problem(await client.delete("/api/feeds/1"), 401, "unauthenticated")


async def test_staff_follow_their_own_venue_and_its_spaces_but_not_another_venue(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue, other = await make_venue(), await make_venue()
    space, other_space = await make_space(venue), await make_space(other)
    staff = await make_user(role="staff", venues=[venue])
    manager = await make_user(role="manager", venues=[venue])
    admin = await make_user(role="admin")
    citizen = await make_user()

    for account in (staff, manager, admin):
        await subscribe(client, account, "venue", venue.id)
        await subscribe(client, account, "space", space.id)
    body = assert_problem(
        await client.post("/api/feeds", json={"scope": "venue", "target_id": other.id}, headers=staff.headers),
        403,
        "forbidden",
    )
    assert str(other.id) in body["detail"]
    assert_problem(
        await client.post("/api/feeds", json={"scope": "space", "target_id": other_space.id}, headers=staff.headers),
        403,
        "forbidden",
    )
    assert_problem(
        await client.post("/api/feeds", json={"scope": "venue", "target_id": venue.id}, headers=citizen.headers),
        403,
        "forbidden",
    )
    assert_problem(
        await client.post("/api/feeds", json={"scope": "venue", "target_id": 999_999}, headers=staff.headers),
        404,
        "not_found",
    )
    assert_problem(
        await client.post("/api/feeds", json={"scope": "space", "target_id": 999_999}, headers=staff.headers),
        404,
        "not_found",
    )


async def test_malformed_subscriptions_are_validation_errors(client: Client, make_user: MakeUser) -> None:
    staff = await make_user(role="staff")
    for payload in (
        {"scope": "venue"},
        {"scope": "planet", "target_id": 1},
        {"scope": "me", "target_id": staff.id + 1000},
        {"scope": "venue", "target_id": 0},
        {"scope": "venue", "target_id": "one"},
        {"scope": "me", "extra": True},
    ):
        assert_problem(await client.post("/api/feeds", json=payload, headers=staff.headers), 400, "validation_error")
    # Naming oneself is the same as naming no one.
    own = await subscribe(client, staff, "me", staff.id)
    assert own.body["target_id"] is None


async def test_programme_feeds_are_for_its_instructors_and_the_venue_staff(
    client: Client,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_user: MakeUser,
    add_program: AddProgram,
) -> None:
    venue = await make_venue(opens_on_holidays=True)
    space = await make_space(venue)
    instructor, other_instructor = await make_user(role="instructor"), await make_user(role="instructor")
    program = await add_program(venue.id, space.id, instructor_ids=[instructor.id])
    await subscribe(client, instructor, "program", program.id)
    await subscribe(client, await make_user(role="staff", venues=[venue]), "program", program.id)
    for outsider in (
        other_instructor,
        await make_user(role="staff", venues=[await make_venue()]),
        await make_user(),
    ):
        assert_problem(
            await client.post(
                "/api/feeds", json={"scope": "program", "target_id": program.id}, headers=outsider.headers
            ),
            403,
            "forbidden",
        )
    assert_problem(
        await client.post("/api/feeds", json={"scope": "program", "target_id": 999_999}, headers=instructor.headers),
        404,
        "not_found",
    )


async def test_a_revoked_feed_is_gone_and_others_feeds_cannot_be_revoked(client: Client, make_user: MakeUser) -> None:
    owner, stranger = await make_user(), await make_user()
    feed = await subscribe(client, owner, "me")
    kept = await subscribe(client, owner, "me")
    assert (await client.get(feed.path)).status_code == 200

    assert_problem(await client.delete(f"/api/feeds/{feed.id}", headers=stranger.headers), 404, "not_found")
    assert (await client.get(feed.path)).status_code == 200

    response = await client.delete(f"/api/feeds/{feed.id}", headers=owner.headers)
    assert response.status_code == 204, response.text
    assert_problem(await client.get(feed.path), 404, "not_found")
    assert_problem(await client.delete(f"/api/feeds/{feed.id}", headers=owner.headers), 404, "not_found")
    assert [item["id"] for item in (await client.get("/api/feeds", headers=owner.headers)).json()["items"]] == [kept.id]
    assert (await client.get(kept.path)).status_code == 200


async def test_unknown_and_malformed_feed_urls_are_not_found(client: Client) -> None:
    for path in (
        "/ical/short.ics",
        f"/ical/{'A' * 43}.ics",
        f"/ical/{'A' * 43}",
        f"/ical/{'A' * 40}%2F..%2F.ics",
    ):
        assert_problem(await client.get(path), 404, "not_found")


async def test_a_staff_member_moved_to_another_venue_loses_the_old_venue_feed(
    client: Client, db: Database, make_venue: MakeVenue, make_user: MakeUser
) -> None:
    venue = await make_venue()
    staff = await make_user(role="staff", venues=[venue])
    feed = await subscribe(client, staff, "venue", venue.id)
    assert (await client.get(feed.path)).status_code == 200
    async with unit_of_work(db.engine) as s:
        await s.execute(delete(VenueAssignment).where(VenueAssignment.user_id == staff.id))
    # The url still exists, but its owner may no longer follow the venue: the same 404 as a revoked one.
    assert_problem(await client.get(feed.path), 404, "not_found")


async def test_the_feed_endpoints_are_in_a_valid_openapi_document(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    paths = spec["paths"]
    assert {paths["/api/feeds"]["post"]["operationId"], paths["/api/feeds"]["get"]["operationId"]} == {
        "createFeed",
        "listFeeds",
    }
    assert paths["/api/feeds/{feed_id}"]["delete"]["operationId"] == "revokeFeed"
    ical = paths["/ical/{filename}"]["get"]
    assert ical["operationId"] == "calendarFeed"
    assert "text/calendar" in ical["responses"]["200"]["content"]
    assert "security" not in ical  # calendar apps cannot log in: the url is the credential
    assert paths["/ical/{filename}"]["head"]["operationId"] == "calendarFeedHead"
    assert paths["/api/feeds"]["post"]["security"] == [{"BearerToken": []}]
