"""Open and closed days: weekly hours, Korean public holidays (lunar ones included) and closures."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.accounts.test_auth_http import assert_problem
from tests.conftest import MakeSpace, MakeUser, MakeVenue
from venues.opening import ClosureSpan, Interval, day_status, korean_holiday

Client = AsyncTestClient[Litestar]


def test_lunar_holidays_come_from_the_holidays_package() -> None:
    # Chuseok 2027 is 15 September, with the day before and after; Seollal 2027 is 7 February.
    for day in (date(2027, 9, 14), date(2027, 9, 15), date(2027, 9, 16)):
        holiday = korean_holiday(day)
        assert holiday is not None
        assert "추석" in holiday.name
        assert "Chuseok" in holiday.name_en
    assert korean_holiday(date(2027, 9, 17)) is None
    seollal = korean_holiday(date(2027, 2, 7))
    assert seollal is not None
    assert seollal.name == "설날"
    # Seollal's first day falls on a Saturday in 2027: the substitute holiday is on Tuesday the 9th.
    assert korean_holiday(date(2027, 2, 9)) is not None


def test_day_status_orders_closure_then_holiday_then_hours() -> None:
    hours = {0: (Interval(time(9), time(18)),), 2: (Interval(time(9), time(18)),)}
    closure = ClosureSpan(date(2027, 3, 3), date(2027, 3, 3), "시설 점검", "Maintenance")
    assert (
        day_status(date(2027, 3, 1), hours, [], opens_on_holidays=False).reason_en
        == "Public holiday: Independence Movement Day"
    )
    assert day_status(date(2027, 3, 1), hours, [], opens_on_holidays=True).open
    assert day_status(date(2027, 3, 3), hours, [closure], opens_on_holidays=True).reason == "시설 점검"
    assert day_status(date(2027, 3, 2), hours, [], opens_on_holidays=False).reason_en == "Regular closing day"
    space_closure = ClosureSpan(date(2027, 3, 8), date(2027, 3, 8), "보수", "Repairs", space_id=7)
    assert not day_status(date(2027, 3, 8), hours, [space_closure], opens_on_holidays=False, space_id=7).open
    assert day_status(date(2027, 3, 8), hours, [space_closure], opens_on_holidays=False, space_id=8).open


async def days(client: Client, venue_id: int, start: str, end: str, **extra: Any) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/api/venues/{venue_id}/days", params={"from": start, "to": end, **extra})
    assert response.status_code == 200, response.text
    return {d["date"]: d for d in response.json()}


async def test_chuseok_2027_closes_a_venue_unless_it_opens_on_holidays(client: Client, make_venue: MakeVenue) -> None:
    lab = await make_venue(kind="practice_site")
    town = await make_venue(kind="vitality_town", opens_on_holidays=True)
    lab_days = await days(client, lab.id, "2027-09-13", "2027-09-17")
    assert [d["open"] for d in lab_days.values()] == [True, False, False, False, True]
    assert lab_days["2027-09-15"]["reason"] == "공휴일: 추석"
    assert lab_days["2027-09-15"]["reason_en"] == "Public holiday: Chuseok"
    assert lab_days["2027-09-13"]["hours"] == [{"opens": "09:00", "closes": "18:00"}]
    town_days = await days(client, town.id, "2027-09-13", "2027-09-17")
    assert all(d["open"] for d in town_days.values())


async def test_a_closure_added_by_a_manager_closes_those_days(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    lab = await make_space(venue)
    manager = await make_user(role="manager", venues=[venue])
    body = {
        "start_date": "2027-04-05",
        "end_date": "2027-04-06",
        "reason": "정기 점검",
        "reason_en": "Maintenance",
    }
    created = await client.post(f"/api/venues/{venue.id}/closures", json=body, headers=manager.headers)
    assert created.status_code == 201, created.text
    result = await days(client, venue.id, "2027-04-04", "2027-04-07")
    assert [d["open"] for d in result.values()] == [True, False, False, True]
    assert result["2027-04-05"]["reason_en"] == "Maintenance"

    space_only = {"start_date": "2027-04-08", "end_date": "2027-04-08", "reason": "보수", "space_id": lab.id}
    assert (
        await client.post(f"/api/venues/{venue.id}/closures", json=space_only, headers=manager.headers)
    ).status_code == 201
    assert (await days(client, venue.id, "2027-04-08", "2027-04-08"))["2027-04-08"]["open"]
    assert not (await days(client, venue.id, "2027-04-08", "2027-04-08", space_id=lab.id))["2027-04-08"]["open"]

    listed = (await client.get(f"/api/venues/{venue.id}/closures")).json()
    assert listed["total"] == 2
    closure_id = created.json()["id"]
    deleted = await client.delete(f"/api/venues/{venue.id}/closures/{closure_id}", headers=manager.headers)
    assert deleted.status_code == 204
    assert (await days(client, venue.id, "2027-04-05", "2027-04-05"))["2027-04-05"]["open"]


async def test_closure_input_is_checked(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue, other = await make_venue(), await make_venue()
    other_space = await make_space(other)
    manager = await make_user(role="manager", venues=[venue])
    url = f"/api/venues/{venue.id}/closures"
    backwards = {"start_date": "2027-04-06", "end_date": "2027-04-05", "reason": "점검"}
    assert_problem(await client.post(url, json=backwards, headers=manager.headers), 400, "validation_error")
    not_a_date = {"start_date": "next tuesday", "end_date": "2027-04-05", "reason": "점검"}
    assert_problem(await client.post(url, json=not_a_date, headers=manager.headers), 400, "validation_error")
    foreign = {
        "start_date": "2027-04-05",
        "end_date": "2027-04-05",
        "reason": "점검",
        "space_id": other_space.id,
    }
    assert_problem(await client.post(url, json=foreign, headers=manager.headers), 400, "validation_error")
    staff = await make_user(role="staff", venues=[venue])
    ok_body = {"start_date": "2027-04-05", "end_date": "2027-04-05", "reason": "점검"}
    assert_problem(await client.post(url, json=ok_body, headers=staff.headers), 403, "forbidden")


async def test_days_range_is_bounded(client: Client, make_venue: MakeVenue) -> None:
    venue = await make_venue()
    too_long = await client.get(f"/api/venues/{venue.id}/days", params={"from": "2027-01-01", "to": "2028-06-01"})
    assert_problem(too_long, 400, "validation_error")
    backwards = await client.get(f"/api/venues/{venue.id}/days", params={"from": "2027-01-02", "to": "2027-01-01"})
    assert_problem(backwards, 400, "validation_error")
