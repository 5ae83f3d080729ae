"""Helpers for the web pages' tests through HTTP: forms with their CSRF token, and reading pages."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.programs.conftest import make_program  # noqa: F401 - the programme factory, for the pages' tests

Client = AsyncTestClient[Litestar]

HTML = {"Accept": "text/html"}


async def csrf_token(client: Client, page: str = "/login") -> str:
    """The CSRF token a form of ``page`` carries (and the cookie it must match, now in the client)."""
    response = await client.get(page, headers=HTML)
    assert response.status_code == 200, response.text
    found = re.search(r'name="_csrf_token" value="([^"]+)"', response.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def post_form(client: Client, path: str, data: dict[str, Any], *, page: str | None = None, **kw: Any) -> Any:
    token = await csrf_token(client, page or path)
    return await client.post(path, data={**data, "_csrf_token": token}, headers=HTML, follow_redirects=False, **kw)


def set_cookie_headers(response: Any, name: str) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie" and v.startswith(f"{name}=")]


def text_of(html: str) -> str:
    """The page's words without tags, spaces folded (to look for a sentence)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
