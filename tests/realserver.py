"""Real servers for tests: ``seoulrun serve`` in a subprocess, on a scratch database it migrated.

``scratch_database`` gives a migrated SQLite file or a fresh PostgreSQL database (dropped afterwards);
``real_server`` starts ``seoulrun serve --workers N`` on it, on 127.0.0.1 and a free port, waits until
every worker has started, and stops it (its own process group) at the end. Tests talk to it over
real sockets, so requests race across processes as they do in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import PROJECT_ROOT, Settings
from server.migrate import upgrade
from tests.conftest import POSTGRES_REQUIRED, POSTGRES_URL, _settings

SECRET_KEY = "real-server-test-secret"
STARTUP_SECONDS = 90
# Every abuse limit off (core.ratelimit), for a server that a test drives harder than people would.
NO_RATE_LIMITS = {
    f"SEOULRUN_RATE_LIMIT_{name}{dimension}": "0"
    for name in ("LOGIN", "REGISTER", "BOOKING", "SCAN", "FEED")
    for dimension in ("", "_ACCOUNT")
}


def _postgres_or_skip() -> None:
    if not POSTGRES_URL:
        if POSTGRES_REQUIRED:
            pytest.fail("SEOULRUN_TEST_POSTGRES_REQUIRED=1 but SEOULRUN_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set SEOULRUN_TEST_POSTGRES_URL)")


def _server_ddl(statement: str) -> None:
    async def run() -> None:
        admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await admin.dispose()

    asyncio.run(run())


@contextlib.contextmanager
def scratch_database(backend: str, tmp_path: Path) -> Iterator[Settings]:
    """A migrated database of its own: a SQLite file, or a new PostgreSQL database (not a schema: the
    server is configured by its URL alone, as in production). Settings as the tests use them."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / f'server-{uuid.uuid4().hex[:8]}.sqlite3'}"
        upgrade(url)
        yield _settings(url)
        return
    _postgres_or_skip()
    name = f"seoulrun_t_{uuid.uuid4().hex[:12]}"
    _server_ddl(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield _settings(url)
    finally:
        _server_ddl(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RealServer:
    base_url: str
    settings: Settings
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def real_server(
    settings: Settings, log_dir: Path, *, workers: int = 2, env: dict[str, str] | None = None
) -> Iterator[RealServer]:
    """``seoulrun serve --workers N`` on ``settings.database_url``, until the block ends."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]),
        "SEOULRUN_DATABASE_URL": settings.database_url,
        "SEOULRUN_SECRET_KEY": SECRET_KEY,
        "SEOULRUN_BASE_URL": base_url,
        "SEOULRUN_SCHEDULER": "0",
        "SEOULRUN_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "SEOULRUN_ARGON2_MEMORY_KIB": str(settings.argon2_memory_kib),
        **(env or {}),
    }
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own command line, no shell
            [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers stop with it
        )  # fmt: skip
    server = RealServer(base_url, settings, process, log_path)
    try:
        _wait_until_up(server, workers)
        yield server
    finally:
        _stop(process)


def _wait_until_up(server: RealServer, workers: int) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited with {server.process.returncode}:\n{server.log()[-4000:]}")
        # Every worker logs its startup; until all have, requests would go to fewer processes.
        if server.log().count("Application startup complete") >= workers:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                    return
        time.sleep(0.2)
    raise AssertionError(f"the server did not start within {STARTUP_SECONDS} s:\n{server.log()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
