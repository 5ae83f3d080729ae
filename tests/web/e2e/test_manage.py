"""The managers' pages in Chromium: the town's manager adds a closure, sees the booking it cancels before
saving (a citizen's booking made through the API first), confirms, and the booking is cancelled (read
back through the API). axe-core on every manager page in Korean and English; screenshots at 360 and
1280 px into var/screenshots/.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from core.clock import today_kst
from tests.web.e2e.conftest import Browse, LiveServer

TOWN_MANAGER = ("manager.town@seoulrun4050.example", "demo-manager-4050")
# Far enough ahead that the other browser tests' bookings are not on that day, within the town's window.
DAYS_AHEAD = range(22, 29)


def call(server: LiveServer, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.base_url + path, data=data, method=method, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own server
        return json.load(answer)


def new_citizen(server: LiveServer) -> tuple[str, str]:
    """A citizen of their own (no quota shared with other tests): their name and bearer token."""
    email = f"e2e-manage-{uuid.uuid4().hex[:10]}@example.com"
    password = "gangbuk-closure-4050"
    call(
        server,
        "POST",
        "/api/auth/register",
        {"email": email, "password": password, "name": "한결민", "birth_year": 1970},
    )
    return "한결민", call(server, "POST", "/api/auth/login", {"email": email, "password": password})["access_token"]


def town_booking(server: LiveServer) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]:
    """The town, its third meditation room and a citizen's booking there some weeks ahead."""
    [summary] = server.get_json("/api/venues?kind=vitality_town")["items"]
    venue = server.get_json(f"/api/venues/{summary['id']}")
    room = next(s for s in venue["spaces"] if s["name_en"] == "Meditation room 3")
    today = today_kst()
    first, last = today + timedelta(days=DAYS_AHEAD[0]), today + timedelta(days=DAYS_AHEAD[-1])
    slots = server.get_json(f"/api/spaces/{room['id']}/availability?from={first}&to={last}")["slots"]
    slot = next(s for s in slots if s["status"] == "open" and s["remaining"] > 0)
    _, token = new_citizen(server)
    booking = call(server, "POST", "/api/bookings", {"slot_id": slot["id"], "party_size": 2}, token)
    assert booking["status"] == "confirmed", booking
    return venue, room, booking, token


def log_in(browse: Browse, next_path: str) -> None:
    page = browse.page
    browse.go(f"/login?next={next_path}")
    page.get_by_label("이메일").fill(TOWN_MANAGER[0])
    page.get_by_label("비밀번호").fill(TOWN_MANAGER[1])
    page.locator("main").get_by_role("button", name="로그인").click()
    expect(page.locator(".notice")).to_contain_text("로그인되었습니다")


def test_a_manager_sees_the_bookings_a_closure_cancels_before_saving_it(
    browse: Browse, live_server: LiveServer
) -> None:
    venue, room, booking, token = town_booking(live_server)
    day = booking["start"][:10]
    page = browse.page
    log_in(browse, "/manage")
    assert browse.path == "/manage"
    expect(page.locator("h1")).to_have_text("장소 관리")
    expect(page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="장소 관리")).to_be_visible()
    browse.axe("manage (ko)")
    page.get_by_role("link", name=venue["name"]).click()
    expect(page.locator("h1")).to_have_text(f"{venue['name']} 관리")
    browse.axe("manage venue (ko)")
    assert browse.hangul_font()["check"]
    browse.screenshots("manage-venue-ko")

    page.get_by_role("link", name="휴관 추가하기").click()
    expect(page.locator("h1")).to_have_text("휴관 추가하기")
    browse.axe("closure form (ko)")
    page.get_by_label("시작일").fill(day)
    page.get_by_label("종료일").fill(day)
    page.get_by_label("닫을 곳").select_option(label=room["name"])
    # HTMX shows the preview as the dates and the space change, before anything is submitted ...
    preview = page.locator("[data-closure-preview]")
    expect(preview.locator(f"[data-booking-id='{booking['id']}']")).to_be_visible()
    page.get_by_label("사유", exact=True).fill("명상실 바닥 공사")
    page.get_by_label("영어 사유").fill("Floor works in the meditation room")
    # ... and the first submit shows it as a page, with the confirmation.
    page.get_by_role("button", name="취소될 예약 미리 보기").click()
    row = preview.locator(f"[data-booking-id='{booking['id']}']")
    expect(row).to_contain_text("한*민")  # masked
    expect(row).to_contain_text("2명")
    expect(row).to_contain_text("확정")
    expect(preview.get_by_role("heading", level=2)).to_contain_text("이 휴관으로 취소되는 예약")
    assert call(live_server, "GET", f"/api/bookings/{booking['id']}", token=token)["status"] == "confirmed"
    browse.axe("closure preview (ko)")
    browse.screenshots("manage-closure-preview-ko")

    page.get_by_role("button", name=re.compile("확인하고 휴관 저장하기")).click()
    expect(page.locator(".notice")).to_contain_text("휴관을 저장했습니다")
    assert browse.path.startswith(f"/manage/venues/{venue['id']}")
    expect(page.locator("#closures")).to_contain_text("명상실 바닥 공사")
    after = call(live_server, "GET", f"/api/bookings/{booking['id']}", token=token)
    assert after["status"] == "cancelled"

    # Tidy: the closure goes again (its cancelled booking stays cancelled), so other tests see the room open.
    item = page.locator("#closures li", has_text="명상실 바닥 공사")
    item.get_by_role("button", name="휴관 취소").click()
    expect(page.locator(".notice")).to_contain_text("휴관을 취소했습니다")
    assert call(live_server, "GET", f"/api/bookings/{booking['id']}", token=token)["status"] == "cancelled"


def test_the_closure_preview_without_javascript_and_in_english(
    browse_without_js: Browse, live_server: LiveServer
) -> None:
    browse = browse_without_js
    venue, room, booking, token = town_booking(live_server)
    page = browse.page
    log_in(browse, f"/manage/venues/{venue['id']}/closures/new")
    browse.go(f"/manage/venues/{venue['id']}/closures/new?lang=en")
    expect(page.locator("h1")).to_have_text("Add a closure")
    page.get_by_role("button", name="Preview the bookings it cancels").click()
    expect(page.locator("[data-error-summary]")).to_contain_text("Please check what you entered")
    expect(page.locator("#f-start_date")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("First day").fill(booking["start"][:10])
    page.get_by_label("Last day").fill(booking["start"][:10])
    page.get_by_label("What closes").select_option(label=room["name_en"])
    page.get_by_label("Reason", exact=True).fill("바닥 공사")
    page.get_by_role("button", name="Preview the bookings it cancels").click()
    expect(page.locator(f"[data-booking-id='{booking['id']}']")).to_contain_text("한*민")
    # (axe and screenshots need JavaScript in the page: they are taken in the tests with it.)
    page.get_by_role("button", name=re.compile("Confirm and save the closure")).click()
    expect(page.locator(".notice")).to_contain_text("The closure is saved")
    assert call(live_server, "GET", f"/api/bookings/{booking['id']}", token=token)["status"] == "cancelled"
    page.locator("#closures li", has_text="바닥 공사").get_by_role("button", name="Remove closure").click()
    expect(page.locator(".notice")).to_contain_text("The closure is removed")


def test_every_manager_page_passes_axe_in_both_languages(browse: Browse, live_server: LiveServer) -> None:
    [summary] = live_server.get_json("/api/venues?kind=vitality_town")["items"]
    venue = live_server.get_json(f"/api/venues/{summary['id']}")
    programs = live_server.get_json(f"/api/programs?venue_id={venue['id']}")["items"]
    base = f"/manage/venues/{venue['id']}"
    pages = [
        "/manage",
        base,
        f"{base}/spaces/{venue['spaces'][0]['id']}",
        f"{base}/hours",
        f"{base}/closures/new",
        f"{base}/slots/new",
    ]
    if programs:
        pages.append(f"{base}/programs/{programs[0]['id']}")
    page = browse.page
    log_in(browse, "/manage")
    for lang in ("ko", "en"):
        for path in pages:
            answer = browse.go(f"{path}?lang={lang}")
            assert answer.status == 200, path
            expect(page.locator("html")).to_have_attribute("lang", lang)
            browse.axe(f"{path} ({lang})")
            page.set_viewport_size({"width": 360, "height": 800})
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
            page.set_viewport_size({"width": 1280, "height": 900})
    browse.go(f"{base}/hours?lang=ko")
    browse.screenshots("manage-hours-ko")
    browse.go(f"{base}/closures/new?lang=en")
    later = (today_kst() + timedelta(days=DAYS_AHEAD[-1] + 5)).isoformat()
    page.get_by_label("First day").fill(later)
    page.get_by_label("Last day").fill(later)
    page.get_by_label("Reason", exact=True).fill("점검")
    page.get_by_role("button", name="Preview the bookings it cancels").click()
    expect(page.locator("[data-closure-preview] h2")).to_contain_text("Bookings this closure cancels")
    browse.axe("closure preview (en)")
    browse.screenshots("manage-closure-preview-en")
    browse.go(f"{base}/spaces/{venue['spaces'][0]['id']}?lang=en")
    browse.screenshots("manage-space-en")

    # A feed link for the staff's calendar app: webcal:// and https, shown once.
    browse.go(f"{base}?lang=ko")
    page.get_by_label("구독할 일정").select_option(value="venue")
    page.get_by_role("button", name="구독 주소 만들기").click()
    expect(page.locator("h1")).to_have_text("캘린더 구독 주소")
    href = page.get_by_role("link", name=re.compile("캘린더 앱에서 열기")).get_attribute("href") or ""
    assert href.startswith("webcal://")
    expect(page.get_by_label("복사할 주소 (https)")).to_have_value(re.compile(r"^https://.+\.ics$"))
    browse.axe("feed made (ko)")
    browse.screenshots("manage-feed-ko")
    browse.go(f"{base}?lang=en")
    browse.axe("manage venue with a feed (en)")
    browse.screenshots("manage-venue-en")
    page.locator("#feeds li", has_text="Revoke").first.get_by_role("button", name="Revoke").click()
    expect(page.locator(".notice")).to_contain_text("The feed is revoked")
