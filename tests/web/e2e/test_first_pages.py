"""The first pages in Chromium: home and the language switch, signing up (errors first), logging out and
in again with ?next=, finding the Vitality+Happiness Town by kind and by name, and paging its week.

Each page a flow reaches is checked with axe-core in Korean (and English where the flow switches), and
screenshotted at 360 and 1280 px into var/screenshots/.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.web.e2e.conftest import DEMO_CITIZEN, Browse, LiveServer

SMALL_TARGETS = """() => [...document.querySelectorAll('a, button, input, select, summary')]
  .filter(el => el.offsetParent !== null && !el.closest('p, dd, .visually-hidden') && el.type !== 'hidden')
  .map(el => [el, el.getBoundingClientRect()])
  .filter(([el, box]) => box.height < 44 || box.width < 44)
  .map(([el, box]) => `${el.tagName.toLowerCase()} "${(el.textContent || el.name || '').trim().slice(0, 30)}"`
    + ` ${Math.round(box.width)}x${Math.round(box.height)}`)"""


def town(server: LiveServer) -> dict[str, Any]:
    [venue] = server.get_json("/api/venues?kind=vitality_town")["items"]
    return dict(venue)


def assert_targets_big_enough(browse: Browse) -> None:
    small = browse.page.evaluate(SMALL_TARGETS)
    assert not small, f"touch targets under 44 px on {browse.path}: {small}"


def test_home_is_korean_with_hangul_drawn_and_switches_to_english(browse: Browse) -> None:
    page = browse.page
    browse.go("/")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("h1")).to_contain_text("찾아보세요")
    font = browse.hangul_font()
    assert "Pretendard Variable" in font["family"]
    assert font["loaded"] >= 1, font  # the served Korean font was fetched and used ...
    assert font["check"], font  # ... and has the glyphs of the heading
    assert font["served"] != font["fallback"], font
    browse.axe("home (ko)")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_targets_big_enough(browse)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than a phone
    browse.screenshots("home-ko")

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_contain_text("Find a place")
    browse.axe("home (en)")
    browse.screenshots("home-en")
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Find a venue").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")  # kept in the lang cookie
    expect(page.locator("h1")).to_have_text("Find a venue")
    browse.axe("venues (en)")
    page.get_by_role("link", name="한국어").click()
    expect(page.locator("h1")).to_have_text("장소 찾기")


def test_keyboard_reaches_the_skip_link_first_with_a_visible_focus(browse: Browse) -> None:
    page = browse.page
    browse.go("/venues")
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_text("본문 바로가기")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the first control of the page, with a ring of 3 px
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert ring == ["solid", "3px"], ring


def test_signup_shows_errors_then_signs_in_then_logs_out(browse: Browse) -> None:
    page = browse.page
    browse.go("/signup")
    browse.axe("signup (ko)")
    page.get_by_label("이메일").fill("not-an-email")
    page.get_by_label("출생연도").fill("19x0")
    page.get_by_role("button", name="가입하기").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()  # the keyboard and screen reader start at the summary
    expect(page).to_have_title(re.compile("^오류: 회원가입"))
    links = summary.get_by_role("link")
    expect(links).to_have_count(4)  # name, email, password, birth year; the phone is optional
    for name in ("name", "email", "password", "birth_year"):
        field = page.locator(f"#f-{name}")
        expect(field).to_have_attribute("aria-invalid", "true")
        described = field.get_attribute("aria-describedby") or ""
        assert f"f-{name}-error" in described.split()
        expect(page.locator(f"#f-{name}-error")).to_be_visible()
    expect(page.locator("#f-email")).to_have_value("not-an-email")
    summary.get_by_role("link", name=re.compile("이메일")).click()
    expect(page.locator("#f-email")).to_be_focused()
    browse.axe("signup with errors (ko)")
    browse.screenshots("signup-errors-ko")

    email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    page.get_by_label("이름").fill("최다시")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill("bukhansan-trail-58")
    page.get_by_label("출생연도").fill("1968")
    page.get_by_role("button", name="가입하기").click()
    expect(page.locator(".notice")).to_contain_text("가입을 환영합니다")
    assert browse.path == "/"
    header = page.locator(".site-header")
    expect(header).to_contain_text("최다시")
    browse.axe("home signed in (ko)")

    header.get_by_role("button", name="로그아웃").click()
    expect(page.locator(".notice")).to_contain_text("로그아웃되었습니다")
    expect(header.get_by_role("link", name="로그인")).to_be_visible()
    expect(header).not_to_contain_text("최다시")


def test_signup_errors_in_english(browse: Browse) -> None:
    page = browse.page
    browse.go("/signup?lang=en")
    page.get_by_role("button", name="Create my account").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_contain_text("Please check what you entered")
    expect(summary.get_by_role("link")).to_have_count(4)
    browse.axe("signup with errors (en)")
    browse.screenshots("signup-errors-en")


def test_login_with_next_goes_back_to_the_venue(browse: Browse, live_server: LiveServer) -> None:
    page = browse.page
    venue = town(live_server)
    browse.go(f"/venues/{venue['id']}")
    page.locator(".site-header").get_by_role("link", name="로그인").click()
    assert browse.path == f"/login?next=/venues/{venue['id']}"
    expect(page.locator(".lead")).to_contain_text("로그인해 주세요")
    page.get_by_label("이메일").fill(DEMO_CITIZEN[0])
    page.get_by_label("비밀번호").fill("not-the-password-1")
    page.get_by_role("button", name="로그인").last.click()
    expect(page.locator("[data-error-summary]")).to_contain_text("이메일 또는 비밀번호가 올바르지 않습니다")
    browse.axe("login with error (ko)")
    browse.screenshots("login-error-ko")
    page.get_by_label("비밀번호").fill(DEMO_CITIZEN[1])
    page.locator("main").get_by_role("button", name="로그인").click()
    expect(page.locator("h1")).to_have_text(venue["name"])
    assert browse.path == f"/venues/{venue['id']}"
    expect(page.locator(".notice")).to_contain_text("로그인되었습니다")
    expect(page.locator(".site-header").get_by_role("button", name="로그아웃")).to_be_visible()


def test_find_the_town_by_kind_and_by_name(browse: Browse, live_server: LiveServer) -> None:
    page = browse.page
    venue = town(live_server)
    browse.go("/venues")
    expect(page.locator(".results__count")).to_contain_text("곳을 찾았습니다")
    page.evaluate("window.samePage = true")  # gone if the whole page were loaded again
    page.get_by_label("장소 종류").select_option(label="활력+행복타운")  # HTMX: the list alone is reloaded
    expect(page).to_have_url(re.compile(r"/venues\?kind=vitality_town"))
    expect(page.locator(".results__count")).to_have_text("1곳을 찾았습니다")
    results = page.locator("#results")
    expect(results.get_by_role("link", name=venue["name"])).to_be_visible()
    assert page.evaluate("window.samePage === true")  # the list alone was loaded
    browse.axe("venues by kind (ko)")
    browse.screenshots("venues-town-ko")

    page.get_by_label("장소 종류").select_option(label="모든 종류")
    expect(page.locator(".results__count")).not_to_have_text("1곳을 찾았습니다")
    page.get_by_label("이름 또는 주소").fill("활력")
    page.get_by_label("이름 또는 주소").press("Enter")
    expect(page).to_have_url(re.compile(r"q=%ED%99%9C%EB%A0%A5"))
    expect(page.locator(".results__count")).to_have_text("1곳을 찾았습니다")
    results.get_by_role("link", name=venue["name"]).click()
    expect(page.locator("h1")).to_have_text(venue["name"])


def test_find_the_town_without_javascript(browse_without_js: Browse, live_server: LiveServer) -> None:
    page = browse_without_js.page
    venue = town(live_server)
    browse_without_js.go("/venues")
    page.get_by_label("자치구").select_option(label="강북구")
    page.get_by_label("이름 또는 주소").fill("Vitality")
    page.get_by_role("button", name="검색").click()
    expect(page).to_have_url(re.compile(r"/venues\?kind=&district=gangbuk&q=Vitality"))
    page.get_by_role("link", name=venue["name"]).click()
    expect(page.locator("h1")).to_have_text(venue["name"])
    page.get_by_role("link", name="다음 주").click()
    expect(page).to_have_url(re.compile(r"from=\d{4}-\d{2}-\d{2}"))
    expect(page.get_by_role("link", name="이전 주")).to_be_visible()


def test_the_towns_week_shows_places_left_and_pages_ahead(browse: Browse, live_server: LiveServer) -> None:
    page = browse.page
    venue = town(live_server)
    browse.go(f"/venues/{venue['id']}")
    expect(page.locator("h1")).to_have_text(venue["name"])
    for section in ("안내", "운영 시간", "휴관 안내 (앞으로 60일)", "공간", "예약 현황"):
        expect(page.get_by_role("heading", name=section, exact=True)).to_be_visible()
    range_text = page.locator(".week-nav__range")
    first_range = range_text.inner_text()
    first_day = page.locator(".week-nav__range time").first.get_attribute("datetime")
    assert first_day is not None
    trail = page.locator("details.space-week", has_text="북한산 치유숲길 A코스")
    trail.locator("summary").click()
    grid = trail.locator("table")
    expect(grid).to_be_visible()
    cells = grid.locator("td .badge")
    assert cells.count() > 0
    assert any(re.fullmatch(r"\d+/30석 남음", t.strip()) for t in cells.all_inner_texts())  # numbers, not colours
    meditation = page.locator("details.space-week", has_text="명상실 1")
    meditation.locator("summary").click()
    expect(meditation.locator("td .badge").first).to_be_visible()
    browse.axe("the town's page (ko)")
    browse.screenshots("venue-town-ko")

    page.evaluate("window.samePage = true")
    page.get_by_role("link", name="다음 주").click()
    next_start = (date.fromisoformat(first_day) + timedelta(days=7)).isoformat()
    expect(page).to_have_url(re.compile(rf"from={next_start}"))
    expect(range_text).not_to_have_text(first_range)
    expect(page.locator(".week-nav__range time").first).to_have_attribute("datetime", next_start)
    assert page.evaluate("window.samePage === true")  # the week alone was loaded
    expect(page.get_by_role("link", name="이전 주")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "availability"  # the keyboard stays in the week
    browse.axe("the town's next week (ko)")
    page.get_by_role("link", name="이전 주").click()
    expect(page.locator(".week-nav__range time").first).to_have_attribute("datetime", first_day)

    browse.go(f"/venues/{venue['id']}?lang=en")
    expect(page.get_by_role("heading", name="Availability")).to_be_visible()
    browse.axe("the town's page (en)")
    browse.screenshots("venue-town-en")


def test_not_found_is_a_page_in_the_layout(browse: Browse) -> None:
    page = browse.page
    response = browse.go("/no-such-page")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("페이지를 찾을 수 없습니다")
    expect(page.get_by_role("link", name="장소 찾기로 가기")).to_be_visible()
    browse.axe("404 (ko)")
    browse.screenshots("not-found-ko")


def test_pages_load_nothing_from_other_hosts(browse: Browse, live_server: LiveServer) -> None:
    venue = town(live_server)
    for path in ("/", "/venues", f"/venues/{venue['id']}", "/login", "/signup"):
        browse.go(path)
        browse.page.evaluate("document.fonts.ready")
    fonts = [u for u in browse.requests if u.endswith(".woff2")]
    scripts = [u for u in browse.requests if u.endswith(".js")]
    assert fonts, "the Korean font was not requested"
    assert any("htmx.min.js" in u for u in scripts)
    browse.check_own_host_only()
    assert all(u.startswith(live_server.base_url) for u in browse.requests)
