"""The citizens' flows in Chromium against the demo catalogue: (a) sign up, find the Vitality+Happiness
Town, book a meditation room, see the QR code (decoded: the booking's own code), cancel; (b) meet a full
session and join its waitlist; (c) enrol in a course and subscribe to one's calendar.

Every page of the flows is checked with axe-core in Korean and in English, the main ones screenshotted at
360 and 1280 px; the fixtures fail on any request to another host.
"""

from __future__ import annotations

import io
import json
import re
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlsplit

import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.web.e2e.conftest import Browse, LiveServer
from tests.web.e2e.test_first_pages import assert_targets_big_enough, town

PASSWORD = "bukhansan-trail-58"
QR_LOADED = "(() => { const img = document.querySelector('img.qr'); return img.complete && img.naturalWidth > 0; })()"


def api(server: LiveServer, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.base_url + path, data=data, headers=headers, method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own server
        return json.load(answer)


def api_citizen(server: LiveServer) -> str:
    """A citizen made through the API, and their bearer token."""
    email = f"api-{uuid.uuid4().hex[:10]}@example.com"
    api(
        server,
        "POST",
        "/api/auth/register",
        {"email": email, "password": PASSWORD, "name": "대기열", "birth_year": 1968},
    )
    return str(api(server, "POST", "/api/auth/login", {"email": email, "password": PASSWORD})["access_token"])


def sign_up(browse: Browse, name: str = "최다시") -> str:
    page = browse.page
    email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    browse.go("/signup")
    page.get_by_label("이름").fill(name)
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_label("출생연도").fill("1970")
    page.get_by_role("button", name="가입하기").click()
    expect(page.locator(".notice")).to_contain_text("가입을 환영합니다")
    return email


def axe_both(browse: Browse, label: str) -> None:
    """axe-core on this page in Korean, then the same page in English, and back to Korean."""
    browse.axe(f"{label} (ko)")
    parts = urlsplit(browse.page.url)
    path, query = parts.path, [q for q in parts.query.split("&") if q and not q.startswith("lang=")]
    browse.go(f"{path}?{'&'.join([*query, 'lang=en'])}")
    expect(browse.page.locator("html")).to_have_attribute("lang", "en")
    browse.axe(f"{label} (en)")
    browse.go(f"{path}?{'&'.join([*query, 'lang=ko'])}")
    expect(browse.page.locator("html")).to_have_attribute("lang", "ko")


def test_a_citizen_books_a_meditation_room_sees_the_qr_code_and_cancels(
    browse: Browse, live_server: LiveServer
) -> None:
    page = browse.page
    email = sign_up(browse)
    venue = town(live_server)
    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="장소 찾기").click()
    page.get_by_label("장소 종류").select_option(label="활력+행복타운")
    expect(page.locator(".results__count")).to_have_text("1곳을 찾았습니다")
    page.locator("#results").get_by_role("link", name=venue["name"]).click()
    expect(page.locator("h1")).to_have_text(venue["name"])
    room = page.locator("details.space-week", has_text="명상실 2")
    room.locator("summary").click()
    slots = room.locator("a.cell-link", has_text="예약 가능")
    assert slots.count() > 0
    axe_both(browse, "the town with booking links")
    room = page.locator("details.space-week", has_text="명상실 2")
    room.locator("summary").click()
    room.locator("a.cell-link", has_text="예약 가능").last.click()

    expect(page.locator("h1")).to_have_text("예약 확인")
    rules = page.get_by_role("region", name="예약 전에 알아 두세요")
    expect(rules).to_contain_text("3건 중 0건 사용")  # the town's weekly quota, before the button
    expect(rules).to_contain_text("까지 무료로 취소할 수 있습니다")
    expect(rules).to_contain_text("내 노쇼: 0번")
    font = browse.hangul_font()
    assert font["loaded"] >= 1, font
    assert font["check"], font
    browse.screenshots("book-meditation-ko")
    book_path = browse.path
    axe_both(browse, "booking a meditation room")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_targets_big_enough(browse)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("인원").fill("2")
    page.locator("main").get_by_role("button", name="예약하기").click()

    expect(page.locator(".notice")).to_contain_text("예약이 확정되었습니다")
    match = re.fullmatch(r"/me/bookings/(\d+)", browse.path)
    assert match, browse.path
    booking_id = int(match.group(1))
    qr = page.get_by_role("img", name=f"예약 {booking_id}번의 입장 QR 코드")
    expect(qr).to_be_visible()
    # A real image, loaded and drawn (its width and height attributes alone make it "visible" earlier).
    # A function, not an expression: Playwright evaluates an expression with eval at each poll, which
    # the page's CSP forbids (the check failed whenever the image was not drawn at the first look).
    page.wait_for_function(
        "() => { const img = document.querySelector('img.qr'); return img.complete && img.naturalWidth > 0; }"
    )
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 250, box  # big enough to scan from a phone held up
    png = page.request.get(browse.url(f"/me/bookings/{booking_id}/qr.png"))  # with the session cookie
    assert png.headers["content-type"] == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.body())))
    token = api(live_server, "POST", "/api/auth/login", {"email": email, "password": PASSWORD})["access_token"]
    code = api(live_server, "GET", f"/api/bookings/{booking_id}/qr", token=token)["payload"]
    assert decoded.text == code.upper()  # the very code the door's scanner checks
    page.set_viewport_size({"width": 360, "height": 800})
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 250, box
    page.set_viewport_size({"width": 1280, "height": 900})
    browse.screenshots("my-booking-qr-ko")
    axe_both(browse, "my booking with its QR code")

    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="내 예약").click()
    expect(page.locator("h1")).to_have_text("내 예약")
    card = page.locator(".booking-card", has_text="명상실 2")
    expect(card).to_contain_text("예약 확정")
    expect(card).to_contain_text("까지 무료로 취소할 수 있습니다")
    browse.screenshots("my-bookings-ko")
    axe_both(browse, "my bookings")
    page.locator(".booking-card", has_text="명상실 2").get_by_role("link", name=re.compile("^예약 취소")).click()
    expect(page.locator("h1")).to_have_text("예약을 취소할까요?")
    axe_both(browse, "cancel, asked first")
    page.get_by_role("button", name="네, 취소합니다").click()
    expect(page.locator(".notice")).to_contain_text("예약을 취소했습니다")
    expect(page.locator(".status-line")).to_contain_text("취소됨")
    expect(page.locator("img.qr")).to_have_count(0)  # a cancelled booking gets nobody in
    browse.axe("a cancelled booking (ko)")
    browse.go(book_path)  # the same room is free again
    expect(page.locator("main")).to_contain_text("예약 가능")


def test_a_citizen_meets_a_full_session_and_joins_its_waitlist(browse: Browse, live_server: LiveServer) -> None:
    page = browse.page
    [program] = api(live_server, "GET", "/api/programs?q=Morning%20meditation")["items"]
    detail = api(live_server, "GET", f"/api/programs/{program['id']}")
    session = next(s for s in detail["sessions"][1:] if s["remaining"] > 0)
    for _ in range(session["remaining"]):  # others take every place of that morning
        api(
            live_server,
            "POST",
            "/api/bookings",
            {"slot_id": session["slot_id"], "party_size": 1},
            api_citizen(live_server),
        )
    sign_up(browse, "김대기")
    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="프로그램 찾기").click()
    expect(page.locator("h1")).to_have_text("프로그램 찾기")
    page.get_by_label("프로그램 종류").select_option(label="명상")
    expect(page).to_have_url(re.compile(r"kind=meditation"))
    browse.screenshots("programs-ko")
    axe_both(browse, "programmes by kind")
    page.locator("#results").get_by_role("link", name="아침 명상").click()
    expect(page.locator("h1")).to_have_text("아침 명상")
    expect(page.locator("main")).to_contain_text("선착순")
    row = page.locator("tr", has=page.locator(f"time[datetime='{session['start']}']"))
    expect(row).to_contain_text(f"마감 (정원 {session['capacity']}명)")  # full, in words and numbers
    expect(page.locator("tbody tr").first).to_contain_text("석 남음")
    browse.screenshots("program-ko")
    axe_both(browse, "a programme with a full session")
    row = page.locator("tr", has=page.locator(f"time[datetime='{session['start']}']"))
    row.get_by_role("link", name=re.compile("대기 신청")).click()

    expect(page.locator("main")).to_contain_text("남은 자리 없음")
    expect(page.locator("main")).to_contain_text("대기자 명단에 오르면")
    axe_both(browse, "booking a full session")
    page.get_by_role("button", name="대기자 명단에 올리기").click()
    expect(page.locator(".notice")).to_contain_text("대기자 명단에 올랐습니다: 1번째")
    expect(page.locator(".status-line")).to_contain_text("대기 중")
    expect(page.locator("main")).to_contain_text("1번째")
    expect(page.locator("img.qr")).to_have_count(0)  # no code while waiting
    browse.screenshots("waitlisted-ko")
    axe_both(browse, "a waitlisted booking")
    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="알림").click()
    expect(page.locator("h1")).to_have_text("알림")
    browse.screenshots("notices-ko")
    axe_both(browse, "notices")


def test_a_citizen_enrols_in_a_course_and_subscribes_in_their_calendar(browse: Browse, live_server: LiveServer) -> None:
    page = browse.page
    sign_up(browse, "박코딩")
    browse.go("/programs")
    page.get_by_label("나이").fill("56")
    page.get_by_label("프로그램 종류").select_option(label="실습 과정")
    page.locator("main").get_by_role("button", name="검색").click()
    expect(page).to_have_url(re.compile(r"age=56"))
    page.locator("#results").get_by_role("link", name="파이썬 코딩 기초 실습").click()
    expect(page.locator("h1")).to_have_text("파이썬 코딩 기초 실습")
    expect(page.locator("main")).to_contain_text("40~64세")
    expect(page.locator("main")).to_contain_text("전체 과정")
    page.get_by_role("link", name=re.compile(r"^전체 과정 신청 \(\d+회차\)")).click()
    expect(page.locator("h1")).to_contain_text("수강 신청")
    expect(page.get_by_role("region", name="예약 전에 알아 두세요")).to_contain_text("사용")
    browse.screenshots("enrol-ko")
    axe_both(browse, "enrolling in a course")
    page.get_by_role("button", name="전체 과정 신청하기").click()
    expect(page.locator(".notice")).to_contain_text("회차 모두 예약되었습니다")
    expect(page.locator(".status-line")).to_contain_text("예약 확정")
    page.locator("main").get_by_role("link", name="내 캘린더에서 구독하기").click()

    expect(page.locator("h1")).to_have_text("캘린더 구독")
    axe_both(browse, "calendar, before subscribing")
    page.locator("main").get_by_role("button", name="내 캘린더에서 구독하기").click()
    expect(page.get_by_role("heading", name="구독 주소를 만들었습니다")).to_be_visible()
    webcal = page.get_by_role("link", name=re.compile("캘린더 앱에서 구독하기"))
    href = webcal.get_attribute("href") or ""
    assert href.startswith("webcal://"), href
    url = page.get_by_label("구독 주소 (https)").input_value()
    assert url.split("://", 1)[1] == href.split("://", 1)[1]
    expect(page.get_by_role("button", name="주소 복사")).to_be_visible()  # shown by our script
    browse.axe("calendar, subscribed (ko)")
    browse.screenshots("calendar-ko")
    feed = page.request.get(url)
    assert feed.status == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    body = feed.text()
    assert body.count("BEGIN:VEVENT") >= 2  # the course's sessions
    assert "파이썬 코딩 기초 실습" in body.replace("\r\n ", "")
    browse.go("/me/calendar?lang=en")
    expect(page.locator("h1")).to_have_text("Calendar subscription")
    expect(page.locator("main")).to_contain_text("My bookings")
    browse.axe("calendar, listed (en)")


def test_booking_works_without_javascript(browse_without_js: Browse, live_server: LiveServer) -> None:
    browse = browse_without_js
    page = browse.page
    sign_up(browse, "이무스")
    venue = town(live_server)
    browse.go(f"/venues/{venue['id']}")
    room = page.locator("details.space-week", has_text="명상실 3")
    room.locator("summary").click()
    room.locator("a.cell-link", has_text="예약 가능").last.click()
    page.get_by_label("인원").fill("0")
    page.locator("main").get_by_role("button", name="예약하기").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_contain_text("인원")
    expect(page.locator("#f-party_size")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("인원").fill("1")
    page.locator("main").get_by_role("button", name="예약하기").click()
    expect(page.locator(".status-line")).to_contain_text("예약 확정")
    expect(page.locator("img.qr")).to_be_visible()
