"""Calendar feeds: a venue feed of 2,000 events, rendered, cached and 304, each as a ratio to ``/health``.

For each database (SQLite, PostgreSQL) it starts the real server (``seoulrun serve``, 2 workers) on a
fresh database holding the demo catalogue, then prepares in that database, through the project's own
code: a practice site with two shared spaces, 2,000 one-off slots over the next 167 days (six a day per
space), about 4,000 confirmed bookings of 40 citizens spread over them (``slot.taken`` in step), and a
staff account of the venue. Over HTTP the staff member logs in and subscribes to the venue
(``POST /api/feeds``). Then, on that server:

- the first fetch of the feed, one request on a cold cache: its latency is the first render;
- ``GET /health``: the baseline;
- the cached fetch: ``GET /ical/<secret>.ics`` with ``Accept-Encoding: gzip`` as calendar apps send it;
- the ``304``: the same with ``If-None-Match: <its ETag>``.

And on a second server over the same database, started with ``SEOULRUN_FEED_CACHE_ENTRIES=0`` so that
every fetch renders: ``GET /health`` and the uncached fetch, both at ``--render-concurrency``, a few
dozen requests (a render of 2,000 events takes about half a second of CPU).

Each ratio is to ``/health`` of the same
server in the same run. Exits 1 if any request got a 5xx or no answer, if the feed does not hold 2,000
events, or if a server failed; an unreachable PostgreSQL is reported as skipped (exit 2 if PostgreSQL
alone was asked for).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import time as wall_time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from _harness import (
    NO_ANSWER,
    DatabaseUnavailable,
    LoadResult,
    MakeRequest,
    ServerFailed,
    _stop,
    _wait_healthy,
    bench_arguments,
    databases,
    free_port,
    load,
    print_table,
    start_server,
    temp_database,
)
from sqlalchemy import insert

from accounts.models import Role, User, VenueAssignment
from accounts.passwords import hash_password
from booking.models import Booking, BookingStatus
from core.clock import kst, today_kst
from core.database import create_engine, unit_of_work
from core.settings import Settings
from venues.models import Slot, SlotOrigin, SlotStatus, Space, Venue

HERE = Path(__file__).resolve().parent
WORKERS = 2
EVENTS = 2000
DAYS = 167
HOURS = range(9, 15)  # six one-hour slots a day per space
CAPACITY = 20
CITIZENS = 40
WARMUP_REQUESTS = 100
CACHED_MAX_REQUESTS = 1000  # a cached fetch carries a 2,000-event calendar: keep the run short
RENDER_REQUESTS = 24
RENDER_CONCURRENCY = 4
PASSWORD = "feeds-bench-4050!"


# --- preparation, in the database ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    venue_id: int
    staff_email: str


async def prepare(database_url: str) -> Prepared:
    settings = Settings(database_url=database_url, secret_key="bench", db_pool_size=2)
    engine = create_engine(settings)
    try:
        password_hash = await hash_password(
            PASSWORD, time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
        )
        stamp = time.strftime("%H%M%S")
        first_day = today_kst() + timedelta(days=1)
        async with unit_of_work(engine) as session:
            venue = Venue(
                slug=f"bench-feeds-{stamp}",
                kind="practice_site",
                name="서울런 4050 피드 벤치 실습장",
                name_en="Feed bench practice site",
                district="gangbuk",
                address="서울특별시 강북구 삼양로 173, 수유동",
                lat=37.64,
                lon=127.01,
                rules={},
                opening_hours=[],
                spaces=[],
            )
            session.add(venue)
            await session.flush()
            spaces = [
                Space(
                    venue_id=venue.id,
                    slug=f"lab-{n}",
                    kind="lab",
                    shape="shared",
                    name=f"드론 정비 실습실 {n}",
                    name_en=f"Drone lab {n}",
                    capacity=CAPACITY,
                    max_party=4,
                    slot_minutes=60,
                    rules={},
                )
                for n in (1, 2)
            ]
            citizens = [
                User(
                    email=f"feeds{i:03d}.{stamp}@bench.seoulrun4050.example",
                    password_hash=password_hash,
                    name=f"김벤치{i:03d}",
                    birth_year=1975,
                    role=Role.CITIZEN,
                    assignments=[],
                )
                for i in range(CITIZENS)
            ]
            staff = User(
                email=f"feeds.staff.{stamp}@bench.seoulrun4050.example",
                password_hash=password_hash,
                name="벤치 직원",
                role=Role.STAFF,
                assignments=[VenueAssignment(venue_id=venue.id)],
            )
            session.add_all([*spaces, *citizens, staff])
            await session.flush()
            slots: list[Slot] = []
            for day in range(DAYS):
                for hour in HOURS:
                    for space in spaces:
                        if len(slots) == EVENTS:
                            break
                        starts_at = kst(first_day + timedelta(days=day), wall_time(hour, 0))
                        slots.append(
                            Slot(
                                space_id=space.id,
                                venue_id=venue.id,
                                starts_at=starts_at,
                                ends_at=starts_at + timedelta(hours=1),
                                capacity=CAPACITY,
                                taken=1 + len(slots) % 3,
                                status=SlotStatus.OPEN,
                                origin=SlotOrigin.EXTRA,
                                note="bench/feeds.py",
                            )
                        )
            session.add_all(slots)
            await session.flush()
            bookings = [
                {
                    "user_id": citizens[(i + j) % CITIZENS].id,
                    "venue_id": venue.id,
                    "space_id": slot.space_id,
                    "slot_id": slot.id,
                    "starts_at": slot.starts_at,
                    "ends_at": slot.ends_at,
                    "party_size": 1,
                    "units": 1,
                    "status": BookingStatus.CONFIRMED,
                }
                for i, slot in enumerate(slots)
                for j in range(slot.taken)
            ]
            await session.execute(insert(Booking), bookings)
            prepared = Prepared(venue.id, staff.email)
        print(
            f"  venue {prepared.venue_id}: {len(slots)} slots over {DAYS} days, {len(bookings)} bookings of "
            f"{CITIZENS} citizens"
        )
        return prepared
    finally:
        await engine.dispose()


# --- servers ---------------------------------------------------------------------------------------


@contextmanager
def serve(database_url: str, factory: str, env: Mapping[str, str]) -> Iterator[str]:
    """uvicorn with an app factory on a database that is already migrated, as ``seoulrun serve`` runs it."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "SEOULRUN_DATABASE_URL": database_url,
        "SEOULRUN_SCHEDULER": "0",
        "SEOULRUN_SECRET_KEY": "bench",
        "SEOULRUN_BASE_URL": base_url,
        **env,
    }
    command = [sys.executable, "-m", "uvicorn", factory, "--factory", "--app-dir", str(HERE)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS), "--proxy-headers"]
    log_dir = Path(tempfile.mkdtemp(prefix="seoulrun-bench-feeds-"))
    log_path = log_dir / "server.log"
    clean = False
    try:
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=HERE.parent, start_new_session=True
            )
            try:
                _wait_healthy(base_url, process, 60.0, log_path)
                yield base_url
                clean = process.poll() is None
            finally:
                _stop(process)
    finally:
        if clean:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"server log kept: {log_path}", file=sys.stderr)


def subscribe(base_url: str, prepared: Prepared) -> str:
    """Log the staff member in and subscribe to the venue; returns the feed's path."""
    with httpx.Client(base_url=base_url, timeout=30.0, trust_env=False) as client:
        login = client.post("/api/auth/login", json={"email": prepared.staff_email, "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = client.post("/api/feeds", json={"scope": "venue", "target_id": prepared.venue_id}, headers=headers)
        if created.status_code != 201:
            raise ServerFailed(f"POST /api/feeds answered {created.status_code}: {created.text[:300]}")
        return urlsplit(created.json()["url"]).path


# --- measuring ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FirstFetch:
    latency_ms: float
    events: int
    plain_bytes: int
    gzip_bytes: int


def first_fetch(base_url: str, path: str) -> FirstFetch:
    with httpx.Client(base_url=base_url, timeout=60.0, trust_env=False) as client:
        started = time.perf_counter()
        response = client.get(path)
        latency = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise ServerFailed(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    return FirstFetch(
        latency,
        response.content.count(b"BEGIN:VEVENT"),
        len(response.content),
        response.num_bytes_downloaded,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    first: FirstFetch
    cached_rows: list[tuple[str, LoadResult]]  # /health first
    render_rows: list[tuple[str, LoadResult]]  # /health first


def health(i: int) -> tuple[str, str, dict[str, Any]]:
    return "GET", "/health", {}


async def measure_cached(base_url: str, path: str, requests: int, concurrency: int) -> list[tuple[str, LoadResult]]:
    etag = ""

    def not_modified(i: int) -> tuple[str, str, dict[str, Any]]:
        return "GET", path, {"headers": {"If-None-Match": etag}}

    endpoints: list[tuple[str, MakeRequest, int]] = [
        ("GET /health", health, requests),
        ("GET feed, cached (gzip)", lambda i: ("GET", path, {}), min(requests, CACHED_MAX_REQUESTS)),
        ("GET feed, If-None-Match → 304", not_modified, requests),
    ]
    results = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, trust_env=False) as client:
        for label, make_request, total in endpoints:
            # The ETag of now: the feed's window moves at midnight in Seoul, and its ETag with it.
            etag = (await client.get(path)).headers["etag"]
            # The warm-up also makes the second worker render its copy before anything is measured.
            await load(base_url, make_request, min(WARMUP_REQUESTS, total), concurrency)
            results.append((label, await load(base_url, make_request, total, concurrency)))
    return results


async def measure_render(base_url: str, path: str, requests: int) -> list[tuple[str, LoadResult]]:
    def feed(i: int) -> tuple[str, str, dict[str, Any]]:
        return "GET", path, {}

    await load(base_url, health, WARMUP_REQUESTS, RENDER_CONCURRENCY)
    await load(base_url, feed, RENDER_CONCURRENCY, RENDER_CONCURRENCY)
    return [
        ("GET /health", await load(base_url, health, requests, RENDER_CONCURRENCY)),
        ("GET feed, rendered every time", await load(base_url, feed, RENDER_REQUESTS, RENDER_CONCURRENCY)),
    ]


def run(kind: str, url: str, requests: int, concurrency: int) -> Outcome:
    """Prepare and measure on the real server, then render on a second one with the cache off."""
    with start_server(url, workers=WORKERS) as base_url:
        prepared = asyncio.run(prepare(url))
        path = subscribe(base_url, prepared)
        first = first_fetch(base_url, path)
        cached = asyncio.run(measure_cached(base_url, path, requests, concurrency))
    with serve(url, "server.app:app_from_env", {"SEOULRUN_FEED_CACHE_ENTRIES": "0"}) as render_url:
        render = asyncio.run(measure_render(render_url, path, min(requests, 500)))
    return Outcome(kind, first, cached, render)


# --- output ------------------------------------------------------------------------------------------


def _rows(results: Sequence[tuple[str, LoadResult]], concurrency: int) -> list[tuple[Any, ...]]:
    baseline = results[0][1].rps
    return [
        (
            label,
            r.count,
            concurrency,
            f"{r.rps:,.1f}" if r.rps < 100 else f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.rps / baseline:.3f}" if baseline else "-",
            " ".join(f"{s or 'none'}×{n}" for s, n in sorted(r.statuses.items())),
        )
        for label, r in results
    ]


def report(outcome: Outcome, concurrency: int) -> list[str]:
    first = outcome.first
    print(f"\n{outcome.kind} ({WORKERS} workers)")
    print(
        f"first fetch (render on a cold cache): {first.latency_ms:.0f} ms; {first.events} events, "
        f"{first.plain_bytes / 1e6:.2f} MB, {first.gzip_bytes / 1e3:.0f} kB gzipped"
    )
    headers = ["endpoint", "requests", "in flight", "req/s", "p50 ms", "p99 ms", "vs /health", "statuses"]
    print_table(headers, _rows(outcome.cached_rows, concurrency))
    print("every fetch rendered (SEOULRUN_FEED_CACHE_ENTRIES=0, a second server on the same database):")
    print_table(headers, _rows(outcome.render_rows, RENDER_CONCURRENCY))
    problems = []
    if first.events != EVENTS:
        problems.append(f"the feed holds {first.events} events, expected {EVENTS}")
    expected = {"GET feed, If-None-Match → 304": 304}
    for label, result in [*outcome.cached_rows, *outcome.render_rows]:
        if failed := result.count_of(lambda s: s >= 500 or s == NO_ANSWER):
            problems.append(f"{label}: {failed} requests got a 5xx or no answer")
        want = expected.get(label, 200)
        if odd := result.count_of(lambda s, want=want: NO_ANSWER < s < 500 and s != want):
            problems.append(f"{label}: {odd} answers other than {want}")
    for problem in problems:
        print(f"FAILED on {outcome.kind}: {problem}", file=sys.stderr)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = bench_arguments(__doc__.splitlines()[0] if __doc__ else "")
    args = parser.parse_args(argv)
    ok, skipped = True, []
    for kind in databases(args.db):
        try:
            with temp_database(kind) as url:
                outcome = run(kind, url, args.requests, args.concurrency)
            ok = not report(outcome, args.concurrency) and ok
        except DatabaseUnavailable as exc:
            print(f"\n{kind}: skipped: {exc}")
            skipped.append(kind)
        except (ServerFailed, httpx.HTTPError) as exc:
            print(f"\n{kind}: FAILED: {exc}", file=sys.stderr)
            ok = False
    if not ok:
        return 1
    return 2 if skipped and args.db != "both" else 0


if __name__ == "__main__":
    sys.exit(main())
