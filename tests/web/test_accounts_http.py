"""Accounts on the web through HTTP: sign up, log in (back to where one was going), log out, the session
cookie, CSRF on every form, and the login rate limit shared with the JSON API."""

from __future__ import annotations

import html
import re

import pytest
from litestar.testing import AsyncTestClient

from core.i18n import translate
from core.settings import Rate, Settings
from server.app import create_app
from tests.conftest import PASSWORD, Database, MakeUser
from tests.web.conftest import HTML, Client, csrf_token, post_form, set_cookie_headers, text_of
from web.auth import SESSION_COOKIE

GOOD_SIGNUP = {
    "name": "박중년",
    "email": "park4050@example.com",
    "password": "forest-walk-4050",
    "birth_year": "1971",
    "phone": "010-1234-5678",
}


async def test_signup_signs_in_and_goes_back_to_next(client: Client) -> None:
    response = await post_form(client, "/signup", {**GOOD_SIGNUP, "next": "/venues?kind=vitality_town"})
    assert response.status_code == 303
    assert response.headers["location"] == "/venues?kind=vitality_town"
    [cookie] = set_cookie_headers(response, SESSION_COOKIE)
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # http base URL (tests); see the https test below
    page = await client.get("/venues", headers=HTML)
    assert "박중년" in page.text  # signed in: the header names the person
    assert "가입을 환영합니다" in page.text  # the notice of the step before, shown once
    again = await client.get("/venues", headers=HTML)
    assert "가입을 환영합니다" not in again.text
    # The account is a real citizen account: the JSON API logs it in.
    login = await client.post(
        "/api/auth/login", json={"email": GOOD_SIGNUP["email"], "password": GOOD_SIGNUP["password"]}
    )
    assert login.status_code == 200


async def test_signup_errors_are_listed_and_marked_at_their_fields(client: Client) -> None:
    response = await post_form(
        client, "/signup", {"name": "", "email": "not-an-email", "password": "short", "birth_year": "19x1"}
    )
    assert response.status_code == 422
    html = response.text
    summary = html[html.index("error-summary") : html.index("</ul>", html.index("error-summary"))]
    for name in ("name", "email", "birth_year"):
        assert f'href="#f-{name}"' in summary, name
        field = re.search(rf'<input[^>]*id="f-{name}"[^>]*>', html)
        assert field, name
        assert 'aria-invalid="true"' in field.group(0)
        assert f"f-{name}-error" in field.group(0)  # aria-describedby names the message
        assert f'id="f-{name}-error"' in html
    assert "이름을(를) 입력해 주세요" in text_of(html)
    assert "name@example.com" in text_of(html)
    assert "<title>오류: 회원가입" in html
    # What was typed comes back, except the password.
    assert 'value="not-an-email"' in html
    assert "short" not in re.search(r'<input[^>]*id="f-password"[^>]*>', html).group(0)  # type: ignore[union-attr]


async def test_signup_shows_the_services_own_refusals(client: Client, make_user: MakeUser) -> None:
    taken = await make_user(email="taken@example.com")
    weak = await post_form(client, "/signup", {**GOOD_SIGNUP, "password": "aaaaaaaaaaaa"})
    assert weak.status_code == 422
    # The account service's words (accounts.passwords), at the password field.
    assert re.search(r'id="f-password-error"[^>]*>.*?(두 가지 이상|너무 흔한)', weak.text, re.S)
    dup = await post_form(client, "/signup", {**GOOD_SIGNUP, "email": taken.user.email})
    assert dup.status_code == 422
    taken_text = translate("account.email_taken", "ko", email=taken.user.email)  # the API's own words
    assert re.search(rf'id="f-email-error"[^>]*>.*?{re.escape(html.escape(taken_text))}', dup.text, re.S)
    assert not set_cookie_headers(dup, SESSION_COOKIE)


async def test_login_goes_to_next_only_on_this_site(client: Client, make_user: MakeUser) -> None:
    user = await make_user()
    for target, expected in [
        ("/venues/7?from=2026-12-01", "/venues/7?from=2026-12-01"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/login", "/"),
    ]:
        client.cookies.clear()
        response = await post_form(
            client, "/login", {"email": user.user.email.upper(), "password": PASSWORD, "next": target}
        )
        assert response.status_code == 303, target
        assert response.headers["location"] == expected, target


async def test_wrong_password_says_so_in_the_summary(client: Client, make_user: MakeUser) -> None:
    user = await make_user()
    response = await post_form(client, "/login", {"email": user.user.email, "password": "wrong-password-1"})
    assert response.status_code == 422
    assert "error-summary" in response.text
    assert "이메일 또는 비밀번호가 올바르지 않습니다" in response.text  # the account service's message
    assert f'value="{user.user.email}"' in response.text
    assert not set_cookie_headers(response, SESSION_COOKIE)


async def test_logout_revokes_the_session_token(client: Client, make_user: MakeUser) -> None:
    user = await make_user()
    await post_form(client, "/login", {"email": user.user.email, "password": PASSWORD})
    token = client.cookies[SESSION_COOKIE]
    # The cookie is a real access token of the account service (hashed in the database) ...
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    # ... but the JSON API never reads the cookie itself: no cross-site API calls ride on it.
    assert (await client.get("/api/me")).status_code == 401
    response = await post_form(client, "/logout", {}, page="/")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert (
        set_cookie_headers(response, SESSION_COOKIE)[0].startswith(f'{SESSION_COOKIE}="";')
        or "Max-Age=0" in set_cookie_headers(response, SESSION_COOKIE)[0]
    )
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    client.cookies.set(SESSION_COOKIE, token)  # a copy of the old cookie signs nobody in
    page = await client.get("/", headers=HTML)
    assert user.user.name not in page.text
    assert set_cookie_headers(page, SESSION_COOKIE)  # and the browser is told to drop it


async def test_logout_clears_the_cached_pages_but_not_the_scanners_storage(client: Client, make_user: MakeUser) -> None:
    # A shared library PC: the browser drops its cache of the account's pages (Clear-Site-Data), but not
    # the origin's storage, where the staff scanner keeps its unsynced scans (IndexedDB).
    user = await make_user()
    await post_form(client, "/login", {"email": user.user.email, "password": PASSWORD})
    response = await post_form(client, "/logout", {}, page="/")
    assert response.status_code == 303
    assert response.headers["clear-site-data"] == '"cache"'


async def test_every_form_needs_its_csrf_token(client: Client, make_user: MakeUser) -> None:
    user = await make_user()
    data = {"email": user.user.email, "password": PASSWORD}
    no_token = await client.post("/login", data=data, headers=HTML, follow_redirects=False)
    assert no_token.status_code == 403
    assert "text/html" in no_token.headers["content-type"]
    assert "양식이 만료되었습니다" in no_token.text
    token = await csrf_token(client)
    client.cookies.delete("csrftoken")
    no_cookie = await client.post("/login", data={**data, "_csrf_token": token}, headers=HTML)
    assert no_cookie.status_code == 403
    for path in ("/signup", "/logout"):
        assert (await client.post(path, data={}, headers=HTML)).status_code == 403, path
    # The JSON API keeps its bearer tokens and needs no CSRF token.
    assert (await client.post("/api/auth/login", json=data)).status_code == 200


async def test_the_session_cookie_is_secure_on_https(db: Database, make_user: MakeUser) -> None:
    settings = Settings(
        **{
            **{f: getattr(db.settings, f) for f in db.settings.__dataclass_fields__},
            "base_url": "https://seoulrun.example",
        }
    )
    user = await make_user()
    async with AsyncTestClient(
        app=create_app(settings, engine=db.engine), base_url="https://testserver.local"
    ) as client:
        response = await post_form(client, "/login", {"email": user.user.email, "password": PASSWORD})
        assert response.status_code == 303
        [cookie] = set_cookie_headers(response, SESSION_COOKIE)
        assert "Secure" in cookie
        assert all("Secure" in c for c in set_cookie_headers(response, "csrftoken"))


async def test_web_logins_share_the_rate_limit_of_the_api(db: Database, make_user: MakeUser) -> None:
    settings = Settings(
        **{**{f: getattr(db.settings, f) for f in db.settings.__dataclass_fields__}, "rate_limit_login": Rate(3, 60)}
    )
    user = await make_user()
    async with AsyncTestClient(app=create_app(settings, engine=db.engine)) as client:
        token = await csrf_token(client)
        bad = {"email": user.user.email, "password": "wrong-password-1", "_csrf_token": token}
        assert (
            await client.post("/api/auth/login", json={"email": user.user.email, "password": "x"})
        ).status_code == 401
        for _ in range(2):
            assert (await client.post("/login", data=bad, headers=HTML)).status_code == 422
        for _ in range(3):  # the login page itself is not counted
            assert (await client.get("/login", headers=HTML)).status_code == 200
        limited = await client.post("/login", data=bad, headers=HTML)
        assert limited.status_code == 429
        assert "text/html" in limited.headers["content-type"]
        assert int(limited.headers["retry-after"]) >= 1
        assert "요청이 너무 많습니다" in limited.text
        assert (
            await client.post("/api/auth/login", json={"email": user.user.email, "password": "x"})
        ).status_code == 429


@pytest.mark.parametrize("path", ["/login", "/signup"])
async def test_signed_in_people_skip_the_login_and_signup_pages(client: Client, make_user: MakeUser, path: str) -> None:
    user = await make_user()
    await post_form(client, "/login", {"email": user.user.email, "password": PASSWORD})
    response = await client.get(f"{path}?next=/venues", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/venues"


async def test_a_refusal_shown_on_a_page_leaves_nothing_written(db: Database) -> None:
    from sqlalchemy import func, select

    from accounts.models import User
    from core.database import unit_of_work
    from core.errors import Conflict
    from web.forms import attempt

    async with unit_of_work(db.engine) as session:  # commits at the end, as a request's does
        async with attempt(session) as refused:
            session.add(User(email="half@example.com", password_hash="x", name="반쯤", role="citizen"))
            await session.flush()
            raise Conflict("conflict.concurrent_change")
        assert refused
        assert refused.error is not None
        assert refused.error.code == "conflict"
        async with attempt(session) as fine:
            session.add(User(email="whole@example.com", password_hash="x", name="온전", role="citizen"))
        assert not fine
    async with unit_of_work(db.engine) as session:
        emails = set((await session.scalars(select(User.email).where(User.email.like("%@example.com")))).all())
        assert "half@example.com" not in emails
        assert "whole@example.com" in emails
        assert await session.scalar(select(func.count()).select_from(User)) == len(emails)
