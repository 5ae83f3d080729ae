"""The page auth helpers the other pages build on: a page for citizens, for the staff or the managers of
a venue. Anonymous visitors go to the login page and come back; the wrong account gets a 403 page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Litestar, get, post
from litestar.di import Provide
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from core.database import request_session
from core.errors import EXCEPTION_HANDLERS
from tests.conftest import Database, MakeUser, MakeVenue
from tests.web.conftest import HTML, Client, csrf_token
from web.auth import CITIZEN, MANAGER_OF_VENUE, SESSION_COOKIE, SIGNED_IN, STAFF_OF_VENUE
from web.plugin import ROUTE_HANDLERS, WebPlugin


@get("/probe/citizen", dependencies={"user": CITIZEN}, sync_to_thread=False)
def citizen_page(user: User) -> str:
    return f"citizen {user.id}"


@get("/probe/staff/{venue_id:int}", dependencies={"user": STAFF_OF_VENUE}, sync_to_thread=False)
def staff_page(user: User, venue_id: int) -> str:
    return f"staff {user.id} at {venue_id}"


@get("/probe/manage/{venue_id:int}", dependencies={"user": MANAGER_OF_VENUE}, sync_to_thread=False)
def manager_page(user: User, venue_id: int) -> str:
    return f"manager {user.id} at {venue_id}"


@post("/probe/form", dependencies={"user": SIGNED_IN}, sync_to_thread=False)
def form_action(user: User) -> str:
    return f"posted by {user.id}"


@get("/probe/boom", sync_to_thread=False)
def broken_page() -> str:
    raise RuntimeError("a bug")


@pytest.fixture
async def probe(db: Database) -> AsyncIterator[Client]:
    async def provide_db_session() -> AsyncIterator[AsyncSession]:
        async for session in request_session(db.engine):
            yield session

    app = Litestar(
        plugins=[
            WebPlugin(
                db.settings, routes=[*ROUTE_HANDLERS, citizen_page, staff_page, manager_page, form_action, broken_page]
            ),
        ],
        dependencies={
            "settings": Provide(lambda: db.settings, sync_to_thread=False),
            "db_session": Provide(provide_db_session),
        },
        exception_handlers=EXCEPTION_HANDLERS,
    )
    async with AsyncTestClient(app=app) as client:
        yield client


def login_target(response: object) -> str:
    location = response.headers["location"]  # type: ignore[attr-defined]
    parts = urlsplit(location)
    assert parts.path == "/login", location
    return parse_qs(parts.query)["next"][0]


async def test_anonymous_visitors_are_sent_to_log_in_and_back(probe: Client, make_venue: MakeVenue) -> None:
    venue = await make_venue()
    for path in ("/probe/citizen?x=1&y=2", f"/probe/staff/{venue.id}", f"/probe/manage/{venue.id}"):
        response = await probe.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 303, path
        assert login_target(response) == path
    htmx = await probe.get(
        "/probe/citizen", headers={**HTML, "HX-Request": "true", "HX-Current-URL": "http://testserver.local/venues?q=a"}
    )
    assert htmx.status_code == 204
    assert htmx.headers["hx-redirect"] == "/login?next=%2Fvenues%3Fq%3Da"
    # A form sent after the session ran out goes back to the page of the form.
    token = await csrf_token(probe)
    posted = await probe.post(
        "/probe/form",
        data={"_csrf_token": token},
        headers={**HTML, "Referer": "http://testserver.local/venues/3?from=2026-12-07"},
        follow_redirects=False,
    )
    assert login_target(posted) == "/venues/3?from=2026-12-07"
    elsewhere = await probe.post(
        "/probe/form",
        data={"_csrf_token": token},
        headers={**HTML, "Referer": "https://evil.example/x"},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/login?next=%2F"


async def test_each_page_admits_only_its_people(probe: Client, make_venue: MakeVenue, make_user: MakeUser) -> None:
    here, there = await make_venue(), await make_venue()
    citizen = await make_user("citizen")
    staff = await make_user("staff", venues=[here])
    manager = await make_user("manager", venues=[here])
    admin = await make_user("admin")
    people = (citizen, staff, manager, admin)
    cases = {  # the answer for the citizen, the staff, the manager and the admin
        "/probe/citizen": (200, 403, 403, 403),
        f"/probe/staff/{here.id}": (403, 200, 200, 200),
        f"/probe/staff/{there.id}": (403, 403, 403, 200),
        f"/probe/manage/{here.id}": (403, 403, 200, 200),
        f"/probe/manage/{there.id}": (403, 403, 403, 200),
    }
    for path, expected in cases.items():
        for account, status in zip(people, expected, strict=True):
            probe.cookies.set(SESSION_COOKIE, account.token)
            response = await probe.get(path, headers=HTML, follow_redirects=False)
            assert response.status_code == status, (path, account.user.role)
            if status == 403:
                assert "text/html" in response.headers["content-type"]
                assert '<main id="main"' in response.text
                assert "이용할 수 있는 페이지입니다" in response.text
            else:
                assert str(account.id) in response.text


async def test_a_bug_is_a_500_page_in_the_layout(probe: Client) -> None:
    response = await probe.get("/probe/boom", headers=HTML)
    assert response.status_code == 500
    assert "text/html" in response.headers["content-type"]
    assert '<main id="main"' in response.text
    assert "일시적인 오류가 발생했습니다" in response.text
    assert "a bug" not in response.text  # nothing of the error itself is shown
