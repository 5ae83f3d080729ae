"""The first pages through HTTP: home, finding venues, a venue's week; languages, HTMX fragments, error
pages and the headers every page carries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from core.clock import today_kst
from tests.conftest import MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.web.conftest import HTML, Client, text_of

HTMX = {**HTML, "HX-Request": "true", "HX-Target": "results"}


def lang_of(html: str) -> str:
    found = re.search(r'<html lang="(\w+)">', html)
    assert found, "no <html lang>"
    return found.group(1)


async def test_pages_are_korean_first_and_english_on_request(client: Client, make_venue: MakeVenue) -> None:
    await make_venue()
    for path in ("/", "/venues", "/login", "/signup"):
        korean = await client.get(path, headers=HTML)
        assert korean.status_code == 200, path
        assert lang_of(korean.text) == "ko", path
    english = await client.get("/venues?lang=en", headers=HTML)
    assert lang_of(english.text) == "en"
    assert "Find a venue" in english.text
    assert "lang=" in english.headers["set-cookie"]
    # The choice is kept (core.errors.LANGUAGE_COOKIE), on pages and in the API's problems alike.
    assert lang_of((await client.get("/", headers=HTML)).text) == "en"
    assert (await client.get("/api/venues/987654")).json()["title"] == "Not found"
    assert lang_of((await client.get("/?lang=ko", headers=HTML)).text) == "ko"
    assert lang_of((await client.get("/", headers={**HTML, "Accept-Language": "en"})).text) == "ko"


async def test_every_page_has_the_layout_and_its_headers(client: Client) -> None:
    response = await client.get("/", headers=HTML)
    html = response.text
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html
    assert "<footer" in html
    assert "서울런 4050" in html
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    # Everything the page loads is served by the app itself.
    for url in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert url.startswith("/"), url
        if url.startswith("/static/"):
            assert (await client.get(url)).status_code == 200, url


async def test_home_counts_the_venues_of_each_kind(client: Client, make_venue: MakeVenue) -> None:
    await make_venue(kind="vitality_town")
    await make_venue(kind="digital_plaza")
    await make_venue(kind="digital_plaza")
    html = text_of((await client.get("/", headers=HTML)).text)
    assert "활력+행복타운" in html
    assert "디지털 동행 플라자" in html
    assert "2곳" in html
    assert "1곳" in html


async def test_venues_are_found_by_kind_district_and_name(client: Client, make_venue: MakeVenue) -> None:
    town = await make_venue(
        kind="vitality_town", name="중장년 활력+행복타운", name_en="Vitality+Happiness Town", district="gangbuk"
    )
    plaza = await make_venue(kind="digital_plaza", name="디지털 동행 플라자 강북", district="gangbuk")
    other = await make_venue(kind="practice_site", district="jongno")

    async def found(query: str) -> set[int]:
        html = (await client.get(f"/venues?{query}", headers=HTML)).text
        return {int(i) for i in re.findall(r'href="/venues/(\d+)"', html)}

    assert await found("kind=vitality_town") == {town.id}
    assert await found("district=gangbuk") == {town.id, plaza.id}
    assert await found("q=활력") == {town.id}
    assert await found("q=vitality") == {town.id}
    assert await found("kind=&district=&q=") >= {town.id, plaza.id, other.id}  # a form's "any"
    assert await found("kind=no_such_kind") == set()
    bad = await client.get("/venues?district=atlantis", headers=HTML)
    assert bad.status_code == 400
    assert "text/html" in bad.headers["content-type"]
    assert "알 수 없는 자치구" in bad.text  # the venue service's own words


async def test_venue_list_is_paginated_with_limit_and_offset(client: Client, make_venue: MakeVenue) -> None:
    venues = [await make_venue(kind="startup_academy") for _ in range(5)]
    first = await client.get("/venues?kind=startup_academy&limit=2", headers=HTML)
    ids = [int(i) for i in re.findall(r'href="/venues/(\d+)"', first.text)]
    assert ids == [v.id for v in venues[:2]]
    assert 'rel="next" href="/venues?kind=startup_academy&amp;limit=2&amp;offset=2"' in first.text
    assert "5곳을 찾았습니다" in first.text
    last = await client.get("/venues?kind=startup_academy&limit=2&offset=4", headers=HTML)
    assert [int(i) for i in re.findall(r'href="/venues/(\d+)"', last.text)] == [venues[4].id]
    assert 'rel="next"' not in last.text
    assert 'aria-current="page"' in last.text
    assert (await client.get("/venues?limit=0", headers=HTML)).status_code == 400
    assert (await client.get("/venues?offset=-1", headers=HTML)).status_code == 400


async def test_htmx_gets_only_the_results(client: Client, make_venue: MakeVenue) -> None:
    town = await make_venue(kind="vitality_town")
    fragment = await client.get("/venues?kind=vitality_town", headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert f'href="/venues/{town.id}"' in fragment.text
    assert "HX-Request" in fragment.headers["vary"]
    boosted = await client.get("/venues?kind=vitality_town", headers={**HTMX, "HX-Boosted": "true"})
    assert "<html" in boosted.text


async def test_a_venue_page_shows_spaces_hours_closures_and_a_week(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(
        kind="vitality_town", name="활력+행복타운", hours=[(d, "09:00", "21:00") for d in range(6)]
    )
    trail = await make_space(
        venue, kind="trail", shape="shared", name="치유숲길 A코스", capacity=30, max_party=6, slot_minutes=120
    )
    room = await make_space(venue, kind="meditation_room", shape="exclusive", name="명상실 1", capacity=6, max_party=6)
    await make_space(
        venue, kind="lodging_room", shape="stay", name="가족실 1", capacity=4, max_party=4, slot_minutes=None
    )
    await make_slot(trail, in_days(1), taken=25)
    await make_slot(room, in_days(2))
    manager = await make_user("manager", venues=[venue])
    closed_on = today_kst() + timedelta(days=3)
    if closed_on.weekday() == 6:
        closed_on += timedelta(days=1)
    created = await client.post(
        f"/api/venues/{venue.id}/closures",
        json={"start_date": closed_on.isoformat(), "end_date": closed_on.isoformat(), "reason": "시설 점검"},
        headers=manager.headers,
    )
    assert created.status_code == 201, created.text
    html = (await client.get(f"/venues/{venue.id}", headers=HTML)).text
    words = text_of(html)
    for expected in ("치유숲길 A코스", "명상실 1", "가족실 1", "09:00–21:00", "정기 휴관", "시설 점검"):
        assert expected in words, expected
    assert "5/30석 남음" in words  # places left as a number
    assert "예약 가능" in words  # the free meditation slot: a word, not only a colour
    assert f'<time datetime="{closed_on.isoformat()}">' in html
    assert f'href="/venues/{venue.id}?from={(today_kst() + timedelta(days=7)).isoformat()}' in html
    assert 'rel="prev"' not in html  # not before today


async def test_the_week_moves_and_htmx_gets_only_the_week(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=10)
    await make_slot(space, in_days(8), taken=3)
    next_week = (today_kst() + timedelta(days=7)).isoformat()
    page = await client.get(f"/venues/{venue.id}?from={next_week}", headers=HTML)
    assert "7/10석 남음" in text_of(page.text)
    assert 'rel="prev"' in page.text
    fragment = await client.get(
        f"/venues/{venue.id}?from={next_week}", headers={**HTML, "HX-Request": "true", "HX-Target": "availability"}
    )
    assert "<html" not in fragment.text
    assert "7/10석 남음" in text_of(fragment.text)
    past = await client.get(f"/venues/{venue.id}?from=2020-01-06", headers=HTML)
    assert past.status_code == 200
    assert f'<time datetime="{today_kst().isoformat()}">' in past.text  # a week in the past starts today
    assert (await client.get(f"/venues/{venue.id}?from=someday", headers=HTML)).status_code == 400


@pytest.mark.parametrize("path", ["/venues/987654", "/no-such-page"])
async def test_not_found_is_a_page_for_browsers(client: Client, path: str) -> None:
    response = await client.get(path, headers=HTML)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "페이지를 찾을 수 없습니다" in response.text
    assert '<main id="main"' in response.text
    english = await client.get(path, headers={**HTML, "Accept-Language": "en"})
    assert lang_of(english.text) == "en"
    assert "Page not found" in english.text


async def test_programs_still_get_problem_details(client: Client) -> None:
    for path, headers in [("/no-such-page", {}), ("/api/nothing", HTML), ("/api/venues/987654", HTML)]:
        response = await client.get(path, headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json"), path


async def test_a_wrong_method_on_a_page_is_a_405_page(client: Client) -> None:
    response = await client.delete("/venues", headers=HTML)
    assert response.status_code in (403, 405)  # no CSRF token: refused before the method is looked at
    response = await client.put("/no-such-page", headers=HTML)
    assert response.status_code == 404


def test_times_are_shown_in_seoul_with_their_offset() -> None:
    from datetime import UTC, datetime

    from web.i18n import format_datetime, kst_iso

    instant = datetime(2026, 12, 3, 5, 30, tzinfo=UTC)  # 14:30 in Seoul
    assert kst_iso(instant) == "2026-12-03T14:30:00+09:00"
    assert format_datetime(instant, "ko") == "2026년 12월 3일 (목) 14:30"
    assert format_datetime(instant, "en") == "Thu 3 Dec 2026 14:30"
