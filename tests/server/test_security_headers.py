"""Security headers on every answer, through HTTP: JSON, problems, unknown routes, the docs, feeds."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from tests.conftest import Database, MakeUser

Client = AsyncTestClient[Litestar]

EVERYWHERE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def assert_secured(response: object, *, docs: bool = False) -> dict[str, str]:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in EVERYWHERE.items():
        assert headers.get(name) == value, (name, dict(headers))
    permissions = headers["permissions-policy"]
    assert "camera=(self)" in permissions
    assert "microphone=()" in permissions
    assert "geolocation=()" in permissions
    policy = _csp(headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    if not docs:
        assert set(policy) == {"default-src", "frame-ancestors", "base-uri", "form-action"}
    assert "strict-transport-security" not in headers  # http base url
    assert len(headers.get_list("x-content-type-options")) == 1
    return policy


def _csp(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


async def test_json_answers_carry_the_headers(client: Client, make_user: MakeUser) -> None:
    assert_secured(await client.get("/health"))
    assert_secured(await client.get("/api/venues"))
    citizen = await make_user()
    assert_secured(await client.get("/api/me", headers=citizen.headers))


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/no-such-thing", 404),
        ("GET", "/favicon.ico", 404),
        ("DELETE", "/api/venues", 405),
        ("GET", "/api/me", 401),
        ("GET", "/api/venues/99999", 404),
        ("GET", "/api/venues?limit=9999", 400),
        ("POST", "/api/auth/login", 400),
    ],
)
async def test_errors_and_unknown_routes_carry_the_headers(client: Client, method: str, path: str, status: int) -> None:
    response = await client.request(method, path, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert_secured(response)


async def test_a_handlers_own_referrer_policy_is_kept(client: Client, make_user: MakeUser) -> None:
    # The calendar feed's url is a secret: its answers say no-referrer, and the default must not add a
    # second, weaker Referrer-Policy beside it.
    citizen = await make_user()
    created = await client.post("/api/feeds", json={"scope": "me"}, headers=citizen.headers)
    assert created.status_code == 201
    feed = await client.get(created.json()["url"].removeprefix("http://testserver"))
    assert feed.status_code == 200
    assert feed.headers.get_list("referrer-policy") == ["no-referrer"]
    assert feed.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/ical/not-a-secret.ics")).headers.get_list("referrer-policy") == [
        "strict-origin-when-cross-origin"
    ]


class _Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.images: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            if found.get("src"):
                self.scripts.append(found["src"] or "")
            else:
                self._in_script = True
        elif tag == "link" and found.get("rel") == "stylesheet":
            self.styles.append(found.get("href") or "")
        elif tag == "link" and found.get("rel") == "icon":
            self.images.append(found.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def _origin(url: str) -> str:
    match = re.match(r"^(https://[^/]+)", url)
    return match.group(1) if match else "'self'"


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
async def test_the_docs_pages_may_load_what_they_use(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    policy = assert_secured(response, docs=True)
    page = _Resources()
    page.feed(response.text)
    assert page.scripts, "the docs page loads its script"
    for url in page.scripts:
        assert _origin(url) in policy["script-src"], url
    for url in page.styles:
        assert _origin(url) in policy["style-src"], url
    for url in page.images:
        assert _origin(url) in policy["img-src"], url
    if page.inline_scripts:
        assert "'unsafe-inline'" in policy["script-src"]
    assert policy["connect-src"] == ["'self'"]  # the OpenAPI document, from this origin only
    assert "'unsafe-eval'" not in policy["script-src"]
    # The OpenAPI document itself is data, with the strict policy.
    assert_secured(await client.get("/schema/openapi.json"))


async def test_hsts_only_when_served_over_https(db: Database) -> None:
    from dataclasses import replace

    settings = replace(db.settings, base_url="https://seoulrun4050.example")
    async with AsyncTestClient(app=create_app(settings, engine=db.engine)) as client:
        for path in ("/health", "/api/nowhere"):
            hsts = (await client.get(path)).headers["strict-transport-security"]
            assert hsts.startswith("max-age=31536000")
