"""The conventions of API.md that every endpoint shares: health, OpenAPI, problem details."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from openapi_spec_validator import validate

from core.database import create_engine
from core.settings import Settings
from server.app import create_app
from tests.accounts.test_auth_http import assert_problem
from tests.conftest import MakeUser, MakeVenue

Client = AsyncTestClient[Litestar]


async def test_health_reports_the_database(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    # The contract of API.md, extended (tests/server/test_observability.py checks the rest).
    assert response.json().items() >= {"status": "ok", "database": "ok"}.items()


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite:////nonexistent-dir/x/y.sqlite3", "postgresql+asyncpg://nobody@127.0.0.1:1/none"],
)
async def test_health_is_503_when_the_database_is_unreachable(url: str) -> None:
    settings = Settings(
        database_url=url, secret_key="x", scheduler_enabled=False, db_pool_size=0, db_lock_timeout_ms=500
    )
    engine = create_engine(settings) if url.startswith("postgresql") else _unopenable_sqlite(settings)
    async with AsyncTestClient(app=create_app(settings, engine=engine)) as client:
        response = await client.get("/health")
        assert response.status_code == 503
        assert response.json()["database"] == "error"
        # Any endpoint that needs the database answers 503 unavailable, never a 500.
        assert_problem(await client.get("/api/venues"), 503, "unavailable")


def _unopenable_sqlite(settings: Settings) -> Any:
    from sqlalchemy.ext.asyncio import create_async_engine

    # create_engine would make the missing folder; point at one that cannot exist instead.
    return create_async_engine("sqlite+aiosqlite:////proc/no-such-dir/db.sqlite3")


async def test_unknown_route_is_a_problem_404(client: Client) -> None:
    assert_problem(await client.get("/api/no-such-thing"), 404, "not_found")
    assert_problem(await client.get("/nowhere.html"), 404, "not_found")


async def test_wrong_method_is_a_problem_405(client: Client) -> None:
    response = await client.delete("/api/venues")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[1, 2, 3]", b'{"email": 5}', '{"email": "\u00ff'.encode("latin-1")],
)
async def test_malformed_json_is_a_validation_error(client: Client, body: bytes) -> None:
    response = await client.post("/api/auth/register", content=body, headers={"Content-Type": "application/json"})
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"]


async def test_a_body_over_one_megabyte_is_413(client: Client) -> None:
    big = b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    response = await client.post("/api/auth/login", content=big, headers={"Content-Type": "application/json"})
    assert_problem(response, 413, "payload_too_large")


async def test_openapi_is_valid_31_and_describes_every_endpoint(client: Client, app: Litestar) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    validate(spec)
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for route in app.routes:
        if route.path.startswith("/schema") or any(h.opt.get("web_page") for h in route.route_handlers):
            continue  # the docs themselves, and the web pages (HTML for people, not part of the API)
        for method in getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}:
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            assert (path, method) in documented, (path, method)
    register = spec["paths"]["/api/auth/register"]["post"]
    assert "requestBody" in register
    assert "201" in register["responses"]
    listing = spec["paths"]["/api/venues"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listing  # a schema, not an empty object
    assert "BearerToken" in spec["components"]["securitySchemes"]


async def test_interactive_docs_are_served(client: Client) -> None:
    response = await client.get("/schema")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


async def test_problems_are_korean_or_english_by_accept_language(
    client: Client, make_venue: MakeVenue, make_user: MakeUser
) -> None:
    venue = await make_venue()
    citizen = await make_user()
    url = f"/api/venues/{venue.id}"
    korean = assert_problem(await client.patch(url, json={}, headers=citizen.headers), 403, "forbidden")
    assert korean["title"] == "권한이 없습니다"
    english = assert_problem(
        await client.patch(url, json={}, headers={**citizen.headers, "Accept-Language": "en-GB,en;q=0.9"}),
        403,
        "forbidden",
    )
    assert english["title"] == "Not allowed"
    # The first language we have, by q-value; Korean for languages we do not have.
    ranked = await client.get("/api/venues/987654", headers={"Accept-Language": "fr;q=1, en;q=0.5, ko;q=0.8"})
    assert ranked.json()["title"] == "찾을 수 없습니다"
    assert ranked.headers["content-language"] == "ko"
    french = await client.get("/api/venues/987654", headers={"Accept-Language": "fr"})
    assert (french.json()["title"], french.headers["content-language"]) == ("찾을 수 없습니다", "ko")


def test_access_logs_hide_feed_secrets() -> None:
    import logging

    from server.logs import FeedSecretFilter

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/ical/Zx9_secret-Token.ics", "1.1", 200), None,
    )  # fmt: skip
    assert FeedSecretFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /ical/***.ics HTTP/1.1" 200'


def test_driver_errors_that_escape_unwrapped_are_503_not_500() -> None:
    from asyncpg.exceptions import TooManyConnectionsError

    from core.errors import internal_error_handler

    class Request:  # what the handler reads of a request: its headers and cookies
        headers: dict[str, str] = {}
        cookies: dict[str, str] = {}

    response = internal_error_handler(Request(), TooManyConnectionsError("sorry, too many clients already"))  # type: ignore[arg-type]
    assert response.status_code == 503
    assert response.content["code"] == "unavailable"
    assert response.headers["Retry-After"] == "1"
