"""Booking a stay (nights in a lodging room) on the web through HTTP: the venue's nights grid links each
free night to the form, the form shows the rules first, a booking made there is the API's booking with
its nights, and a night already taken is refused in the domain's words with the next step (other
nights). Without its CSRF token the form is refused."""

from __future__ import annotations

import re
from datetime import date, timedelta

from tests.conftest import Account, MakeSpace, MakeUser, MakeVenue, in_days
from tests.web.conftest import HTML, Client, post_form, text_of
from venues.models import Space
from web.auth import SESSION_COOKIE


def sign_in(client: Client, account: Account) -> None:
    client.cookies.set(SESSION_COOKIE, account.token)


async def lodging_room(make_venue: MakeVenue, make_space: MakeSpace) -> Space:
    town = await make_venue(kind="vitality_town", opens_on_holidays=True)
    return await make_space(
        town, kind="lodging_room", shape="stay", name="가족실 1", name_en="Family room 1",
        capacity=4, max_party=4, slot_minutes=None,
    )  # fmt: skip


def stay(night: date, nights: int = 1, party: int = 2) -> dict[str, str]:
    return {
        "check_in": night.isoformat(),
        "check_out": (night + timedelta(days=nights)).isoformat(),
        "party_size": str(party),
    }


async def test_a_free_night_links_to_the_form_that_books_the_apis_stay(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    room = await lodging_room(make_venue, make_space)
    night = in_days(5).date()
    citizen = await make_user()
    sign_in(client, citizen)
    venue_page = await client.get(f"/venues/{room.venue_id}?from={night.isoformat()}", headers=HTML)
    link = f"/book/stay/{room.id}?check_in={night.isoformat()}"
    assert f'href="{link}"' in venue_page.text

    page = await client.get(link, headers=HTML)
    assert page.status_code == 200
    text = text_of(page.text)
    # The rules first (the standing service's figures), then the form with the chosen night.
    assert "3건 중 0건 사용" in text
    assert "까지 무료로 취소할 수 있습니다" in text
    assert "내 노쇼: 0번" in text
    assert text.index("예약 전에 알아 두세요") < text.index("예약하기", text.index("예약 전에 알아 두세요"))
    assert re.search(rf'<input[^>]*id="f-check_in"[^>]*type="date"[^>]*value="{night.isoformat()}"', page.text)
    next_day = (night + timedelta(days=1)).isoformat()
    assert re.search(rf'<input[^>]*id="f-check_out"[^>]*value="{next_day}"', page.text)
    assert '<label for="f-party_size"' in page.text

    response = await post_form(client, f"/book/stay/{room.id}", stay(night, nights=2, party=3), page=link)
    assert response.status_code == 303
    match = re.fullmatch(r"/me/bookings/(\d+)", response.headers["location"])
    assert match
    bearer = {"Authorization": f"Bearer {citizen.token}"}
    booking = (await client.get(f"/api/bookings/{match.group(1)}", headers=bearer)).json()
    assert booking["status"] == "confirmed"
    assert booking["space"]["id"] == room.id
    assert (booking["check_in"], booking["check_out"]) == (night.isoformat(), (night + timedelta(days=2)).isoformat())
    assert booking["party_size"] == 3
    mine = (await client.get("/api/me/bookings", headers={"Authorization": f"Bearer {citizen.token}"})).json()
    assert [b["id"] for b in mine["items"]] == [booking["id"]]
    confirmation = text_of((await client.get(response.headers["location"], headers=HTML)).text)
    assert "예약이 확정되었습니다" in confirmation
    # Those nights are no longer offered in the grid.
    venue_page = await client.get(f"/venues/{room.venue_id}?from={night.isoformat()}", headers=HTML)
    assert f'href="{link}"' not in venue_page.text


async def test_a_night_already_taken_is_refused_with_other_nights_as_the_next_step(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    room = await lodging_room(make_venue, make_space)
    night = in_days(5).date()
    first, second = await make_user(), await make_user()
    sign_in(client, first)
    assert (await post_form(client, f"/book/stay/{room.id}", stay(night))).status_code == 303
    sign_in(client, second)
    refused = await post_form(client, f"/book/stay/{room.id}", stay(night - timedelta(days=1), nights=2))
    assert refused.status_code == 422
    text = text_of(refused.text)
    assert f"{night.isoformat()} 밤은 이미 예약되었습니다" in text  # the domain's words
    assert 'href="#f-check_in"' in refused.text  # the summary links to the field it is about
    assert re.search(r'<input[^>]*id="f-check_in"[^>]*aria-invalid="true"', refused.text)
    assert "예약 가능한 다른 날짜를 골라 주세요" in text  # and the next step, back to the nights grid
    grid = f"/venues/{room.venue_id}?from={(night - timedelta(days=1)).isoformat()}#space-{room.id}"
    assert f'href="{grid}"' in refused.text
    mine = (await client.get("/api/me/bookings", headers={"Authorization": f"Bearer {second.token}"})).json()
    assert mine["items"] == []  # the refused attempt wrote nothing (not even the free first night)


async def test_the_dates_are_checked_by_the_apis_rules(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    room = await lodging_room(make_venue, make_space)
    sign_in(client, await make_user())
    night = in_days(5).date()
    for data, field, words in (
        ({**stay(night), "check_in": "내일"}, "check_in", "날짜로 입력해 주세요"),
        ({**stay(night), "check_out": ""}, "check_out", "체크아웃 날짜을(를) 입력해 주세요"),
        (stay(night, nights=20), "check_out", "14"),
        (stay(night, party=9), "party_size", "4"),
    ):
        refused = await post_form(client, f"/book/stay/{room.id}", data)
        assert refused.status_code == 422, data
        assert f'href="#f-{field}"' in refused.text, data
        assert words in text_of(refused.text), data
    far = in_days(45).date()  # the town opens 30 days ahead: the window says when
    refused = await post_form(client, f"/book/stay/{room.id}", stay(far))
    assert refused.status_code == 422
    assert "부터 할 수 있습니다. 그때 다시 와 주세요" in text_of(refused.text)


async def test_the_stay_form_needs_its_csrf_token(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    room = await lodging_room(make_venue, make_space)
    citizen = await make_user()
    sign_in(client, citizen)
    response = await client.post(
        f"/book/stay/{room.id}", data=stay(in_days(5).date()), headers=HTML, follow_redirects=False
    )
    assert response.status_code == 403
    mine = (await client.get("/api/me/bookings", headers={"Authorization": f"Bearer {citizen.token}"})).json()
    assert mine["items"] == []


async def test_only_a_stay_space_has_a_stay_form(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    sign_in(client, await make_user())
    lab = await make_space()
    assert (await client.get(f"/book/stay/{lab.id}", headers=HTML)).status_code == 404
