"""A citizen books a night in a lodging room of the Vitality+Happiness Town from its page in Chromium and
sees the booking's QR code: the nights grid links a free night to the stay form, the rules come before
the button, and the QR code is a real image. axe-core in Korean and English on each page, screenshots
at 360 and 1280 px, nothing from another host (the fixtures)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.e2e.conftest import Browse, LiveServer
from tests.web.e2e.test_citizen_flows import axe_both, sign_up
from tests.web.e2e.test_first_pages import assert_targets_big_enough, town


def test_a_citizen_books_a_night_in_a_lodging_room_and_sees_the_qr_code(
    browse: Browse, live_server: LiveServer
) -> None:
    page = browse.page
    sign_up(browse, name="한숙박")
    venue = town(live_server)
    browse.go(f"/venues/{venue['id']}")
    expect(page.locator("h1")).to_have_text(venue["name"])
    # A couple room with a free night this week (the demo's camps and other tests may hold some).
    room = None
    for n in (4, 3, 2, 1):
        candidate = page.locator("details.space-week", has_text=f"부부실 {n}")
        candidate.locator("summary").click()
        if candidate.locator("a.cell-link", has_text="예약 가능").count() > 0:
            room = candidate
            break
    assert room is not None, "no free night in any couple room this week"
    axe_both(browse, "the town with its nights grid")
    room = page.locator("details.space-week", has_text=f"부부실 {n}")
    room.locator("summary").click()
    night = room.locator("a.cell-link", has_text="예약 가능").last
    href = night.get_attribute("href")
    assert href is not None
    match = re.fullmatch(r"/book/stay/(\d+)\?check_in=(\d{4}-\d{2}-\d{2})", href)
    assert match, href
    night.click()

    expect(page.locator("h1")).to_have_text("숙박 예약 확인")
    expect(page.get_by_label("체크인 날짜")).to_have_value(match.group(2))
    rules = page.get_by_role("region", name="예약 전에 알아 두세요")
    expect(rules).to_contain_text("3건 중 0건 사용")  # the town's weekly quota, before the button
    expect(rules).to_contain_text("까지 무료로 취소할 수 있습니다")
    expect(rules).to_contain_text("내 노쇼: 0번")
    browse.screenshots("book-stay-ko")
    axe_both(browse, "booking a stay")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_targets_big_enough(browse)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("인원").fill("2")
    page.locator("main").get_by_role("button", name="예약하기").click()

    expect(page.locator(".notice")).to_contain_text("예약이 확정되었습니다")
    booked = re.fullmatch(r"/me/bookings/(\d+)", browse.path)
    assert booked, browse.path
    expect(page.locator("main")).to_contain_text(f"부부실 {n}")
    qr = page.get_by_role("img", name=f"예약 {booked.group(1)}번의 입장 QR 코드")
    expect(qr).to_be_visible()
    page.wait_for_function(  # a real image, loaded and drawn (a function: the page's CSP forbids eval)
        "() => { const img = document.querySelector('img.qr'); return img.complete && img.naturalWidth > 0; }"
    )
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 250, box
    browse.screenshots("my-stay-qr-ko")
    axe_both(browse, "my stay with its QR code")
