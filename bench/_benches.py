"""The measurements of one database: every group of ``run_all.py``, in the order they run.

A group loads the server with wrk (bench/load.lua) and records a ``Row`` per measurement: req/s and
latency from wrk, the count of every answer, and its yardstick (the hello-world of the same run, or
pgbench for bookings on PostgreSQL). Correctness problems (a 5xx, a socket error, an unexpected status,
the database out of step) are collected in ``Run.problems`` and make the run fail; a missed target never
does.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import _data
import _profile
import _wrk
from _data import Busy, Db, People, Venues, kst, today_kst
from _harness import BENCH, CpuSample, Database, Logs, Server, cpu_sample, serve_app, serve_hello
from _wrk import Load, Request, Target, WrkResult, get, json_request

RESULTS = BENCH / "results"
CITIZENS = 1000  # the rush: 1,000 citizens for one slot of 30 seats
SEATS = 30
WARMUP_CITIZENS = 200
WARMUP_SEATS = 10
TARGET_P99_MS = 50.0
MIN_ANSWERS_PER_CONNECTION = 4  # fewer answers than this in a run: measure again, for longer
LONGEST_S = 30.0


# --- targets of the issue, as ratios to a yardstick measured in the same run -----------------------

TARGETS: dict[str, tuple[str, float | None]] = {
    "health": ("hello", 0.5),
    "venue": ("hello", 0.25),
    "venue_list": ("hello", 0.25),
    "programs": ("hello", 0.25),
    "venue_availability": ("hello", 0.25),
    "feed_cached": ("hello", 0.5),
    "feed_304": ("hello", 0.7),
    "scan": ("hello", 0.3),
    "scan_first": ("pgbench", None),
    "sold_out": ("hello", 0.5),
    "rush": ("pgbench", 0.5),
    "confirmed": ("pgbench", 0.5),
}
P99_TARGETS = {"venue", "venue_list", "programs", "venue_availability"}
MEMORY_TARGET_MB = 200.0


@dataclass(slots=True)
class Row:
    db: str
    group: str
    name: str
    label: str
    result: WrkResult | None = None
    pgbench: _wrk.PgbenchResult | None = None
    yardstick: str = "hello"  # hello | pgbench | "" (none)
    ratio: float | None = None
    target: float | None = None
    p99_target: float | None = None
    verdict: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    discarded: WrkResult | None = None  # a run too short to count, measured again for longer

    @property
    def rps(self) -> float:
        if self.result is not None:
            return self.result.rps
        return self.pgbench.tps if self.pgbench is not None else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "group": self.group,
            "name": self.name,
            "label": self.label,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.result.p50_ms, 2) if self.result else None,
            "p99_ms": round(self.result.p99_ms, 2) if self.result else None,
            "yardstick": self.yardstick,
            "ratio": round(self.ratio, 3) if self.ratio is not None else None,
            "target": self.target,
            "p99_target_ms": self.p99_target,
            "verdict": self.verdict,
            "note": self.note,
            "answers": self.result.describe() if self.result else "",
            "wrk": self.result.as_json() if self.result else None,
            "pgbench": self.pgbench.as_json() if self.pgbench else None,
            "extra": self.extra,
        }


@dataclass
class Run:
    """Everything one database's run shares."""

    database: Database
    logs: Logs
    load: Load
    warm_s: float
    workers: int
    db: Db
    venues: Venues
    people: People
    busy: Busy
    app: Server
    hello: Server
    stack: ExitStack
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    hello_rps: list[float] = field(default_factory=list)
    pgbench_tps: float | None = None
    booking_tx_tps: float | None = None  # pgbench running the confirmed path's own statements
    memory: dict[str, list[float]] = field(default_factory=dict)
    feed_path: str = ""
    profile: frozenset[str] = frozenset()  # names of the measurements to sample with py-spy

    @property
    def label(self) -> str:
        return self.database.label

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"  PROBLEM: {text}", flush=True)

    def sync(self, coroutine: Any) -> Any:
        return asyncio.run(coroutine)


# --- HTTP for the preparations (not measured) ------------------------------------------------------


def http(
    method: str, url: str, body: Any = None, token: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - 127.0.0.1 only
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


# --- measuring -------------------------------------------------------------------------------------


def _print_row(row: Row) -> None:
    r = row.result
    if r is None:
        return
    print(
        f"  {row.label:<58} {r.rps:>9,.0f} req/s  p50 {r.p50_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms  "
        f"{r.bytes_per_answer:>8,.0f} B/answer  {r.describe()}",
        flush=True,
    )


def check(run: Run, label: str, result: WrkResult, expect: set[int], *, warm_up: bool = False) -> None:
    """A server failure or an answer nobody expected is a problem of the run."""
    if result.server_errors:
        run.problem(f"{run.label} {label}: {result.server_errors} answers 5xx ({result.describe()})")
    if result.socket_errors:
        run.problem(f"{run.label} {label}: socket errors {result.errors}")
    odd = {s: n for s, n in result.statuses.items() if s not in expect and s < 500}
    if odd:
        run.problem(f"{run.label} {label}: unexpected answers {odd} (expected {sorted(expect)})")
    if result.requests == 0 and not warm_up:  # a short warm-up of a slow endpoint may see no answer
        run.problem(f"{run.label} {label}: no answer at all")


def profiled(run: Run, name: str, seconds: float, server: Server | None = None) -> AbstractContextManager[None]:
    """py-spy on the workers during the measurement ``name`` when ``--profile`` names it."""
    if name not in run.profile or (server is not None and server is not run.app):
        return nullcontext()
    stem = f"profile-{run.database.kind}-{name}"
    return _profile.sampling(run.app.worker_pids(), seconds, RESULTS, stem)


def measure(
    run: Run,
    group: str,
    name: str,
    label: str,
    requests: Sequence[Request],
    *,
    expect: set[int] | None = None,
    server: Server | None = None,
    codes: bool = False,
    idempotency: bool = False,
    warm: bool = True,
    yardstick: str | None = None,
) -> Row:
    """A warm-up (not recorded), then the measurement, both with the same requests and load."""
    base = (server or run.app).base_url
    targets = [Target(base, requests)]
    expect = expect or {200}
    if warm and run.warm_s > 0:
        warmup = _wrk.run(targets, run.load, codes=codes, idempotency=idempotency, duration_s=run.warm_s)
        check(run, f"{label} (warm-up)", warmup, expect, warm_up=True)
    serving = server or run.app
    workers = serving.worker_pids()
    before = cpu_sample(workers)
    with profiled(run, name, run.load.duration_s, server):
        result = _wrk.run(targets, run.load, codes=codes, idempotency=idempotency)
    cpu = cpu_split(before, cpu_sample(workers), result.requests)
    discarded = None
    if result.requests < MIN_ANSWERS_PER_CONNECTION * run.load.connections and run.load.duration_s < LONGEST_S:
        # A slow endpoint answers few requests in a short run, and wrk counts only what was answered
        # (the requests still in flight at the end are lost): measure it again, for longer.
        longer = min(LONGEST_S, 4 * run.load.duration_s)
        print(f"  ({label}: {result.requests} answers in {run.load.duration_s:g} s; again for {longer:g} s)")
        check(run, f"{label} (short run)", result, expect, warm_up=True)
        discarded, result = result, _wrk.run(targets, run.load, codes=codes, idempotency=idempotency, duration_s=longer)
    check(run, label, result, expect)
    stick, target = TARGETS.get(name, ("hello", None))
    row = Row(run.label, group, name, label, result, yardstick=yardstick if yardstick is not None else stick)
    row.discarded = discarded
    row.target = target
    row.p99_target = TARGET_P99_MS if name in P99_TARGETS else None
    if discarded is None:  # the CPU of the run kept (a longer run again is not sampled)
        row.extra["cpu_ms_per_answer"] = cpu
    run.rows.append(row)
    _print_row(row)
    if discarded is None:
        _print_cpu(cpu)
    return row


def measure_hello(run: Run, group: str = "yardstick") -> Row:
    row = measure(run, group, "hello", "hello-world GET / (yardstick)", [get("/")], server=run.hello)
    row.yardstick = ""
    run.hello_rps.append(row.rps)
    return row


def _brackets(rows: Sequence[Row]) -> dict[int, float]:
    """For each row, the mean req/s of the hello-world runs just before and just after it."""
    hellos = [(i, row.rps) for i, row in enumerate(rows) if row.name == "hello" and row.group in {"yardstick", "scale"}]
    found: dict[int, float] = {}
    for i in range(len(rows)):
        before = [rps for j, rps in hellos if j < i]
        after = [rps for j, rps in hellos if j > i]
        around = before[-1:] + after[:1]
        if around:
            found[i] = sum(around) / len(around)
    return found


def once(
    run: Run, group: str, name: str, label: str, targets: Sequence[Target], expect: set[int], *, record: bool = True
) -> WrkResult:
    """Each request exactly once (bookings), Idempotency-Key on each, answers counted by code."""
    bound = max(60.0, 10 * run.load.duration_s)
    workers = run.app.worker_pids()
    before = cpu_sample(workers)
    with profiled(run, name, run.load.duration_s):
        result = _wrk.run(targets, run.load, once=True, idempotency=True, codes=True, duration_s=bound)
    cpu = cpu_split(before, cpu_sample(workers), result.requests)
    check(run, label, result, expect)
    sent = sum(len(t.requests) for t in targets)
    if result.requests != sent:
        run.problem(f"{run.label} {label}: {result.requests} answers to {sent} requests")
    if record:
        stick, target = TARGETS.get(name, ("", None))
        row = Row(run.label, group, name, label, result, yardstick=stick, target=target)
        row.extra["cpu_ms_per_answer"] = cpu
        run.rows.append(row)
        _print_row(row)
        _print_cpu(cpu)
    return result


def _print_cpu(cpu: dict[str, float]) -> None:
    print(
        f"    CPU a request: the server's workers {cpu['app']:.3f} ms, PostgreSQL {cpu['database']:.3f} ms, "
        f"the rest (wrk, the bench) {cpu['rest']:.3f} ms; the machine {cpu['busy_share']:.0%} busy "
        f"over {cpu['seconds']:.1f} s",
        flush=True,
    )


def cpu_split(before: CpuSample, after: CpuSample, answers: int) -> dict[str, float]:
    """CPU milliseconds per answer between two samples, by whom; the machine's busy share of its cores."""
    n = max(answers, 1)
    app, db = after.app_s - before.app_s, after.db_s - before.db_s
    busy = after.machine_s - before.machine_s
    cores = os.cpu_count() or 1
    return {
        "app": round(1000 * app / n, 3),
        "database": round(1000 * db / n, 3),
        "rest": round(1000 * max(busy - app - db, 0.0) / n, 3),
        "busy_share": round(busy / max((after.at - before.at) * cores, 1e-9), 3),
        "seconds": round(after.at - before.at, 2),
    }


# --- the groups ------------------------------------------------------------------------------------


def month() -> tuple[str, str]:
    first = today_kst() + timedelta(days=1)
    return first.isoformat(), (first + timedelta(days=29)).isoformat()


def reads(run: Run) -> None:
    """The public reads: /health, a venue, the venue list, programmes, days, a month of availability."""
    print(f"\n[{run.label}] reads", flush=True)
    status, _, body = http("GET", f"{run.app.base_url}/api/venues?kind=practice_site&limit=50")
    ids = [int(item["id"]) for item in json.loads(body)["items"]] if status == 200 else []
    if not ids:
        run.problem(f"{run.label}: GET /api/venues answered {status}, no practice sites")
        return
    spaces = run.sync(_spaces_of(run.db, ids))
    first, last = month()
    week_end = (today_kst() + timedelta(days=7)).isoformat()
    measure(run, "reads", "health", "GET /health", [get("/health")])
    measure(run, "reads", "venue", "GET /api/venues/{id}", [get(f"/api/venues/{i}") for i in ids])
    measure(
        run, "reads", "venue_list", "GET /api/venues?kind=practice_site&limit=50",
        [get("/api/venues?kind=practice_site&limit=50")],
    )  # fmt: skip
    measure(run, "reads", "programs", "GET /api/programs", [get("/api/programs")])
    measure(
        run, "reads", "venue_days", "GET /api/venues/{id}/days (30 days)",
        [get(f"/api/venues/{i}/days?from={first}&to={last}") for i in ids],
    )  # fmt: skip
    measure(
        run, "reads", "venue_availability", "GET /api/venues/{id}/availability (30 days)",
        [get(f"/api/venues/{i}/availability?from={first}&to={last}") for i in ids],
    )  # fmt: skip
    measure(
        run, "reads", "space_availability", "GET /api/spaces/{id}/availability (7 days)",
        [get(f"/api/spaces/{s}/availability?from={first}&to={week_end}") for s in spaces],
    )  # fmt: skip


async def _spaces_of(db: Db, venue_ids: Sequence[int]) -> list[int]:
    ids = ", ".join(str(int(i)) for i in venue_ids)
    rows = await db.rows(f"SELECT id FROM space WHERE venue_id IN ({ids}) AND shape <> 'stay' ORDER BY id")  # noqa: S608
    return [int(r[0]) for r in rows]


def subscribe(run: Run) -> str:
    status, _, body = http(
        "POST",
        f"{run.app.base_url}/api/feeds",
        {"scope": "venue", "target_id": run.venues.busy},
        run.people.staff.token,
    )
    if status != 201:
        raise RuntimeError(f"POST /api/feeds answered {status}: {body[:300]!r}")
    url = str(json.loads(body)["url"])
    return url[url.index("/ical/") :]


def first_fetch(run: Run) -> dict[str, Any]:
    """One fetch on a cold cache (its latency is a render), as a calendar app asks (gzip)."""
    started = time.perf_counter()
    status, headers, body = http("GET", run.app.base_url + run.feed_path, headers={"Accept-Encoding": "gzip"})
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        run.problem(f"{run.label}: first fetch of the feed answered {status}")
    return {"first_fetch_ms": round(elapsed, 1), "gzip_bytes": len(body), "etag": headers.get("etag", "")}


def feeds(run: Run) -> None:
    """bench-busy's venue feed, as its staff's calendar app polls it: cached (gzip), then 304."""
    print(f"\n[{run.label}] feeds", flush=True)
    run.feed_path = run.feed_path or subscribe(run)
    first = first_fetch(run)
    path = run.feed_path
    row = measure(
        run, "feeds", "feed_cached", "GET /ical/<secret>.ics, cached (gzip)", [get(path, Accept_Encoding="gzip")]
    )
    row.extra.update(first)
    _, headers, _ = http("GET", run.app.base_url + path, headers={"Accept-Encoding": "gzip"})
    etag = headers.get("etag", "")
    measure(
        run, "feeds", "feed_304", "GET /ical/<secret>.ics, If-None-Match → 304",
        [get(path, Accept_Encoding="gzip", If_None_Match=etag)], expect={304},
    )  # fmt: skip


def staff(run: Run) -> None:
    """The staff day view of bench-busy's busiest day, and one regular citizen's "my bookings"."""
    print(f"\n[{run.label}] staff day view, my bookings", flush=True)
    day = run.busy.day.isoformat()
    measure(
        run, "staff", "day_view", "GET /api/venues/{id}/bookings?date= (staff)",
        [get(f"/api/venues/{run.venues.busy}/bookings?date={day}&limit=500", run.people.staff.token)],
    )  # fmt: skip
    measure(run, "staff", "my_bookings", "GET /api/me/bookings", [get("/api/me/bookings", run.people.regular.token)])


def _qr(base_url: str, item: tuple[int, _data.Person]) -> tuple[int, str]:
    booking_id, holder = item
    for _ in range(3):  # 503 is "safe to retry" (API.md)
        status, _, body = http("GET", f"{base_url}/api/bookings/{booking_id}/qr", token=holder.token)
        if status != 503:
            break
        time.sleep(0.2)
    return status, str(json.loads(body).get("payload", "")) if status == 200 else ""


def scans(run: Run) -> None:
    """QR check-in at bench-door: each citizen's booking, its payload from GET /api/bookings/{id}/qr as
    its holder; the staff scans them round and round (after the first pass: already_checked_in)."""
    print(f"\n[{run.label}] QR scans", flush=True)
    starts, bookings = run.sync(_data.add_scan_bookings(run.db, run.venues, run.people))
    # The first code alone: it makes the signing key, and on SQLite concurrent first fetches collide on
    # that write inside a GET (seen as 503 "database is locked").
    answers = [_qr(run.app.base_url, bookings[0])]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers += list(pool.map(lambda item: _qr(run.app.base_url, item), bookings[1:]))
    bad = [status for status, payload in answers if status != 200 or not payload]
    if bad:
        run.problem(f"{run.label}: GET /api/bookings/{{id}}/qr failed for {len(bad)} bookings: {bad[:5]}")
        return
    token, venue = run.people.staff.token, run.venues.door
    requests = [json_request("POST", "/api/checkin/scan", {"payload": p, "venue_id": venue}, token) for _, p in answers]
    targets = [Target(run.app.base_url, requests)]
    # Each code once: 1,000 check-ins (each a guarded UPDATE, its history and the scan's record).
    first = once(run, "scan", "scan_first", "POST /api/checkin/scan, each code once (check-ins)", targets, {200})
    if first.count(200, "checked_in") != len(requests):
        run.problem(f"{run.label} first scans: {first.count(200, 'checked_in')} checked_in of {len(requests)}")
    # Then round and round, as a door's scanner reads a code again: every answer already_checked_in.
    row = measure(run, "scan", "scan", "POST /api/checkin/scan, again (already checked in)", requests, codes=True)
    assert row.result is not None
    if row.result.count(200, "already_checked_in") != row.result.requests:
        run.problem(f"{run.label} scans again: {row.result.requests} answers, not all already_checked_in")
    runs = [r for r in (first, row.discarded, row.result) if r is not None]
    answered = sum(r.count(200, "checked_in") for r in runs)
    checked_in = int(
        run.sync(
            run.db.scalar(
                "SELECT count(*) FROM booking WHERE status = 'checked_in' "
                "AND slot_id IN (SELECT id FROM slot WHERE note = 'bench scans')"
            )
        )
    )
    row.extra.update({"checked_in_answers": answered, "checked_in_in_db": checked_in, "bookings": len(bookings)})
    # wrk stops with requests in flight (one per connection, at the end of each run): the server may
    # have checked those in without wrk reading the answer.
    in_flight = len(runs) * run.load.connections
    if not answered <= checked_in <= answered + in_flight:
        run.problem(f"{run.label} scans: {answered} answers checked_in, {checked_in} bookings checked in")
    if _data.utcnow() > starts + timedelta(minutes=15):
        run.problem(f"{run.label} scans ran past the check-in window ({starts.astimezone(_data.KST):%H:%M} KST)")


def _booking_requests(slot_ids: Sequence[int], people: Sequence[_data.Person]) -> list[Request]:
    return [
        json_request("POST", "/api/bookings", {"slot_id": s, "party_size": 1}, p.token)
        for s, p in zip(slot_ids, people, strict=True)
    ]


def hot_row(database: Database, db: Db, venues: Venues, load: Load) -> Row:
    """pgbench: the guarded UPDATE of one hot slot and an INSERT of a booking row, one transaction each,
    at the rush's client count. Run before the servers start: their pools and pgbench's 64 clients would
    not fit in PostgreSQL's 100 connections together."""
    slot_id = asyncio.run(_data.prepare_hot_row(db, venues))
    try:
        variables = {"hot": slot_id, "venue": venues.door, "space": venues.rooms}
        before = cpu_sample(())
        result = _wrk.pgbench(
            database.name, _wrk.HOT_ROW_SQL, variables, load.connections, load.threads, load.duration_s
        )
        cpu = cpu_split(before, cpu_sample(()), result.transactions)
    finally:
        taken = asyncio.run(_data.drop_hot_row(db, slot_id))
    row = Row(
        database.label, "rush", "pgbench", "pgbench: guarded UPDATE of one slot + INSERT (yardstick)", yardstick=""
    )
    row.pgbench = result
    row.extra = {"places_taken": taken, "cpu_ms_per_answer": cpu}
    _print_pgbench(row, cpu)
    return row


def booking_tx(database: Database, db: Db, venues: Venues, load: Load) -> Row:
    """pgbench: a confirmed booking's own statements (``bench/booking_tx.sql``, as the app sends them), a
    slot and a citizen of its own each, at the rush's client count: the rate at which PostgreSQL alone
    does what the confirmed path asks of it. Run before the servers start, as ``hot_row``."""
    # Enough pairs for the run at several times the rate seen here (pgbench stops a client that runs out).
    count = max(20_000, round(4_000 * load.duration_s))
    space = asyncio.run(_data.prepare_booking_tx(db, venues, count))
    try:
        before = cpu_sample(())
        result = _wrk.pgbench(
            database.name, _wrk.BOOKING_TX_SQL, {"venue": venues.door}, load.connections, load.threads, load.duration_s
        )
        cpu = cpu_split(before, cpu_sample(()), result.transactions)
    finally:
        confirmed, taken = asyncio.run(_data.finish_booking_tx(db, space))
    row = Row(
        database.label,
        "rush",
        "pgbench_booking",
        "pgbench: a confirmed booking's own statements (yardstick)",
        yardstick="",
    )
    row.pgbench = result
    row.extra = {"confirmed": confirmed, "places_taken": taken, "cpu_ms_per_answer": cpu}
    _print_pgbench(row, cpu)
    return row


def _print_pgbench(row: Row, cpu: dict[str, float]) -> None:
    result = row.pgbench
    assert result is not None
    print(
        f"  {row.label:<58} {result.tps:>9,.0f} tx/s   avg {result.latency_ms:7.1f} ms  ({result.transactions} tx)\n"
        f"    CPU a transaction: PostgreSQL {cpu['database']:.2f} ms, the rest (pgbench) {cpu['rest']:.2f} ms; "
        f"the machine {cpu['busy_share']:.0%} busy",
        flush=True,
    )


def add_booking_tx(run: Run, row: Row) -> None:
    assert row.pgbench is not None
    run.rows.append(row)
    run.booking_tx_tps = row.pgbench.tps
    done = row.pgbench.transactions
    if row.pgbench.failed or row.extra["confirmed"] != done or row.extra["places_taken"] != done:
        run.problem(
            f"pgbench booking: {row.pgbench.failed} failed transactions, {row.extra['confirmed']} confirmed and "
            f"{row.extra['places_taken']} places taken for {done} transactions"
        )


def add_pgbench(run: Run, row: Row) -> None:
    assert row.pgbench is not None
    run.rows.append(row)
    run.pgbench_tps = row.pgbench.tps
    if row.pgbench.failed or row.extra["places_taken"] != row.pgbench.transactions:
        run.problem(
            f"pgbench: {row.pgbench.failed} failed transactions, {row.extra['places_taken']} places taken "
            f"for {row.pgbench.transactions} transactions"
        )


def rush(run: Run) -> None:
    """1,000 citizens book the 30 seats of one slot (each once); then every one of them again and again
    on the full slot (the sold-out answer); then each their own slot (the confirmed path)."""
    print(f"\n[{run.label}] bookings", flush=True)
    citizens, venues = run.people.citizens[:CITIZENS], run.venues
    day2, day3 = today_kst() + timedelta(days=2), today_kst() + timedelta(days=3)
    warm_slot, rush_slot = run.sync(
        _data.add_slots(
            run.db,
            [
                _data.slot_row(venues.door, venues.seats, kst(day2, 18), 60, WARMUP_SEATS, "bench rush warm-up"),
                _data.slot_row(venues.door, venues.seats, kst(day2, 14), 120, SEATS, "bench rush"),
            ],
        )
    )
    warmers = citizens[-WARMUP_CITIZENS:]
    once(
        run, "rush", "rush_warmup", "warm-up rush",
        [Target(run.app.base_url, _booking_requests([warm_slot] * len(warmers), warmers))], {201, 409}, record=False,
    )  # fmt: skip
    result = once(
        run, "rush", "rush", f"POST /api/bookings: rush, {CITIZENS} citizens for {SEATS} seats",
        [Target(run.app.base_url, _booking_requests([rush_slot] * len(citizens), citizens))], {201, 409},
    )  # fmt: skip
    book = run.sync(_data.ledger(run.db, [rush_slot]))
    run.rows[-1].extra["ledger"] = book.as_json()
    if result.count(201) != SEATS or result.count(409, "sold_out") != CITIZENS - SEATS:
        run.problem(f"{run.label} rush: {result.describe()}, expected 201×{SEATS} 409/sold_out×{CITIZENS - SEATS}")
    if book.confirmed != SEATS or book.taken != SEATS or book.units_taking != book.taken or book.slots_out_of_step:
        run.problem(f"{run.label} rush: the database says {book}")
    run.memory["after the rush"] = run.app.worker_rss_mb()
    print(f"  database: {book.confirmed} confirmed, slot.taken {book.taken}; worker RSS "
          + ", ".join(f"{mb:.0f} MB" for mb in run.memory["after the rush"]), flush=True)  # fmt: skip
    sold_out = measure(
        run, "rush", "sold_out", "POST /api/bookings on the full slot (sold out)",
        _booking_requests([rush_slot] * len(citizens), citizens), expect={409}, codes=True, idempotency=True,
    )  # fmt: skip
    assert sold_out.result is not None
    after = run.sync(_data.ledger(run.db, [rush_slot]))
    if after.confirmed != SEATS or after.taken != SEATS:
        run.problem(f"{run.label} sold out: the slot changed: {after}")
    rooms = run.sync(
        _data.add_slots(
            run.db, [_data.slot_row(venues.door, venues.rooms, kst(day3, 17), 60, 1, "bench confirmed")] * len(citizens)
        )
    )
    confirmed = once(
        run, "rush", "confirmed", f"POST /api/bookings: confirmed path, a slot for each of {CITIZENS}",
        [Target(run.app.base_url, _booking_requests(rooms, citizens))], {201},
    )  # fmt: skip
    book = run.sync(_data.ledger(run.db, rooms))
    run.rows[-1].extra["ledger"] = book.as_json()
    if confirmed.count(201, "confirmed") != len(rooms) or book.confirmed != len(rooms) or book.taken != len(rooms):
        run.problem(f"{run.label} confirmed path: {confirmed.describe()}; the database says {book}")
    run.memory["after the bookings"] = run.app.worker_rss_mb()


def finish_ratios(run: Run) -> None:
    brackets = _brackets(run.rows)
    for i, row in enumerate(run.rows):
        if row.group in {"scale", "servers"}:
            continue
        hello = brackets.get(i)
        base = hello if row.yardstick == "hello" else run.pgbench_tps if row.yardstick == "pgbench" else None
        if base:
            row.ratio = row.rps / base
            row.extra["yardstick_rps"] = round(base, 1)
        if row.target is not None and row.ratio is not None:
            met = row.ratio >= row.target
            if row.p99_target is not None and row.result is not None:
                met = met and row.result.p99_ms < row.p99_target
            row.verdict = "met" if met else "NOT met"
        if row.name == "confirmed" and run.booking_tx_tps:
            # Beside the yardstick: the same work done by PostgreSQL alone (bench/booking_tx.sql).
            row.extra["vs_booking_tx"] = round(row.rps / run.booking_tx_tps, 3)
            row.note = f"{row.rps / run.booking_tx_tps:.2f} × pgbench of its own statements"
        if row.target is None or row.ratio is not None:
            continue
        if row.yardstick == "pgbench" and run.pgbench_tps is None:
            row.note = "no pgbench yardstick" + (" on SQLite" if run.database.kind == "sqlite" else "")


# --- --scale N ---------------------------------------------------------------------------------------


SCALED = (
    ("venue_availability", "GET /api/venues/{busy}/availability (30 days)"),
    ("day_view", "GET /api/venues/{busy}/bookings?date= (staff)"),
    ("feed_cached", "GET /ical/<secret>.ics of bench-busy, cached (gzip)"),
    ("my_bookings", "GET /api/me/bookings"),
    ("venue_list", "GET /api/venues?kind=practice_site&limit=50"),
)


def _scaled_requests(run: Run, name: str) -> list[Request]:
    first, last = month()
    staff, busy = run.people.staff.token, run.venues.busy
    return {
        "venue_availability": [get(f"/api/venues/{busy}/availability?from={first}&to={last}")],
        "day_view": [get(f"/api/venues/{busy}/bookings?date={run.busy.day.isoformat()}&limit=500", staff)],
        "feed_cached": [get(run.feed_path, Accept_Encoding="gzip")],
        "my_bookings": [get("/api/me/bookings", run.people.regular.token)],
        "venue_list": [get("/api/venues?kind=practice_site&limit=50")],
    }[name]


def scale(run: Run, factor: int) -> None:
    """The cost of the same requests at scale 1 and at scale ``factor``: venues ×factor (demo copies with
    spaces, hours and slots), bench-busy's bookings ×factor on every slot, on its hot slot and for the
    regular citizen. Per-request cost is 1 / req/s, taken relative to the hello-world measured around it
    (the two phases are a minute apart, and the machine's load may change in between); the answer's size
    is wrk's bytes per answer, headers included."""
    print(f"\n[{run.label}] scale 1 → {factor}", flush=True)
    run.feed_path = run.feed_path or subscribe(run)
    phases: dict[int, dict[str, Row]] = {1: {}, factor: {}}
    render: dict[str, dict[str, Any]] = {}
    for n in (1, factor):
        if n == factor:
            started = time.perf_counter()
            run.sync(_data.multiply_venues(run.db, run.venues, 0, factor - 1))
            run.busy = run.sync(_data.grow_busy(run.db, run.venues, run.people, run.busy, factor))
            counts = run.sync(_scale_counts(run))
            print(f"  grown in {time.perf_counter() - started:.0f} s: {counts}", flush=True)
        render[str(n)] = first_fetch(run)
        measure_hello(run, "scale")
        for name, label in SCALED:
            row = measure(run, "scale", f"{name}@{n}", f"{label} @{n}", _scaled_requests(run, name), yardstick="")
            row.extra["scale"] = n
            phases[n][name] = row
        measure_hello(run, "scale")
    brackets = _brackets(run.rows)
    index = {id(row): i for i, row in enumerate(run.rows)}
    for name, _ in SCALED:
        b, a = phases[1][name], phases[factor][name]
        assert b.result is not None
        assert a.result is not None
        hello_b, hello_a = brackets[index[id(b)]], brackets[index[id(a)]]
        raw = b.rps / a.rps if a.rps else float("inf")
        cost = (b.rps / hello_b) / (a.rps / hello_a) if a.rps and hello_b else float("inf")
        size = a.result.bytes_per_answer / b.result.bytes_per_answer if b.result.bytes_per_answer else 0.0
        # Noise on a shared machine moves req/s by 10-20 % between runs: a quarter of slack.
        ok = cost <= 1.25 * max(1.0, size)
        a.extra.update({"cost_growth": round(cost, 2), "raw_cost_growth": round(raw, 2), "size_growth": round(size, 2)})
        a.ratio = cost
        a.verdict = "ok" if ok else "grows faster than its answer"
        print(f"    {name}: cost ×{cost:.2f} (raw ×{raw:.2f}) for an answer ×{size:.2f}: {a.verdict}", flush=True)
    last = phases[factor][SCALED[-1][0]]
    last.extra["counts"] = counts
    last.extra["first_fetch"] = render


async def _scale_counts(run: Run) -> dict[str, int]:
    db, busy = run.db, run.venues.busy
    return {
        "venues": int(await db.scalar("SELECT count(*) FROM venue")),
        "slots": int(await db.scalar("SELECT count(*) FROM slot")),
        "bookings": int(await db.scalar("SELECT count(*) FROM booking")),
        "bookings_busy": int(await db.scalar("SELECT count(*) FROM booking WHERE venue_id = :v", v=busy)),
        "bookings_hot_slot": int(
            await db.scalar("SELECT count(*) FROM booking WHERE slot_id = :s", s=run.busy.hot_slot)
        ),
    }


# --- --servers N -------------------------------------------------------------------------------------


def servers(run: Run, count: int) -> None:
    """Throughput of ``count`` server processes (1 worker each) on one PostgreSQL, load split between
    them, against one server of 1 worker and one of ``count`` workers: the same number of processes, so
    that on a machine of few cores the comparison is of processes, not of CPU added. The hello-world is
    measured in the same three shapes: what the machine lets add up."""
    print(f"\n[{run.label}] {count} servers", flush=True)
    citizens = run.people.citizens[:CITIZENS]
    first, last = month()
    status, _, body = http("GET", f"{run.app.base_url}/api/venues?kind=practice_site&limit=50")
    ids = [int(item["id"]) for item in json.loads(body)["items"]][:50] if status == 200 else [1]
    day = 4

    def shape(tag: str, apps: Sequence[Server], hellos: Sequence[Server]) -> None:
        nonlocal day
        n = len(apps)
        label = (
            f"{tag}: {n} server{'s' if n > 1 else ''} × {apps[0].workers} worker{'s' if apps[0].workers > 1 else ''}"
        )
        for name, what, servers_, requests in (
            ("hello", "hello-world GET /", hellos, [get("/")]),
            ("venue", "GET /api/venues/{id}", apps, [get(f"/api/venues/{i}") for i in ids]),
            (
                "venue_availability",
                "GET /api/venues/{id}/availability (30 days)",
                apps,
                [get(f"/api/venues/{i}/availability?from={first}&to={last}") for i in ids],
            ),
        ):
            targets = [Target(s.base_url, requests) for s in servers_]
            if run.warm_s > 0:
                check(
                    run,
                    f"{label} {what} (warm-up)",
                    _wrk.run(targets, run.load, duration_s=run.warm_s),
                    {200},
                    warm_up=True,
                )
            result = _wrk.run(targets, run.load)
            check(run, f"{label} {what}", result, {200})
            row = Row(run.label, "servers", f"{name}/{tag}", f"{what} [{label}]", result, yardstick="")
            row.extra = {"shape": tag, "servers": n, "workers": apps[0].workers, "what": name}
            run.rows.append(row)
            _print_row(row)
        slots = run.sync(
            _data.add_slots(
                run.db,
                [
                    _data.slot_row(
                        run.venues.door,
                        run.venues.rooms,
                        kst(today_kst() + timedelta(days=day), 17),
                        60,
                        1,
                        "bench srv",
                    )
                ]
                * len(citizens),
            )
        )
        day += 1
        requests = _booking_requests(slots, citizens)
        share = len(requests) // n
        targets = [Target(s.base_url, requests[k * share : (k + 1) * share]) for k, s in enumerate(apps)]
        result = once(run, "servers", f"confirmed/{tag}", f"confirmed path [{label}]", targets, {201}, record=False)
        row = Row(
            run.label,
            "servers",
            f"confirmed/{tag}",
            f"POST /api/bookings, confirmed path [{label}]",
            result,
            yardstick="",
        )
        row.extra = {"shape": tag, "servers": n, "workers": apps[0].workers, "what": "confirmed"}
        run.rows.append(row)
        _print_row(row)

    if run.workers == count:
        shape("one", [run.app], [run.hello])
    # Free the connections and the cores of the main servers before starting the others.
    run.stack.close()
    if run.workers != count:
        with (
            serve_app(run.database, run.logs, count, "seoulrun-big") as big,
            serve_hello(run.logs, count, "hello-big") as big_hello,
        ):
            shape("one", [big], [big_hello])
    with ExitStack() as stack:
        apps = [stack.enter_context(serve_app(run.database, run.logs, 1, f"seoulrun-{k}")) for k in range(count)]
        hellos = [stack.enter_context(serve_hello(run.logs, 1, f"hello-{k}")) for k in range(count)]
        shape("single", apps[:1], hellos[:1])
        shape("many", apps, hellos)
    by = {row.name: row for row in run.rows if row.group == "servers"}
    for what in ("hello", "venue", "venue_availability", "confirmed"):
        many, one_, single = by.get(f"{what}/many"), by.get(f"{what}/one"), by.get(f"{what}/single")
        if many is None or one_ is None or single is None:
            continue
        many.extra.update(
            {
                f"vs_one_server_{count}_workers": round(many.rps / one_.rps, 2) if one_.rps else None,
                "vs_one_server_1_worker": round(many.rps / single.rps, 2) if single.rps else None,
            }
        )
        print(
            f"  {what}: {count} servers / 1 server × {count} workers = {many.extra[f'vs_one_server_{count}_workers']}, "
            f"/ 1 server × 1 worker = {many.extra['vs_one_server_1_worker']}",
            flush=True,
        )


# --- one database --------------------------------------------------------------------------------------


@contextmanager
def prepared(database: Database, logs: Logs, citizens: int) -> Iterator[tuple[Db, Venues, People, Busy]]:
    db = asyncio.run(Db(database.url).open())
    try:
        venues, people = asyncio.run(_data.add_bench_world(db, citizens))
        busy = asyncio.run(_data.grow_busy(db, venues, people, None, 1))
        yield db, venues, people, busy
    finally:
        asyncio.run(db.close())


GROUPS: dict[str, Callable[[Run], None]] = {
    "reads": reads,
    "feeds": feeds,
    "staff": staff,
    "scan": scans,
    "rush": rush,
}
