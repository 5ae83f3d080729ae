"""What operators see: the request log line, X-Request-ID, /metrics and /health, through the app.

The metrics of these tests are those of this test process (no multiprocess folder): each test reads
them before and after what it does and compares the difference. A real server's multiprocess metrics
and JSON log are in ``test_many_servers.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select

import server.app
from accounts.models import Role
from core.catalogue_version import VersionReader
from core.database import create_engine, metadata
from notifications.models import OutboxMessage
from server.app import app_from_env, create_app
from server.lease import LEASE_QUERY, Leader
from server.logs import REQUEST_LOGGER, FeedSecretFilter, JsonFormatter, RequestLines, TextFormatter, request_id
from tests.accounts.test_auth_http import assert_problem
from tests.conftest import Account, Database, MakeSlot, MakeSpace, MakeUser, _settings
from tests.realserver import free_port

Client = AsyncTestClient[Litestar]
METRICS_TOKEN = "prometheus-scrapes-4050"


@pytest.fixture
def app(db: Database) -> Litestar:
    return create_app(dataclasses.replace(db.settings, metrics_token=METRICS_TOKEN), engine=db.engine)


# The test's own HTTP client (httpx) logs the urls it asks for: that is the caller's log, not the server's.
CLIENT_SIDE = ("httpx", "httpcore")


def _server_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every line the server side wrote, in both formats."""
    records = [r for r in caplog.records if not r.name.startswith(CLIENT_SIDE)]
    return "".join(TextFormatter().format(r) + JsonFormatter().format(r) for r in records)


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "seoulrun.request"]


# --- the request log -------------------------------------------------------------------------------


async def test_each_request_is_one_json_line_with_its_id_route_template_status_and_time(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await client.get("/api/venues/987654?lang=en", headers={"X-Request-ID": "edge-7f3a.1"})
    assert response.status_code == 404
    [line] = _request_lines(caplog)
    assert line["request_id"] == "edge-7f3a.1"
    assert line["method"] == "GET"
    assert line["route"] == "/api/venues/{venue_id}"  # the template, not /api/venues/987654
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["client"] == "testclient"
    assert line["level"] == "info"
    assert line["logger"] == "seoulrun.request"
    assert {"ts", "message", "pid"} <= line.keys()
    assert "987654" not in json.dumps(line)
    assert "lang=en" not in json.dumps(line)


async def test_a_path_no_route_has_is_logged_as_unmatched(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await client.get("/wp-admin/setup.php?password=hunter2")
    [line] = _request_lines(caplog)
    assert (line["route"], line["status"]) == ("unmatched", 404)
    assert "hunter2" not in _server_log(caplog)


async def test_x_request_id_is_returned_as_given_or_made_when_missing_or_unsafe(client: Client) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "req-123:abc"})
    assert given.headers["x-request-id"] == "req-123:abc"
    made = (await client.get("/health")).headers["x-request-id"]
    assert len(made) == 32
    assert int(made, 16) >= 0
    assert (await client.get("/health")).headers["x-request-id"] != made
    # A forged log line, or a flood of bytes, is not taken.
    for unsafe in ('abc" "status": 200', "x" * 129, "two words"):
        answer = (await client.get("/health", headers={"X-Request-ID": unsafe})).headers["x-request-id"]
        assert answer != unsafe
        assert len(answer) == 32
    # Errors carry it too.
    missing = await client.get("/api/no-such-thing", headers={"X-Request-ID": "lost-1"})
    assert missing.headers["x-request-id"] == "lost-1"


@contextlib.contextmanager
def json_log() -> Iterator[tuple[io.StringIO, logging.StreamHandler[Any]]]:
    """The root's one handler as ``server.logs.logging_config("json")`` makes it, on a stream of the
    test's, and the request logger at INFO. Entered in the test's body: pytest's own capture of the
    call's lines is among the root's handlers then, and is taken off meanwhile."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(FeedSecretFilter())
    root, logger = logging.getLogger(), logging.getLogger(REQUEST_LOGGER)
    handlers, level = root.handlers[:], logger.level
    root.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    try:
        yield stream, handler
    finally:
        root.handlers[:] = handlers
        logger.setLevel(level)


def _write_one(rid: str) -> None:
    token = request_id.set(rid)  # as observe_requests sets it while the request is served
    try:
        RequestLines().write(rid, "POST", "/api/bookings", 409, 1.25, "203.0.113.7")
    finally:
        request_id.reset(token)


def test_the_request_line_written_straight_to_the_stream_is_the_one_logging_writes() -> None:
    other = io.StringIO()
    also = logging.StreamHandler(other)
    also.setFormatter(JsonFormatter())
    with json_log() as (stream, _):
        with mock.patch.object(logging.Logger, "_log", side_effect=AssertionError("through logging")):
            _write_one("straight-1")
        # A second handler: the line goes through logging, to both.
        logging.getLogger().addHandler(also)
        _write_one("through-2")
        logging.getLogger().removeHandler(also)
        assert "straight-1" not in other.getvalue()
    straight, through = (json.loads(line) for line in stream.getvalue().splitlines())
    assert json.loads(other.getvalue()) == through
    assert list(straight) == list(through)  # the same members in the same order
    for line in (straight, through):
        assert datetime.fromisoformat(line.pop("ts")).tzinfo == UTC
        assert line.pop("pid") > 0
    assert straight == {**through, "request_id": "straight-1"}
    assert through == {
        "level": "info",
        "logger": "seoulrun.request",
        "message": "POST /api/bookings 409 1.2 ms 203.0.113.7",
        "request_id": "through-2",
        "method": "POST",
        "route": "/api/bookings",
        "status": 409,
        "duration_ms": 1.25,
        "client": "203.0.113.7",
    }


def test_a_request_line_goes_through_logging_whenever_the_handler_is_not_ours_alone() -> None:
    with json_log() as (stream, handler):
        handler.setFormatter(TextFormatter())  # make run's text lines
        _write_one("text-1")
        line = stream.getvalue().rstrip()
        assert line.endswith(" INFO seoulrun.request: POST /api/bookings 409 1.2 ms 203.0.113.7 [text-1]")
        handler.setFormatter(JsonFormatter())
        logging.getLogger(REQUEST_LOGGER).setLevel(logging.WARNING)  # not written at all
        _write_one("dropped-2")
        handler.setLevel(logging.WARNING)
        logging.getLogger(REQUEST_LOGGER).setLevel(logging.INFO)
        _write_one("dropped-3")  # the handler's own level drops it
    assert stream.getvalue().rstrip() == line


def test_a_lines_time_is_its_millisecond_in_utc() -> None:
    from server.logs import _Stamps

    stamps = _Stamps()
    for created in (1_796_000_000.0, 1_796_000_000.0015, 1_796_000_000.9994, 1_796_000_001.25, 1_796_086_399.999):
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert stamps.of(created) == expected


def test_made_request_ids_differ_between_forked_workers() -> None:
    """Workers are forked from one process: each draws its own ids (a count alone would repeat)."""
    import os

    from server.observability import _ids

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the worker: its first ids, to the parent
        os.write(write, (_ids.next() + _ids.next()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    ours = {_ids.next() for _ in range(1000)}
    assert len(ours) == 1000
    assert {theirs[:32], theirs[32:]}.isdisjoint(ours)
    assert theirs[:16] != next(iter(ours))[:16]


async def test_lines_logged_while_serving_a_request_carry_its_id(caplog: pytest.LogCaptureFixture) -> None:
    from server.logs import request_id

    record = logging.LogRecord("booking", logging.INFO, "", 0, "something happened", None, None)
    token = request_id.set("rid-42")
    try:
        assert json.loads(JsonFormatter().format(record))["request_id"] == "rid-42"
        assert TextFormatter().format(record).endswith("booking: something happened [rid-42]")
    finally:
        request_id.reset(token)
    assert "request_id" not in json.loads(JsonFormatter().format(record))


async def test_a_feed_url_and_its_secret_never_reach_the_log(
    client: Client, make_user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    citizen = await make_user()
    created = await client.post("/api/feeds", json={"scope": "me"}, headers=citizen.headers)
    assert created.status_code == 201, created.text
    path = "/ical/" + created.json()["url"].split("/ical/", 1)[1]
    secret = path.removeprefix("/ical/").removesuffix(".ics")
    caplog.set_level(logging.DEBUG)
    fetched = await client.get(f"{path}?token={secret}")
    assert fetched.status_code == 200
    assert (await client.get(path, headers={"If-None-Match": fetched.headers["etag"]})).status_code == 304
    lines = _request_lines(caplog)
    assert [line["route"] for line in lines] == ["/ical/{filename}", "/ical/{filename}"]
    assert [line["status"] for line in lines] == [200, 304]
    everything = _server_log(caplog)
    assert "/ical/" in everything
    assert secret not in everything
    assert citizen.token not in everything


# --- /metrics --------------------------------------------------------------------------------------


def _samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


async def _scrape(client: Client, **labels_of: dict[str, str]) -> dict[str, float]:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    found = {}
    for key, wanted in labels_of.items():
        name = key.rsplit("__", 1)[0]
        found[key] = sum(
            value for n, labels, value in _samples(response.text) if n == name and wanted.items() <= labels.items()
        )
    return found


async def test_metrics_count_booking_outcomes_requests_and_the_outbox(
    client: Client, db: Database, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=1, max_party=1)
    slot = await make_slot(space)
    first, second = await make_user(), await make_user()
    wanted = {
        "seoulrun_bookings_total__confirmed": {"outcome": "confirmed"},
        "seoulrun_bookings_total__waitlisted": {"outcome": "waitlisted"},
        "seoulrun_bookings_total__sold_out": {"outcome": "sold_out"},
        "seoulrun_http_requests_total__created": {"route": "/api/bookings", "method": "POST", "status": "201"},
        "seoulrun_http_request_duration_seconds_count__bookings": {"route": "/api/bookings", "method": "POST"},
    }
    before = await _scrape(client, **wanted)
    body = {"slot_id": slot.id}
    again = {"Idempotency-Key": "first-try"}
    assert (await client.post("/api/bookings", json=body, headers={**first.headers, **again})).status_code == 201
    # A replay answers the same booking: not a second one.
    replay = await client.post("/api/bookings", json=body, headers={**first.headers, **again})
    assert replay.headers["idempotency-replayed"] == "true"
    assert_problem(await client.post("/api/bookings", json=body, headers=second.headers), 409, "sold_out")
    queued = await client.post("/api/bookings", json={**body, "join_waitlist": True}, headers=second.headers)
    assert queued.json()["status"] == "waitlisted"
    after = await _scrape(client, **wanted)
    change = {key: after[key] - before[key] for key in wanted}
    assert change == {
        "seoulrun_bookings_total__confirmed": 1,
        "seoulrun_bookings_total__waitlisted": 1,
        "seoulrun_bookings_total__sold_out": 1,
        "seoulrun_http_requests_total__created": 3,
        "seoulrun_http_request_duration_seconds_count__bookings": 4,
    }
    # The outbox as it is when scraped: the confirmation's (and the waitlist notice's) e-mails wait.
    from core.database import unit_of_work

    async with unit_of_work(db.engine) as session:
        pending = await session.scalar(select(func.count()).where(OutboxMessage.status == "pending"))
    assert pending
    outbox = await _scrape(client, seoulrun_outbox_messages={"status": "pending"})
    assert outbox == {"seoulrun_outbox_messages": pending}


async def test_metrics_are_not_public(client: Client, make_user: MakeUser) -> None:
    assert_problem(await client.get("/metrics"), 401, "unauthenticated")
    assert_problem(
        await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}), 401, "unauthenticated"
    )
    citizen: Account = await make_user()
    staff = await make_user(Role.STAFF)
    for account in (citizen, staff):
        assert_problem(await client.get("/metrics", headers=account.headers), 403, "forbidden")
    admin = await make_user(Role.ADMIN)
    for headers in (admin.headers, {"Authorization": f"Bearer {METRICS_TOKEN}"}):
        answer = await client.get("/metrics", headers=headers)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "seoulrun_http_requests_total" in answer.text


async def test_without_a_metrics_token_only_an_admin_reads_them(db: Database, make_user: MakeUser) -> None:
    admin = await make_user(Role.ADMIN)
    async with AsyncTestClient(app=create_app(db.settings, engine=db.engine)) as client:
        assert_problem(await client.get("/metrics", headers={"Authorization": "Bearer "}), 401, "unauthenticated")
        assert (await client.get("/metrics", headers=admin.headers)).status_code == 200


# --- /health ---------------------------------------------------------------------------------------


async def test_health_reports_the_database_and_who_leads_the_scheduler(db: Database, client: Client) -> None:
    body = (await client.get("/health")).json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert isinstance(body["database_ms"], float)
    assert "redis" not in body  # not configured
    # This process runs no scheduler (tests), and nobody holds the lease yet.
    assert body["scheduler"] == {
        "enabled": False,
        "leader": None,
        "lease_expires_at": None,
        "this_process": None,
        "this_process_leads": False,
    }
    other = Leader(db.engine, db.settings, holder="server-2:4242:abcdef")
    assert await other.try_take()
    scheduler = (await client.get("/health")).json()["scheduler"]
    assert scheduler["leader"] == "server-2:4242:abcdef"
    assert scheduler["lease_expires_at"].endswith("+09:00")
    assert scheduler["this_process_leads"] is False
    await other.release()
    assert (await client.get("/health")).json()["scheduler"]["leader"] is None


async def test_health_says_whether_this_process_leads(db: Database) -> None:
    settings = dataclasses.replace(db.settings, scheduler_enabled=True)
    async with AsyncTestClient(app=create_app(settings, engine=db.engine)) as client:
        scheduler = (await client.get("/health")).json()["scheduler"]
    assert scheduler["enabled"] is True
    assert scheduler["this_process_leads"] is True
    assert scheduler["leader"] == scheduler["this_process"]


async def test_health_runs_one_query(db: Database, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """One read of the lease, through the catalogue version's cheap reader (``VersionReader.fetch_row``):
    on a SQLite file it never reaches the engine, elsewhere it is one statement and nothing else."""
    await client.get("/health")  # the first request may open things
    statements: list[str] = []
    reads: list[str] = []
    fetch_row = VersionReader.fetch_row

    async def counted(self: VersionReader, sql: str) -> Any:
        reads.append(sql)
        return await fetch_row(self, sql)

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    monkeypatch.setattr(VersionReader, "fetch_row", counted)
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert (await client.get("/health")).status_code == 200
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert reads == [LEASE_QUERY]
    assert len([s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "PRAGMA", "ROLLBACK"))]) <= 1
    assert all("scheduler_lease" in s for s in statements if s.lstrip().upper().startswith("SELECT")), statements


async def test_health_never_waits_in_the_event_loop_for_a_busy_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheap SQLite read runs in the loop's thread with no busy wait; when the file is busy it is
    read through the engine (off the loop), and /health still answers. (SQLite's own reader: a file of
    the test's own, not the two-database fixture.)"""
    settings = _settings(f"sqlite+aiosqlite:///{tmp_path / 'busy.sqlite3'}")
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)

    def busy(self: VersionReader, sql: str, params: tuple[Any, ...] = ()) -> Any:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(VersionReader, "_read_sqlite", busy)
    try:
        async with AsyncTestClient(app=create_app(settings, engine=engine)) as client:
            body = (await client.get("/health")).json()
        assert (body["status"], body["database"]) == ("ok", "ok")
        assert await VersionReader(engine, settings).current() is not None
    finally:
        await engine.dispose()


async def test_health_reports_redis_unreachable_as_degraded_not_down(db: Database) -> None:
    settings = dataclasses.replace(db.settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with AsyncTestClient(app=create_app(settings, engine=db.engine)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["redis"] == "unreachable"
    assert response.json()["status"] == "degraded"
    assert response.json()["database"] == "ok"


@pytest.fixture
def redis_server(tmp_path: Any) -> Iterator[str]:
    """A Redis of the test's own, when the machine has ``redis-server``."""
    import shutil
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, socket_connect_timeout=0.2).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_health_reports_redis_ok_when_it_answers(db: Database, redis_server: str) -> None:
    settings = dataclasses.replace(db.settings, redis_url=redis_server)
    async with AsyncTestClient(app=create_app(settings, engine=db.engine)) as client:
        body = (await client.get("/health")).json()
    assert (body["status"], body["redis"]) == ("ok", "ok")


async def test_a_served_worker_leaves_what_it_started_with_out_of_the_collectors_full_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``app_from_env`` (what ``seoulrun serve`` runs in each worker) freezes the heap once started:
    the garbage collector's full passes were the reads' p99 on PostgreSQL."""
    monkeypatch.setenv("SEOULRUN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'served.sqlite3'}")
    monkeypatch.setenv("SEOULRUN_SCHEDULER_ENABLED", "false")
    monkeypatch.setattr(server.app, "configure_logging", lambda log_format: None)  # the tests' own logging stays
    gc.unfreeze()
    app = app_from_env()
    assert gc.get_freeze_count() == 0  # built, not started
    try:
        async with AsyncTestClient(app=app):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
