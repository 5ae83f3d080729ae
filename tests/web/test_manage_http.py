"""The managers' pages through HTTP: their venues, spaces, opening hours, closures with the bookings they
cancel shown before saving, one-off and blocked slots, programmes and sessions, and calendar-feed links.
Each form is posted as a browser without JavaScript would, and its effect is read back through the API."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

from tests.booking.conftest import book
from tests.conftest import Account, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.programs.conftest import (
    MakeProgram,
    make_program,  # noqa: F401 - the fixture
)
from tests.web.conftest import HTML, Client, csrf_token, post_form, text_of
from web.auth import SESSION_COOKIE


def sign_in(client: Client, account: Account) -> None:
    client.cookies.set(SESSION_COOKIE, account.token)


def error_links(html: str) -> list[str]:
    summary = html.split("data-error-summary", 1)[1].split("</div>", 1)[0]
    return re.findall(r'href="#(f-[a-z_0-9]+)"', summary)


async def test_the_managers_venues_and_who_may_see_them(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    mine, other = await make_venue(), await make_venue()
    await make_space(mine, name="드론 실습실")
    manager = await make_user(role="manager", venues=[mine])

    anonymous = await client.get("/manage", headers=HTML, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=%2Fmanage"

    sign_in(client, manager)
    listing = await client.get("/manage", headers=HTML)
    assert listing.status_code == 200
    assert f'href="/manage/venues/{mine.id}"' in listing.text
    assert f'href="/manage/venues/{other.id}"' not in listing.text
    assert 'href="/manage"' in listing.text  # the header's entry for managers
    page = await client.get(f"/manage/venues/{mine.id}", headers=HTML)
    assert page.status_code == 200
    words = text_of(page.text)
    for heading in ("공간", "운영 시간", "휴관", "예약 시간대", "프로그램", "캘린더 구독"):
        assert f">{heading}</h2>" in page.text, heading
    assert "드론 실습실" in words
    english = await client.get(f"/manage/venues/{mine.id}?lang=en", headers=HTML)
    assert '<html lang="en">' in english.text
    assert f"Manage {mine.name_en}" in english.text
    refused = await client.get(f"/manage/venues/{other.id}", headers=HTML)
    assert refused.status_code == 403

    citizen = await make_user()
    sign_in(client, citizen)
    assert 'href="/manage"' not in (await client.get("/", headers=HTML)).text
    assert (await client.get(f"/manage/venues/{mine.id}", headers=HTML)).status_code == 403
    assert "관리하는 장소가 없습니다" in text_of((await client.get("/manage?lang=ko", headers=HTML)).text)

    sign_in(client, await make_user(role="admin"))
    assert (await client.get(f"/manage/venues/{other.id}", headers=HTML)).status_code == 200


async def test_a_manager_edits_a_space_with_errors_in_words_at_their_fields(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue, other = await make_venue(), await make_venue()
    space = await make_space(venue, capacity=20, max_party=2)
    foreign = await make_space(other)
    sign_in(client, await make_user(role="manager", venues=[venue]))
    path = f"/manage/venues/{venue.id}/spaces/{space.id}"
    form = {"name": space.name, "name_en": space.name_en, "slot_minutes": "60", "is_active": "true"}

    bad = await post_form(client, path, {**form, "capacity": "0", "max_party": "x"})
    assert bad.status_code == 422
    assert error_links(bad.text) == ["f-capacity", "f-max_party"]
    assert 'aria-invalid="true"' in bad.text
    over = await post_form(client, path, {**form, "capacity": "5", "max_party": "9"})
    assert over.status_code == 422
    assert error_links(over.text) == ["f-max_party"]  # the domain's refusal, at its field
    assert "정원" in text_of(over.text)

    saved = await post_form(client, path, {**form, "capacity": "12", "max_party": "3", "is_active": "false"})
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/manage/venues/{venue.id}#spaces"
    read = (await client.get(f"/api/spaces/{space.id}")).json()
    assert (read["capacity"], read["max_party"], read["is_active"]) == (12, 3, False)

    assert (await client.get(f"/manage/venues/{venue.id}/spaces/{foreign.id}", headers=HTML)).status_code == 404
    token_page = f"/manage/venues/{venue.id}/spaces/{space.id}"
    cross = await post_form(
        client, f"/manage/venues/{venue.id}/spaces/{foreign.id}", {**form, "capacity": "1"}, page=token_page
    )
    assert cross.status_code == 404
    assert (await client.get(f"/api/spaces/{foreign.id}")).json()["capacity"] == 20


async def test_a_manager_sets_the_opening_hours(client: Client, make_venue: MakeVenue, make_user: MakeUser) -> None:
    venue = await make_venue()
    sign_in(client, await make_user(role="manager", venues=[venue]))
    path = f"/manage/venues/{venue.id}/hours"
    page = await client.get(path, headers=HTML)
    assert 'id="f-opens_0" name="opens_0" type="time" value="09:00"' in page.text

    half = await post_form(client, path, {"opens_0": "10:00"})
    assert half.status_code == 422
    assert error_links(half.text) == ["f-closes_0"]
    backwards = await post_form(client, path, {"opens_1": "18:00", "closes_1": "09:00"})
    assert backwards.status_code == 422
    assert error_links(backwards.text) == ["f-opens_1"]
    wrong = await post_form(client, path, {"opens_2": "9시", "closes_2": "18:00"})
    assert error_links(wrong.text) == ["f-opens_2"]

    week = {"opens_0": "10:00", "closes_0": "19:00", "opens_5": "10:00", "closes_5": "14:00"}
    saved = await post_form(client, path, week)
    assert saved.status_code == 303
    hours = (await client.get(f"/api/venues/{venue.id}")).json()["opening_hours"]
    assert hours == [
        {"weekday": 0, "opens": "10:00", "closes": "19:00"},
        {"weekday": 5, "opens": "10:00", "closes": "14:00"},
    ]


async def _booked(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> tuple[Any, Any, Account, dict[str, Any]]:
    venue = await make_venue()
    space = await make_space(venue)
    slot = await make_slot(space, start=in_days(3))
    citizen = await make_user(name="김민수")
    booking = (await book(client, citizen.headers, slot_id=slot.id)).json()
    sign_in(client, await make_user(role="manager", venues=[venue]))
    return venue, space, citizen, booking


async def test_a_closure_shows_the_bookings_it_cancels_then_saves_on_confirmation(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue, _, citizen, booking = await _booked(client, make_venue, make_space, make_slot, make_user)
    day = booking["start"][:10]
    new = f"/manage/venues/{venue.id}/closures/new"
    path = f"/manage/venues/{venue.id}/closures"
    form = {"start_date": day, "end_date": day, "space_id": "", "reason": "소방 점검", "reason_en": "Fire inspection"}

    preview = await post_form(client, path, form, page=new)
    assert preview.status_code == 200, preview.text
    words = text_of(preview.text)
    assert "이 휴관으로 취소되는 예약: 1건" in words
    assert f'data-booking-id="{booking["id"]}"' in preview.text
    assert "김*수" in words
    assert "김민수" not in words
    assert f'name="seen" value="{booking["id"]}"' in preview.text
    assert 'name="confirm" value="1"' in preview.text
    status = (await client.get(f"/api/bookings/{booking['id']}", headers=citizen.headers)).json()["status"]
    assert status == "confirmed"  # nothing saved by the preview
    assert (await client.get(f"/api/venues/{venue.id}/closures")).json()["total"] == 0

    # HTMX asks for the preview alone as the dates change.
    token = await csrf_token(client, new)
    fragment = await client.post(
        f"{path}/preview",
        data={**form, "reason": "", "_csrf_token": token},
        headers={**HTML, "HX-Request": "true", "HX-Target": "closure-preview"},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert f'data-booking-id="{booking["id"]}"' in fragment.text

    # A confirmation for a list that is not the one shown any more is shown again, not saved.
    stale = await post_form(client, path, {**form, "confirm": "1", "seen": ""}, page=new)
    assert stale.status_code == 200
    assert "미리 본 뒤 예약이 바뀌었습니다" in text_of(stale.text)
    assert (await client.get(f"/api/venues/{venue.id}/closures")).json()["total"] == 0

    saved = await post_form(client, path, {**form, "confirm": "1", "seen": str(booking["id"])}, page=new)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/manage/venues/{venue.id}#closures"
    after = (await client.get(f"/api/bookings/{booking['id']}", headers=citizen.headers)).json()
    assert after["status"] == "cancelled"
    listed = await client.get(f"/manage/venues/{venue.id}", headers=HTML)
    assert "예약 1건이 취소되고 예약자에게 알렸습니다" in text_of(listed.text)
    assert "소방 점검" in text_of(listed.text)

    closure = (await client.get(f"/api/venues/{venue.id}/closures")).json()["items"][0]
    removed = await post_form(
        client, f"/manage/venues/{venue.id}/closures/{closure['id']}/delete", {}, page=f"/manage/venues/{venue.id}"
    )
    assert removed.status_code == 303
    assert (await client.get(f"/api/venues/{venue.id}/closures")).json()["total"] == 0


async def test_a_closure_form_says_what_is_wrong_at_each_field(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue, _, _, _ = await _booked(client, make_venue, make_space, make_slot, make_user)
    new = f"/manage/venues/{venue.id}/closures/new"
    path = f"/manage/venues/{venue.id}/closures"
    empty = await post_form(client, path, {"start_date": "", "end_date": "2026-13-40", "reason": ""}, page=new)
    assert empty.status_code == 422
    assert error_links(empty.text) == ["f-start_date", "f-end_date", "f-reason"]
    day = in_days(5).date()
    backwards = {"start_date": day.isoformat(), "end_date": (day - timedelta(days=1)).isoformat(), "reason": "점검"}
    refused = await post_form(client, path, backwards, page=new)
    assert refused.status_code == 422
    assert error_links(refused.text) == ["f-end_date"]
    english = await post_form(client, f"{path}?lang=en", backwards, page=f"{new}?lang=en")
    assert "Please check what you entered" in text_of(english.text)


async def test_a_manager_adds_a_one_off_slot_and_blocks_and_reopens_slots(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=8)
    slot = await make_slot(space, start=in_days(2, time(10)))
    sign_in(client, await make_user(role="manager", venues=[venue]))
    day = in_days(2).date().isoformat()
    page = f"/manage/venues/{venue.id}?date={day}"
    shown = await client.get(page, headers=HTML)
    assert f'action="/manage/venues/{venue.id}/slots/{slot.id}/block"' in shown.text

    blocked = await post_form(
        client, f"/manage/venues/{venue.id}/slots/{slot.id}/block", {"date": day, "note": "장비 수리"}, page=page
    )
    assert blocked.status_code == 303
    assert blocked.headers["location"] == f"/manage/venues/{venue.id}?date={day}#slots"

    async def status_of(slot_id: int) -> str:
        slots = (await client.get(f"/api/spaces/{space.id}/availability", params={"from": day, "to": day})).json()
        return str(next(s for s in slots["slots"] if s["id"] == slot_id)["status"])

    assert await status_of(slot.id) == "blocked"
    reopened = await post_form(client, f"/manage/venues/{venue.id}/slots/{slot.id}/unblock", {"date": day}, page=page)
    assert reopened.status_code == 303
    assert await status_of(slot.id) == "open"

    new = f"/manage/venues/{venue.id}/slots/new"
    body = {"space_id": str(space.id), "day": day, "start": "19:00", "end": "21:00", "capacity": "5", "note": "야간"}
    added = await post_form(client, f"/manage/venues/{venue.id}/slots", body, page=new)
    assert added.status_code == 303, added.text
    slots = (await client.get(f"/api/spaces/{space.id}/availability", params={"from": day, "to": day})).json()["slots"]
    assert [(s["start"][11:16], s["capacity"]) for s in slots] == [("10:00", 8), ("19:00", 5)]
    overlapping = await post_form(client, f"/manage/venues/{venue.id}/slots", {**body, "start": "20:00"}, page=new)
    assert overlapping.status_code == 422
    assert error_links(overlapping.text) == ["f-start"]
    backwards = await post_form(client, f"/manage/venues/{venue.id}/slots", {**body, "end": "18:00"}, page=new)
    assert error_links(backwards.text) == ["f-end"]
    foreign = await make_space(await make_venue())
    elsewhere = await post_form(
        client, f"/manage/venues/{venue.id}/slots", {**body, "space_id": str(foreign.id)}, page=new
    )
    assert elsewhere.status_code == 422
    assert error_links(elsewhere.text) == ["f-space_id"]


async def test_a_manager_edits_a_programme_and_cancels_a_session(
    client: Client,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_user: MakeUser,
    make_program: MakeProgram,  # noqa: F811
) -> None:
    venue, other = await make_venue(), await make_venue()
    space, other_space = await make_space(venue), await make_space(other)
    program = await make_program(venue.id, space.id, rrule="FREQ=WEEKLY;COUNT=3")
    theirs = await make_program(other.id, other_space.id)
    sign_in(client, await make_user(role="manager", venues=[venue]))
    overview = await client.get(f"/manage/venues/{venue.id}", headers=HTML)
    assert f'href="/manage/venues/{venue.id}/programs/{program.id}"' in overview.text
    path = f"/manage/venues/{venue.id}/programs/{program.id}"
    page = await client.get(path, headers=HTML)
    assert page.status_code == 200
    assert "FREQ=WEEKLY;COUNT=3" in page.text

    bad = await post_form(client, path, {"title": "가" * 201, "title_en": "Drone basics"})
    assert bad.status_code == 422
    assert error_links(bad.text) == ["f-title"]
    saved = await post_form(client, path, {"title": "드론 기초", "title_en": "Drone basics"})
    assert saved.status_code == 303
    detail = (await client.get(f"/api/programs/{program.id}")).json()
    assert (detail["title"], detail["title_en"]) == ("드론 기초", "Drone basics")

    session = detail["sessions"][0]
    cancelled = await post_form(client, f"{path}/sessions/{session['id']}/cancel", {}, page=path)
    assert cancelled.status_code == 303
    sessions = (await client.get(f"/api/programs/{program.id}")).json()["sessions"]
    assert [s["status"] for s in sessions][:2] == ["cancelled", "scheduled"]

    assert (await client.get(f"/manage/venues/{venue.id}/programs/{theirs.id}", headers=HTML)).status_code == 404
    other_session = (await client.get(f"/api/programs/{theirs.id}")).json()["sessions"][0]
    cross = await post_form(
        client, f"/manage/venues/{venue.id}/programs/{theirs.id}/sessions/{other_session['id']}/cancel", {}, page=path
    )
    assert cross.status_code == 404
    assert (await client.get(f"/api/programs/{theirs.id}")).json()["sessions"][0]["status"] == "scheduled"


async def test_a_manager_makes_and_revokes_calendar_feed_links(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    manager = await make_user(role="manager", venues=[venue])
    sign_in(client, manager)
    page = f"/manage/venues/{venue.id}"
    made = await post_form(client, f"/manage/venues/{venue.id}/feeds", {"target": f"space:{space.id}"}, page=page)
    assert made.status_code == 201
    webcal = re.search(r'href="(webcal://[^"]+\.ics)"', made.text)
    https = re.search(r'value="(https://[^"]+\.ics)"', made.text)
    assert webcal
    assert https
    assert webcal.group(1).split("://")[1] == https.group(1).split("://")[1]
    secret_path = "/" + https.group(1).split("://")[1].split("/", 1)[1]
    assert (await client.get(secret_path)).status_code == 200

    feeds = (await client.get("/api/feeds", headers=manager.headers)).json()["items"]
    assert [(f["scope"], f["target_id"]) for f in feeds] == [("space", space.id)]
    listed = await client.get(page, headers=HTML)
    assert f'action="/manage/venues/{venue.id}/feeds/{feeds[0]["id"]}/revoke"' in listed.text
    revoked = await post_form(client, f"/manage/venues/{venue.id}/feeds/{feeds[0]['id']}/revoke", {}, page=page)
    assert revoked.status_code == 303
    assert (await client.get(secret_path)).status_code == 404

    whole = await post_form(client, f"/manage/venues/{venue.id}/feeds", {"target": "venue"}, page=page)
    assert whole.status_code == 201
    feeds = (await client.get("/api/feeds", headers=manager.headers)).json()["items"]
    assert [(f["scope"], f["target_id"]) for f in feeds] == [("venue", venue.id)]


async def test_a_manager_creates_a_programme_with_errors_at_their_fields(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=12)
    sign_in(client, await make_user(role="manager", venues=[venue]))
    new = f"/manage/venues/{venue.id}/programs/new"
    path = f"/manage/venues/{venue.id}/programs"
    assert f'href="{new}"' in (await client.get(f"/manage/venues/{venue.id}", headers=HTML)).text
    today = in_days(0).date()
    form = {
        "space_id": str(space.id),
        "title": "스마트폰 사진 교실",
        "title_en": "Phone photography",
        "kind": "class",
        "capacity": "10",
        "max_party": "1",
        "opens_day": today.isoformat(),
        "opens_time": "09:00",
        "closes_day": (today + timedelta(days=5)).isoformat(),
        "closes_time": "18:00",
        "first_day": (today + timedelta(days=7)).isoformat(),
        "first_time": "14:00",
        "duration_minutes": "90",
        "rrule": "FREQ=WEEKLY;COUNT=3",
        "allocation": "first_come",
        "enrolment": "drop_in",
    }
    empty = await post_form(client, path, {}, page=new)
    assert empty.status_code == 422
    links = error_links(empty.text)
    assert links[:3] == ["f-space_id", "f-title", "f-title_en"]
    assert "f-rrule" in links
    window = {**form, "closes_day": (today - timedelta(days=1)).isoformat()}
    refused = await post_form(client, path, window, page=new)
    assert refused.status_code == 422
    assert error_links(refused.text) == ["f-closes_day"]  # the API's registration_closes_at, at its field here

    made = await post_form(client, path, form, page=new)
    assert made.status_code == 303, made.text
    program_id = int(made.headers["location"].rsplit("/", 1)[1])
    detail = (await client.get(f"/api/programs/{program_id}")).json()
    assert (detail["title"], detail["venue_id"], detail["duration_minutes"]) == ("스마트폰 사진 교실", venue.id, 90)
    assert detail["first_start"].endswith("14:00:00+09:00")
    assert 2 <= len(detail["sessions"]) <= 3  # weekly, minus a public holiday if one falls on that weekday


async def test_saving_the_hours_keeps_a_day_s_later_intervals(
    client: Client, make_venue: MakeVenue, make_user: MakeUser
) -> None:
    """The form edits each day's first interval; a lunch break (a second interval) survives a save, and
    a day closed on the form closes whole."""
    venue = await make_venue(
        hours=[(0, "09:00", "12:00"), (0, "13:00", "18:00"), (1, "09:00", "12:00"), (1, "13:00", "18:00")]
    )
    sign_in(client, await make_user(role="manager", venues=[venue]))
    path = f"/manage/venues/{venue.id}/hours"
    saved = await post_form(client, path, {"opens_0": "08:30", "closes_0": "12:00"})
    assert saved.status_code == 303
    hours = (await client.get(f"/api/venues/{venue.id}")).json()["opening_hours"]
    assert hours == [
        {"weekday": 0, "opens": "08:30", "closes": "12:00"},
        {"weekday": 0, "opens": "13:00", "closes": "18:00"},
    ]
