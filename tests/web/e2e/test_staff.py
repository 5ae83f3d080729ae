"""The door in Chromium: staff log in, open the scanner of their venue and are shown a booking's QR code
through a fake camera (a Y4M video written here from the booking's own QR PNG): ``checked_in``; the same
code typed: ``already_checked_in``. Then the network is cut: the page reloads from its service worker,
checks another booking's code against the day's manifest (signature checked in the browser) and queues
it; when the network returns, the sync checks it in on the server, as the API confirms.

The set-up makes its own venue through the admin API (check-in open three hours around the start, so a
slot in 20 minutes can be booked and scanned now) and its own staff and citizens: nothing of the demo
catalogue that other tests read is changed. axe-core runs on each page in Korean and English, and the
pages are screenshotted at 360 and 1280 px.
"""

from __future__ import annotations

import io
import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.web.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Browse, LiveServer, _finish, new_browse

ADMIN = ("city.admin@seoulrun4050.example", "demo-admin-4050")
PASSWORD = "door-scanner-4050"
WIDTH, HEIGHT = 640, 480


def api(server: LiveServer, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our own server
        server.base_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310
        content = answer.read()
        return json.loads(content) if answer.headers.get_content_type() == "application/json" else content


def log_in_api(server: LiveServer, email: str, password: str) -> str:
    token: str = api(server, "POST", "/api/auth/login", {"email": email, "password": password})["access_token"]
    return token


def write_y4m(png: bytes, path: Path, frames: int = 4) -> None:
    """A few frames of the QR code, grey on a white page, as a YUV4MPEG2 file (4:2:0, full range)."""
    code = Image.open(io.BytesIO(png)).convert("L")
    side = HEIGHT - 80
    code = code.resize((side, side), Image.Resampling.NEAREST)
    picture = Image.new("L", (WIDTH, HEIGHT), 255)
    picture.paste(code, ((WIDTH - side) // 2, 40))
    chroma = bytes([128]) * (WIDTH // 2 * HEIGHT // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + picture.tobytes() + chroma + chroma)


@dataclass
class DoorSetup:
    venue_id: int
    staff_email: str
    staff_token: str
    camera_booking: int  # shown to the camera, then typed
    camera_code: str
    offline_booking: int  # checked in while offline
    offline_code: str
    video: Path


def _citizen_booking(server: LiveServer, slot_id: int, name: str) -> tuple[int, str, bytes, str]:
    email = f"door-{uuid.uuid4().hex[:8]}@example.com"
    api(server, "POST", "/api/auth/register", {"email": email, "password": PASSWORD, "name": name, "birth_year": 1974})
    token = log_in_api(server, email, PASSWORD)
    booking = api(server, "POST", "/api/bookings", {"slot_id": slot_id, "party_size": 2}, token)
    assert booking["status"] == "confirmed", booking
    code = api(server, "GET", f"/api/bookings/{booking['id']}/qr", token=token)["payload"]
    png = api(server, "GET", f"/api/bookings/{booking['id']}/qr.png", token=token)
    return booking["id"], code, png, token


@pytest.fixture(scope="module")
def door(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> DoorSetup:
    admin = log_in_api(live_server, *ADMIN)
    tag = uuid.uuid4().hex[:6]
    venue = api(
        live_server,
        "POST",
        "/api/venues",
        {
            "slug": f"e2e-door-{tag}",
            "kind": "practice_site",
            "name": f"입장 확인 시험장 {tag}",
            "name_en": f"Door test site {tag}",
            "district": "gangbuk",
            "address": "서울특별시 강북구 삼양로 1",
            "opening_hours": [{"weekday": d, "opens": "00:00", "closes": "23:59"} for d in range(7)],
            "rules": {
                "booking_closes_minutes_before": 0,
                "checkin_opens_minutes_before": 180,
                "checkin_closes_minutes_after": 180,
            },
        },
        admin,
    )
    space = api(
        live_server,
        "POST",
        f"/api/venues/{venue['id']}/spaces",
        {
            "slug": f"lab-{tag}",
            "kind": "lab",
            "shape": "shared",
            "name": "실습실",
            "name_en": "Lab",
            "capacity": 20,
            "max_party": 4,
            "slot_minutes": 60,
        },
        admin,
    )
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=20)
    slot = api(
        live_server,
        "POST",
        f"/api/spaces/{space['id']}/slots",
        {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()},
        admin,
    )
    staff_email = f"door-staff-{tag}@seoulrun4050.example"
    api(
        live_server,
        "POST",
        "/api/users",
        {"email": staff_email, "password": PASSWORD, "name": "최문지", "role": "staff", "venue_ids": [venue["id"]]},
        admin,
    )
    camera_id, camera_code, png, _ = _citizen_booking(live_server, slot["id"], "김스캔")
    offline_id, offline_code, _, _ = _citizen_booking(live_server, slot["id"], "박오프")
    video = tmp_path_factory.mktemp("camera") / "qr.y4m"
    write_y4m(png, video)
    return DoorSetup(
        venue["id"],
        staff_email,
        log_in_api(live_server, staff_email, PASSWORD),
        camera_id,
        camera_code,
        offline_id,
        offline_code,
        video,
    )


@pytest.fixture(scope="module")
def camera_browser(door: DoorSetup) -> Iterator[Any]:
    """Chromium whose camera films the QR code of ``door.camera_booking``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={door.video}",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def staff_browse(camera_browser: Any, live_server: LiveServer) -> Iterator[Browse]:
    session = new_browse(camera_browser, live_server)
    session.context.grant_permissions(["camera"], origin=live_server.base_url)
    yield session
    _finish(session)


def status_of(server: LiveServer, door: DoorSetup, booking_id: int) -> str:
    status: str = api(server, "GET", f"/api/bookings/{booking_id}", token=door.staff_token)["status"]
    return status


def log_in(browse: Browse, email: str) -> None:
    page = browse.page
    browse.go("/login?next=/staff")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="로그인").click()
    expect(page.locator("h1")).to_have_text("내 근무 장소")


def open_scanner(browse: Browse, door: DoorSetup) -> None:
    page = browse.page
    page.locator(f'a[href="/staff/scan?venue_id={door.venue_id}"]').click()
    expect(page.locator("h1")).to_contain_text("입장 확인")
    expect(page.locator("[data-manifest-state]")).to_contain_text("예약 2건")


def test_the_camera_checks_in_and_the_typed_code_is_already_checked_in(
    staff_browse: Browse, live_server: LiveServer, door: DoorSetup
) -> None:
    browse, page = staff_browse, staff_browse.page
    log_in(browse, door.staff_email)
    browse.axe("staff home (ko)")
    browse.screenshots("staff-home-ko")
    open_scanner(browse, door)
    browse.axe("scanner (ko)")

    result = page.locator("#scan-result")
    page.get_by_role("button", name="카메라 켜기").click()
    expect(result).to_have_attribute("data-result", "checked_in", timeout=20_000)
    expect(result).to_have_class("scan-result scan-result--ok")
    expect(result).to_contain_text("입장 가능")
    expect(result).to_contain_text("입장 확인되었습니다")
    expect(result).to_contain_text("Checked in")
    expect(result.locator("[data-holder]")).to_have_text("김*캔")
    expect(result.locator("[data-party]")).to_have_text("2명")
    assert status_of(live_server, door, door.camera_booking) == "checked_in"
    browse.axe("scanner, checked in (ko)")
    browse.screenshots("staff-scan-ok-ko")
    page.get_by_role("button", name="카메라 끄기").click()
    expect(page.locator("[data-video]")).to_be_hidden()

    page.get_by_label("예약 코드").fill(door.camera_code)
    page.get_by_role("button", name="확인", exact=True).click()
    expect(result).to_have_attribute("data-result", "already_checked_in")
    expect(result).to_have_class("scan-result scan-result--refused")
    expect(result).to_contain_text("입장 불가")
    expect(result).to_contain_text("이미 입장한 예약입니다")
    browse.axe("scanner, refused (ko)")
    browse.screenshots("staff-scan-refused-ko")

    browse.go(f"/staff/scan?venue_id={door.venue_id}&lang=en")
    expect(page.locator("h1")).to_contain_text("Check-in scanner")
    page.get_by_label("Booking code").fill(door.camera_code)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(result).to_contain_text("Not admitted")
    browse.axe("scanner (en)")
    browse.screenshots("staff-scan-en")


def test_the_day_view_shows_arrivals_in_both_languages(staff_browse: Browse, door: DoorSetup) -> None:
    browse, page = staff_browse, staff_browse.page
    log_in(browse, door.staff_email)
    page.locator(f'a[href="/staff/venues/{door.venue_id}/day"]').click()
    expect(page.locator("h1")).to_contain_text("오늘의 예약 현황")
    rows = page.locator("tr[data-booking]")
    expect(rows).to_have_count(2)
    expect(page.locator("table")).to_contain_text("박*프")
    browse.axe("day (ko)")
    browse.screenshots("staff-day-ko")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_contain_text("The venue's day")
    browse.axe("day (en)")
    # Another day, through HTMX: the list changes and the address follows.
    page.get_by_role("link", name="Next day").click()
    expect(page.locator("#day")).to_contain_text("No bookings on this day.")
    assert "date=" in browse.path
    browse.screenshots("staff-day-en")


def test_offline_the_manifest_checks_a_code_and_the_sync_applies_it(
    staff_browse: Browse, live_server: LiveServer, door: DoorSetup
) -> None:
    browse, page = staff_browse, staff_browse.page
    log_in(browse, door.staff_email)
    open_scanner(browse, door)
    # The service worker is in charge and has kept the page: the scanner now opens without a network.
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")  # a function: the CSP forbids eval
    page.wait_for_function("() => caches.match(location.href).then(hit => !!hit)")
    expect(page.locator("[data-manifest-state]")).to_contain_text("예약 2건")

    browse.context.set_offline(True)
    response = page.reload()
    assert response is not None
    assert response.from_service_worker
    expect(page.locator("h1")).to_contain_text("입장 확인")
    expect(page.locator("[data-net-state]")).to_contain_text("오프라인")
    expect(page.locator("[data-manifest-state]")).to_contain_text("예약 2건")  # from IndexedDB

    result = page.locator("#scan-result")
    page.get_by_label("예약 코드").fill(door.offline_code)
    page.get_by_role("button", name="확인", exact=True).click()
    expect(result).to_have_attribute("data-result", "checked_in")
    expect(result).to_contain_text("오프라인 확인")
    expect(result.locator("[data-holder]")).to_have_text("박*프")
    expect(page.locator("[data-queue-state]")).to_contain_text("1건")
    # A forged code: the signature does not hold, in the browser.
    forged = door.offline_code[:-6] + ("AAAAAA" if not door.offline_code.endswith("AAAAAA") else "BBBBBB")
    page.get_by_label("예약 코드").fill(forged)
    page.get_by_role("button", name="확인", exact=True).click()
    expect(result).to_have_attribute("data-result", "invalid")
    expect(result.locator("[data-who]")).to_be_hidden()  # no name nor party for a code that is not ours
    assert status_of(live_server, door, door.offline_booking) == "confirmed"  # the server knows nothing yet
    browse.axe("scanner offline (ko)")
    browse.screenshots("staff-scan-offline-ko")

    browse.context.set_offline(False)
    synced = page.locator(f'[data-sync-list] li[data-booking="{door.offline_booking}"]')
    expect(synced).to_have_attribute("data-result", "checked_in", timeout=20_000)
    expect(synced).to_contain_text("입장 반영됨")
    expect(page.locator("[data-queue-state]")).to_contain_text("0건")
    assert status_of(live_server, door, door.offline_booking) == "checked_in"
    browse.axe("scanner after sync (ko)")
    browse.screenshots("staff-scan-synced-ko")


def test_without_javascript_the_typed_code_and_the_day_work(
    camera_browser: Any, live_server: LiveServer, door: DoorSetup
) -> None:
    # (axe needs scripts: these pages are checked with JavaScript above.)
    browse = new_browse(camera_browser, live_server, javascript=False)
    try:
        page = browse.page
        log_in(browse, door.staff_email)
        open_page = f"/staff/scan?venue_id={door.venue_id}"
        browse.go(open_page)
        expect(page.locator("[data-camera]")).to_be_hidden()  # no camera without a script
        result = page.locator("#scan-result")
        for _ in range(2):  # checked in by the camera test before, or by the first of these two
            page.get_by_label("예약 코드").fill(door.camera_code)
            page.get_by_role("button", name="확인", exact=True).click()
            expect(result).to_be_visible()
        expect(result).to_have_attribute("data-result", "already_checked_in")
        expect(result).to_contain_text("이미 입장한 예약입니다")

        browse.go(f"/staff/venues/{door.venue_id}/day")
        row = page.locator(f'tr[data-booking="{door.camera_booking}"]')
        row.get_by_role("button", name="입장 취소").click()
        expect(page.locator(".notices")).to_contain_text(f"#{door.camera_booking}의 입장을 취소했습니다")
        expect(page.locator(f'tr[data-booking="{door.camera_booking}"]')).to_have_attribute("data-status", "confirmed")
        assert status_of(live_server, door, door.camera_booking) == "confirmed"
    finally:
        _finish(browse)
