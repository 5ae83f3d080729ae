"""End-to-end tests of the web pages in a real Chromium against a real server.

One ``seoulrun serve`` process per test run (per xdist worker that runs browser tests) on a free
127.0.0.1 port, over a temporary migrated SQLite database with the demo catalogue, no scheduler and
cheap argon2. Debian's Chromium (``/usr/bin/chromium``, installed with
the Korean fonts by ``make browser``) is driven by Playwright for Python; Playwright's own browser
downloads are never used.

Every test gets a ``Browse`` (a fresh browser context in Korean): it records every request, and when the
test ends it checks that none went to another host, that no file of the page failed to load and that
the page raised no JavaScript or CSP error. ``browse.axe()`` runs axe-core (from npm, injected into the
page, never served) and fails on serious or critical violations; ``browse.screenshots(name)`` writes
``var/screenshots/<name>-360.png`` and ``-1280.png``.

Set ``SEOULRUN_TEST_BROWSER_REQUIRED=1`` (``.ci/run`` does) to fail instead of skipping when Chromium or
Playwright is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.settings import PROJECT_ROOT

CHROMIUM = Path(os.environ.get("SEOULRUN_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("SEOULRUN_TEST_BROWSER_REQUIRED", "") == "1"
# Headless, and nothing of Chromium's own talking to the internet (updates, sync, field trials).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
AXE_SOURCE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
WIDTHS = (360, 1280)
DEMO_CITIZEN = ("citizen1@seoulrun4050.example", "demo-citizen-4050")


try:
    import playwright  # noqa: F401
except ImportError:  # without Playwright the tests cannot even be imported: skip them, unless required
    if not REQUIRED:
        collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)  # pytest -m browser / -m "not browser"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (SEOULRUN_TEST_BROWSER_REQUIRED=1); `make browser` installs it")
    pytest.skip(reason)


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def netloc(self) -> str:
        return urlsplit(self.base_url).netloc

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as answer:  # noqa: S310 - our own server
            return json.load(answer)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}")
    if not AXE_SOURCE.exists():
        _unavailable("node_modules is missing (npm ci)")
    folder = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "SEOULRUN_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'e2e.sqlite3'}",
        "SEOULRUN_SCHEDULER": "0",
        "SEOULRUN_ARGON2_TIME_COST": "1",
        "SEOULRUN_ARGON2_MEMORY_KIB": "1024",
        "SEOULRUN_SECRET_KEY": "e2e-secret-key",
        "SEOULRUN_BASE_URL": base_url,
        "SEOULRUN_AUTH_RATE_PER_MINUTE": "200",
        "SEOULRUN_DEBUG": "0",
    }
    seoulrun = str(Path(sys.executable).with_name("seoulrun"))
    for command in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([seoulrun, *command], env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=600)  # noqa: S603
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [seoulrun, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(base_url, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server stopped: {log.read_text()[-3000:]}")
            try:
                if server.get_json("/health")["status"] == "ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer in 60 s: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# Per module, not per session: while Playwright's sync API is open it keeps an asyncio loop running in
# this thread, and the async tests that xdist gives this worker afterwards could not start their own.
@pytest.fixture(scope="module")
def browser(live_server: LiveServer) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Browse:
    """One browser context on the live server, with what the checks need."""

    server: LiveServer
    context: Any
    page: Any
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.server.base_url + path

    def go(self, path: str) -> Any:
        return self.page.goto(self.url(path))

    @property
    def path(self) -> str:
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def axe(self, label: str) -> None:
        """axe-core on the page as it is now: no serious or critical violation."""
        if not self.page.evaluate("() => typeof window.axe !== 'undefined'"):
            # Evaluated by the browser's devtools protocol, not a <script>: the page's CSP stays as it is.
            self.page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
        result = self.page.evaluate(
            "async (tags) => await axe.run(document,"
            " {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            AXE_TAGS,
        )
        bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        report = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}" for v in bad]
        assert not bad, f"axe on {label} ({self.path}):\n" + "\n".join(report)

    def hangul_font(self) -> dict[str, Any]:
        """Whether the page's Korean text is drawn with the served font (Pretendard), not missing glyphs."""
        return dict(
            self.page.evaluate(
                """async () => {
                  await document.fonts.ready;
                  const family = getComputedStyle(document.body).fontFamily;
                  const loaded = [...document.fonts].filter(
                    f => f.family.replace(/["']/g, '') === 'Pretendard Variable' && f.status === 'loaded');
                  const text = document.querySelector('h1').textContent;
                  const canvas = document.createElement('canvas').getContext('2d');
                  canvas.font = '32px "Pretendard Variable"';
                  const served = canvas.measureText('가').width;
                  canvas.font = '32px monospace';
                  const fallback = canvas.measureText('가').width;
                  return {family, loaded: loaded.length, text,
                          check: document.fonts.check('32px "Pretendard Variable"', text),
                          served, fallback};
                }"""
            )
        )

    def screenshots(self, name: str) -> list[Path]:
        """Full-page screenshots at 360 and 1280 px wide (var/screenshots/<name>-<width>.png)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        size = self.page.viewport_size
        paths = []
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.evaluate("document.fonts.ready")
            path = SCREENSHOTS / f"{name}-{width}.png"
            self.page.screenshot(path=str(path), full_page=True)
            paths.append(path)
        self.page.set_viewport_size(size)
        return paths

    def check_own_host_only(self) -> None:
        foreign = [u for u in self.requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")]
        foreign = [u for u in foreign if urlsplit(u).netloc != self.server.netloc]
        assert not foreign, f"requests to other hosts: {foreign}"


def new_browse(browser: Any, server: LiveServer, *, javascript: bool = True, locale: str = "ko-KR") -> Browse:
    context = browser.new_context(
        locale=locale, viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    browse = Browse(server, context, page)
    page.on("request", lambda request: browse.requests.append(request.url))
    page.on(
        "response",
        lambda response: (
            browse.failed.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None
        ),
    )
    page.on("pageerror", lambda error: browse.errors.append(str(error)))
    # "Failed to load resource" also comes for pages answered 404 or 422 on purpose; files that fail are in
    # ``failed`` above. Every other console error (a script error, a CSP refusal) fails the test.
    page.on(
        "console",
        lambda message: (
            browse.errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    return browse


def _finish(browse: Browse) -> None:
    browse.context.close()
    browse.check_own_host_only()
    assert not browse.failed, f"files that failed to load: {browse.failed}"
    assert not browse.errors, f"errors in the page: {browse.errors}"


@pytest.fixture
def browse(browser: Any, live_server: LiveServer) -> Iterator[Browse]:
    """A Korean browser with JavaScript, as most people have it."""
    session = new_browse(browser, live_server)
    yield session
    _finish(session)


@pytest.fixture
def browse_without_js(browser: Any, live_server: LiveServer) -> Iterator[Browse]:
    """The same pages with JavaScript off: reading and forms must still work."""
    session = new_browse(browser, live_server, javascript=False)
    yield session
    _finish(session)
