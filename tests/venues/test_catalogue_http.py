"""The venue catalogue through HTTP: filters, pagination, detail, and who may edit what."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.accounts.test_auth_http import assert_problem
from tests.conftest import MakeSpace, MakeUser, MakeVenue

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def catalogue(make_venue: MakeVenue) -> dict[str, Any]:
    a = await make_venue(
        kind="practice_site", district="gangbuk", name="드론 정비 실습실 수유", name_en="Drone lab Suyu"
    )
    b = await make_venue(kind="practice_site", district="mapo", name="로봇 실습 마포", name_en="Robot lab Mapo")
    c = await make_venue(
        kind="digital_plaza", district="gangbuk", name="디지털 동행 플라자 강북", name_en="Digital plaza"
    )
    d = await make_venue(
        kind="vitality_town", district="gangbuk", name="활력+행복타운", name_en="Vitality+Happiness Town"
    )
    return {"a": a, "b": b, "c": c, "d": d}


async def test_filters_by_kind_district_and_text(client: Client, catalogue: dict[str, Any]) -> None:
    async def ids(**params: Any) -> list[int]:
        response = await client.get("/api/venues", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["items"])
        return [v["id"] for v in body["items"]]

    a, b, c, d = (catalogue[k].id for k in "abcd")
    assert await ids(kind="practice_site") == [a, b]
    assert await ids(district="gangbuk") == [a, c, d]
    assert await ids(district="강북구") == [a, c, d]
    assert await ids(district="Gangbuk-gu", kind="digital_plaza") == [c]
    assert await ids(q="드론") == [a]
    assert await ids(q="robot") == [b]
    assert await ids(q="nothing-like-this") == []


async def test_list_items_have_the_contract_fields(client: Client, catalogue: dict[str, Any]) -> None:
    item = (await client.get("/api/venues", params={"kind": "vitality_town"})).json()["items"][0]
    assert {"id", "slug", "name", "name_en", "kind", "district", "address", "lat", "lon"} <= item.keys()
    assert item["district"] == "gangbuk"
    assert item["district_name"] == "강북구"


async def test_pagination_pages_through_all_venues(client: Client, make_venue: MakeVenue) -> None:
    made = [(await make_venue()).id for _ in range(7)]
    seen: list[int] = []
    for offset in range(0, 7, 3):
        page = (await client.get("/api/venues", params={"limit": 3, "offset": offset})).json()
        assert page["total"] == 7
        assert page["limit"] == 3
        assert page["offset"] == offset
        seen += [v["id"] for v in page["items"]]
    assert seen == made
    past_the_end = (await client.get("/api/venues", params={"offset": 50})).json()
    assert past_the_end["items"] == []
    assert past_the_end["total"] == 7
    assert (await client.get("/api/venues")).json()["limit"] == 50


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 501},
        {"limit": 0},
        {"limit": -1},
        {"offset": -1},
        {"limit": "ten"},
        {"kind": "castle"},
        {"district": "atlantis"},
    ],
)
async def test_bad_list_parameters_are_400(client: Client, params: dict[str, Any]) -> None:
    assert_problem(await client.get("/api/venues", params=params), 400, "validation_error")


async def test_limit_of_500_is_allowed(client: Client) -> None:
    assert (await client.get("/api/venues", params={"limit": 500})).status_code == 200


async def test_detail_lists_spaces_and_opening_hours(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace
) -> None:
    venue = await make_venue(kind="vitality_town", hours=[(0, "09:00", "12:00"), (0, "13:00", "21:00")])
    await make_space(venue, kind="lodging_room", shape="stay", capacity=4, max_party=4, slot_minutes=None)
    await make_space(venue, kind="meditation_room", shape="exclusive", capacity=6, max_party=6)
    body = (await client.get(f"/api/venues/{venue.id}")).json()
    assert [(s["kind"], s["shape"]) for s in body["spaces"]] == [
        ("lodging_room", "stay"),
        ("meditation_room", "exclusive"),
    ]
    assert body["opening_hours"] == [
        {"weekday": 0, "opens": "09:00", "closes": "12:00"},
        {"weekday": 0, "opens": "13:00", "closes": "21:00"},
    ]
    assert body["spaces"][0]["venue_id"] == venue.id
    assert body["spaces"][0]["capacity"] == 4
    # Town kind defaults: a month ahead, stays from 15:00 to 11:00.
    assert body["rules"]["booking_opens_days_ahead"] == 30
    assert body["spaces"][0]["rules"]["stay_check_in"] == "15:00:00"


async def test_unknown_venue_and_space_are_404(client: Client) -> None:
    assert_problem(await client.get("/api/venues/987654"), 404, "not_found")
    assert_problem(await client.get("/api/spaces/987654"), 404, "not_found")
    assert_problem(await client.get("/api/venues/not-a-number"), 404, "not_found")


# --- who may do what -----------------------------------------------------------------------------


async def test_staff_of_one_venue_is_refused_at_another(
    client: Client, make_venue: MakeVenue, make_user: MakeUser
) -> None:
    mine, theirs = await make_venue(), await make_venue()
    staff = await make_user(role="staff", venues=[mine])
    assert (await client.get(f"/api/venues/{mine.id}/team", headers=staff.headers)).status_code == 200
    assert_problem(await client.get(f"/api/venues/{theirs.id}/team", headers=staff.headers), 403, "forbidden")
    # Staff run the day; setting up the venue is for managers, even at their own venue.
    patch = {"name": "바꾼 이름"}
    assert_problem(await client.patch(f"/api/venues/{mine.id}", json=patch, headers=staff.headers), 403, "forbidden")


async def test_manager_edits_own_venue_only(client: Client, make_venue: MakeVenue, make_user: MakeUser) -> None:
    mine, theirs = await make_venue(), await make_venue()
    manager = await make_user(role="manager", venues=[mine])
    ok = await client.patch(
        f"/api/venues/{mine.id}",
        json={"name": "새 이름", "opens_on_holidays": True, "rules": {"weekly_quota": 2}},
        headers=manager.headers,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "새 이름"
    assert ok.json()["opens_on_holidays"] is True
    assert ok.json()["rules"]["weekly_quota"] == 2
    refused = await client.patch(f"/api/venues/{theirs.id}", json={"name": "x"}, headers=manager.headers)
    assert_problem(refused, 403, "forbidden")
    assert (await client.get(f"/api/venues/{theirs.id}")).json()["name"] == theirs.name


async def test_citizens_and_anonymous_cannot_edit(client: Client, make_venue: MakeVenue, make_user: MakeUser) -> None:
    venue = await make_venue()
    citizen = await make_user()
    assert_problem(await client.patch(f"/api/venues/{venue.id}", json={"name": "x"}), 401, "unauthenticated")
    assert_problem(
        await client.patch(f"/api/venues/{venue.id}", json={"name": "x"}, headers=citizen.headers),
        403,
        "forbidden",
    )


def new_venue(**overrides: Any) -> dict[str, Any]:
    body = {
        "slug": "yangjae-ai-lab",
        "kind": "practice_site",
        "name": "양재 AI 실습실",
        "name_en": "Yangjae AI lab",
        "district": "서초구",
        "address": "서울특별시 서초구 태봉로 114",
        "lat": 37.47,
        "lon": 127.04,
        "opening_hours": [{"weekday": 0, "opens": "09:00", "closes": "18:00"}],
    }
    body.update(overrides)
    return body


async def test_admin_creates_a_venue_and_its_spaces(client: Client, make_user: MakeUser) -> None:
    admin = await make_user(role="admin")
    created = await client.post("/api/venues", json=new_venue(), headers=admin.headers)
    assert created.status_code == 201, created.text
    venue = created.json()
    assert venue["district"] == "seocho"
    assert_problem(await client.post("/api/venues", json=new_venue(), headers=admin.headers), 409, "conflict")

    lab = {
        "slug": "ai-lab",
        "kind": "lab",
        "shape": "shared",
        "name": "AI 실습실",
        "name_en": "AI lab",
        "capacity": 24,
        "slot_minutes": 120,
    }
    space = await client.post(f"/api/venues/{venue['id']}/spaces", json=lab, headers=admin.headers)
    assert space.status_code == 201, space.text
    assert space.json()["max_party"] == 1
    assert_problem(
        await client.post(f"/api/venues/{venue['id']}/spaces", json=lab, headers=admin.headers),
        409,
        "conflict",
    )
    room = {
        "slug": "room-1",
        "kind": "lodging_room",
        "shape": "stay",
        "name": "가족실",
        "name_en": "Family room",
        "capacity": 4,
    }
    stay = await client.post(f"/api/venues/{venue['id']}/spaces", json=room, headers=admin.headers)
    assert stay.status_code == 201, stay.text
    assert stay.json()["max_party"] == 4
    assert stay.json()["slot_minutes"] is None

    changed = await client.patch(
        f"/api/spaces/{space.json()['id']}",
        json={"capacity": 30, "rules": {"cancel_deadline_hours": 6}},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["capacity"] == 30
    assert changed.json()["rules"]["cancel_deadline_hours"] == 6
    # The venue kind's other defaults still apply to the space.
    assert changed.json()["rules"]["booking_opens_days_ahead"] == 14


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"district": "atlantis"}, "district"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"kind": "castle"}, "kind"),
        ({"lat": 95.0}, "lat"),
        ({"opening_hours": [{"weekday": 7, "opens": "09:00", "closes": "18:00"}]}, "weekday"),
        ({"opening_hours": [{"weekday": 1, "opens": "18:00", "closes": "09:00"}]}, "opening_hours"),
        ({"opening_hours": [{"weekday": 1, "opens": "25:00", "closes": "26:00"}]}, "opens"),
        ({"rules": {"no_such_rule": 1}}, "rules"),
        ({"rules": {"weekly_quota": -1}}, "weekly_quota"),
    ],
)
async def test_invalid_venues_are_refused_with_the_field(
    client: Client, make_user: MakeUser, overrides: dict[str, Any], field: str
) -> None:
    admin = await make_user(role="admin")
    response = await client.post("/api/venues", json=new_venue(**overrides), headers=admin.headers)
    problem = assert_problem(response, 400, "validation_error")
    assert any(field in e["field"] or field in e["message"] for e in problem["errors"]), problem
    assert (await client.get("/api/venues")).json()["total"] == 0


async def test_space_shape_rules_are_checked(client: Client, make_user: MakeUser, make_venue: MakeVenue) -> None:
    admin = await make_user(role="admin")
    venue = await make_venue()
    base = {"slug": "s1", "kind": "lab", "name": "실습실", "name_en": "Lab", "capacity": 10}
    no_slot = await client.post(
        f"/api/venues/{venue.id}/spaces", json={**base, "shape": "shared"}, headers=admin.headers
    )
    assert_problem(no_slot, 400, "validation_error")
    stay_with_slot = {**base, "shape": "stay", "kind": "lodging_room", "slot_minutes": 60}
    assert_problem(
        await client.post(f"/api/venues/{venue.id}/spaces", json=stay_with_slot, headers=admin.headers),
        400,
        "validation_error",
    )
    too_big = {**base, "shape": "shared", "slot_minutes": 60, "max_party": 11}
    assert_problem(
        await client.post(f"/api/venues/{venue.id}/spaces", json=too_big, headers=admin.headers),
        400,
        "validation_error",
    )


async def test_opening_hours_are_replaced_as_a_week(client: Client, make_venue: MakeVenue, make_user: MakeUser) -> None:
    venue = await make_venue()
    manager = await make_user(role="manager", venues=[venue])
    week = [{"weekday": d, "opens": "10:00", "closes": "19:00"} for d in (1, 2, 3, 4, 5)]
    response = await client.put(f"/api/venues/{venue.id}/opening-hours", json=week, headers=manager.headers)
    assert response.status_code == 200, response.text
    assert response.json()["opening_hours"] == week
    overlapping = [
        {"weekday": 1, "opens": "10:00", "closes": "14:00"},
        {"weekday": 1, "opens": "13:00", "closes": "19:00"},
    ]
    refused = await client.put(f"/api/venues/{venue.id}/opening-hours", json=overlapping, headers=manager.headers)
    assert_problem(refused, 400, "validation_error")
    assert (await client.get(f"/api/venues/{venue.id}")).json()["opening_hours"] == week
