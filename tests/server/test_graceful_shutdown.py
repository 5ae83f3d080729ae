"""Graceful shutdown of ``seoulrun serve``: a request in flight when SIGTERM arrives still gets its answer,
new connections are no longer taken, then the app's shutdown runs (the scheduler stops, the pool closes)
and the process exits 0.

The slow request is made slow from outside, without any endpoint for it: the test holds SQLite's write
lock, so a registration waits for it (up to the lock timeout) inside the server while SIGTERM arrives.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.realserver import real_server, scratch_database


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_request_in_flight_when_sigterm_arrives_gets_its_answer(tmp_path: Path, workers: int) -> None:
    with scratch_database("sqlite", tmp_path) as settings:
        database = settings.database_url.removeprefix("sqlite+aiosqlite:///")
        env = {"SEOULRUN_DB_LOCK_TIMEOUT_MS": "60000", "SEOULRUN_SCHEDULER": "1"}
        with real_server(settings, tmp_path, workers=workers, env=env) as server:
            lock = sqlite3.connect(database, isolation_level=None, timeout=30)
            lock.execute("BEGIN IMMEDIATE")  # the write lock: the registration below waits for it
            answers: list[httpx.Response] = []
            body = {"email": "late@example.com", "password": "a-long-password-4050", "name": "늦은 시민",
                    "birth_year": 1970}  # fmt: skip
            request = threading.Thread(
                target=lambda: answers.append(httpx.post(f"{server.base_url}/api/auth/register", json=body, timeout=90))
            )
            request.start()
            time.sleep(1.5)
            assert request.is_alive(), "the registration should be waiting for the lock"
            assert not answers

            os.kill(server.process.pid, signal.SIGTERM)
            time.sleep(2.0)
            assert server.process.poll() is None, "the server must wait for the request in flight"
            assert request.is_alive()
            if workers == 1:  # its listening socket is closed: no new request is taken
                with pytest.raises(httpx.ConnectError):
                    httpx.get(f"{server.base_url}/health", timeout=2)

            lock.rollback()  # the lock is released: the registration goes on
            lock.close()
            request.join(timeout=60)
            assert answers, "no answer to the request in flight"
            assert answers[0].status_code == 201, answers[0].text
            assert answers[0].json()["email"] == "late@example.com"

            # A single uvicorn process ends by the signal it was sent once it has shut down (uvicorn raises
            # it again); the supervisor of several workers exits 0.
            assert server.process.wait(timeout=60) == (-signal.SIGTERM if workers == 1 else 0)
            log = server.log()
            assert log.count("Application shutdown complete") == workers, log[-3000:]
            assert "Traceback" not in log, log[-3000:]
            assert "Cancel" not in log  # no request or job was cut off

        with sqlite3.connect(database) as check:  # what the answer said was committed
            assert check.execute("SELECT count(*) FROM user_account WHERE email = 'late@example.com'").fetchone() == (
                1,
            )


@pytest.mark.slow
def test_a_request_that_outlasts_the_shutdown_timeout_is_cut_off(tmp_path: Path) -> None:
    """``SEOULRUN_SHUTDOWN_TIMEOUT_SECONDS`` bounds the wait: a stuck request does not hold a deploy."""
    with scratch_database("sqlite", tmp_path) as settings:
        database = settings.database_url.removeprefix("sqlite+aiosqlite:///")
        env = {"SEOULRUN_DB_LOCK_TIMEOUT_MS": "60000", "SEOULRUN_SHUTDOWN_TIMEOUT_SECONDS": "2"}
        with real_server(settings, tmp_path, workers=1, env=env) as server:
            lock = sqlite3.connect(database, isolation_level=None, timeout=30)
            lock.execute("BEGIN IMMEDIATE")
            errors: list[Exception] = []

            def register() -> None:
                body = {"email": "stuck@example.com", "password": "a-long-password-4050", "name": "시민",
                        "birth_year": 1970}  # fmt: skip
                try:
                    httpx.post(f"{server.base_url}/api/auth/register", json=body, timeout=90)
                except httpx.HTTPError as exc:
                    errors.append(exc)

            request = threading.Thread(target=register)
            request.start()
            time.sleep(1.5)
            started = time.monotonic()
            os.kill(server.process.pid, signal.SIGTERM)
            server.process.wait(timeout=30)
            took = time.monotonic() - started
            request.join(timeout=30)
            lock.rollback()
            lock.close()
            assert 1.5 < took < 15, took  # the 2 s of grace, then the request was cancelled
            assert errors, "the cut-off request got no answer"
            assert "timeout graceful shutdown exceeded" in server.log()
            assert "Application shutdown complete" in server.log()
        with sqlite3.connect(database) as check:  # nothing of it was written
            assert check.execute("SELECT count(*) FROM user_account").fetchone() == (0,)
