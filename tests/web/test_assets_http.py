"""What ``/static`` serves: our own files and the allow-listed npm files, versioned and cached for a
year; nothing else of node_modules."""

from __future__ import annotations

import json

import pytest

from tests.web.conftest import Client
from web.assets import NODE_MODULES, VENDORS, Assets


def version_of(package: str) -> str:
    return str(json.loads((NODE_MODULES / package / "package.json").read_text())["version"])


@pytest.fixture
def assets() -> Assets:
    found = Assets.discover()
    missing = [v.package for v in VENDORS if v.package not in found.vendors]
    assert not missing, f"npm packages missing: {missing} (run `npm ci`, as make test does)"
    return found


async def test_vendor_files_are_served_with_a_version_and_a_long_cache(client: Client, assets: Assets) -> None:
    for package, rel, media in [
        ("htmx.org", "dist/htmx.min.js", "text/javascript"),
        ("pretendard", "dist/web/variable/pretendardvariable-dynamic-subset.css", "text/css"),
        ("pretendard", "dist/web/variable/woff2-dynamic-subset/PretendardVariable.subset.0.woff2", "font/woff2"),
        ("jsqr", "dist/jsQR.js", "text/javascript"),
        ("@noble/ed25519", "index.js", "text/javascript"),
    ]:
        url = assets.vendor_url(package, rel)
        assert url == f"/static/vendor/{package}@{version_of(package)}/{rel}"
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(media), url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.content == (NODE_MODULES / package / rel).read_bytes()
        assert "set-cookie" not in response.headers  # cacheable: no CSRF cookie on assets


async def test_only_the_allow_list_is_reachable(client: Client, assets: Assets) -> None:
    htmx = version_of("htmx.org")
    for url in [
        f"/static/vendor/axe-core@{version_of('axe-core')}/axe.min.js",  # a test tool, never served
        f"/static/vendor/htmx.org@{htmx}/package.json",
        f"/static/vendor/htmx.org@{htmx}/dist/htmx.js",
        f"/static/vendor/htmx.org@{htmx}/../../package.json",
        f"/static/vendor/htmx.org@{htmx}/dist/%2e%2e/package.json",
        "/static/vendor/pretendard@1.3.9/dist/public/static/Pretendard-Bold.otf",
        "/static/app/x/../../pyproject.toml",
        "/static/node_modules/htmx.org/dist/htmx.min.js",
        "/static/",
    ]:
        assert (await client.get(url)).status_code == 404, url
    with pytest.raises(LookupError):
        assets.vendor_url("htmx.org", "dist/htmx.js")
    with pytest.raises(LookupError):
        assets.vendor_url("axe-core", "axe.min.js")


async def test_own_files_carry_the_digest_of_their_contents(client: Client, assets: Assets) -> None:
    url = assets.static_url("app.css")
    assert url == f"/static/app/{assets.digest}/app.css"
    current = await client.get(url)
    assert current.status_code == 200
    assert current.headers["cache-control"].endswith("immutable")
    # A page cached before a deployment asks for an older digest: it gets today's file, not cached.
    older = await client.get("/static/app/000000000000/app.css")
    assert older.status_code == 200
    assert older.headers["cache-control"] == "no-cache"
    assert older.content == current.content
    stale_vendor = await client.get("/static/vendor/htmx.org@0.0.1/dist/htmx.min.js")
    assert stale_vendor.headers["cache-control"] == "no-cache"


def test_the_digest_changes_with_any_own_file(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / "a.css").write_text("a {}")
    before = Assets.discover(static_dir=root, node_modules=root / "none").digest
    (root / "a.css").write_text("a { color: red }")
    assert Assets.discover(static_dir=root, node_modules=root / "none").digest != before
