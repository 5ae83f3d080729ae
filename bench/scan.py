"""QR check-in at the door: ``POST /api/checkin/scan`` for distinct bookings, as a ratio to ``/health``.

For each database (SQLite, PostgreSQL) it starts the real server (``seoulrun serve``, 2 workers) on a
fresh database holding the demo catalogue, then prepares in that database, through the project's own
code: a staff account assigned to a practice site, with a bearer token; one-off slots (origin
``extra``) on a shared space of that venue starting about 10 minutes from now, so that their check-in
window is open; ``--requests`` citizens plus 200 for the warm-up, each with one confirmed booking made by
``BookingService.book`` as of a day before the start (when the booking window was open); and the QR
payload of every booking, from ``CheckinService.code_for`` with the server's secret key (one is
compared with ``GET /api/bookings/{id}/qr`` of its holder). Then, on the same server:

- ``GET /health`` (``--requests``, after a warm-up): the baseline;
- ``POST /api/checkin/scan`` once per booking (``--requests`` distinct bookings, after 200 warm-up
  scans of other bookings): every answer must be ``200`` with ``result == "checked_in"``;
- a second pass over 200 of them: every answer must be ``200`` with ``result == "already_checked_in"``;
- the database: every booking ``checked_in``, one online scan recorded per booking.

Afterwards, in this process (one core): ``checkin.tokens.verify`` over the payloads for
``--verify-seconds``, the verification a scanner can do offline, and ``tokens.parse`` alone.

Exits 1 on a correctness failure (any 5xx or unanswered request, any first scan not ``checked_in``, any
second scan not ``already_checked_in``, the database out of step, the server's QR payload differing) or
a server failure, 0 otherwise; an unreachable PostgreSQL is reported as skipped (exit 2 if PostgreSQL
alone was asked for).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from _harness import (
    NO_ANSWER,
    DatabaseUnavailable,
    LoadResult,
    ServerFailed,
    bench_arguments,
    databases,
    describe_outcomes,
    load,
    percentile,
    practice_site_shared_spaces,
    print_table,
    start_server,
    temp_database,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.models import Role, User, VenueAssignment
from accounts.passwords import hash_password
from accounts.services import AccountService
from booking.models import Booking, BookingStatus
from booking.schemas import BookingCreate
from booking.services import BookingService
from checkin import tokens
from checkin.keys import key_ring
from checkin.models import CheckinScan
from checkin.services import CheckinService
from core.clock import to_kst, utcnow
from core.database import create_engine, unit_of_work
from core.settings import Settings
from venues.models import Slot, SlotOrigin, SlotStatus, Space, Venue
from venues.rules import booking_window, effective_rules

WORKERS = 2
SECRET_KEY = "bench"  # what _harness.start_server gives the server as SEOULRUN_SECRET_KEY
WARMUP_REQUESTS = 200
WARMUP_SCANS = 200
SECOND_PASS = 200
SEATS_PER_SLOT = 500
STARTS_IN = timedelta(minutes=10)
LENGTH = timedelta(hours=1)
BOOKED_BEFORE = timedelta(days=1)  # bookings are made "as of" this long before the start
PASSWORD = "scan-bench-4050!"
BIRTH_YEAR = 1975


class ScanFailed(RuntimeError):
    """A correctness check failed; raised inside the server's block so that the harness keeps its log."""


# --- preparation, in the database ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    venue_id: int
    staff_token: str
    slot_ids: tuple[int, ...]
    booking_ids: tuple[int, ...]
    payloads: tuple[str, ...]
    public_keys: dict[int, Ed25519PublicKey]
    holder_token: str  # the token of the first booking's holder
    checkin_closes: datetime


async def scan_space(engine: AsyncEngine, starts_at: datetime, now: datetime) -> tuple[Space, Venue]:
    """The first shared space of an active practice site where a slot at ``starts_at`` could be booked
    a day ahead and can be checked in ``now`` (and for the next ten minutes)."""
    rows = await practice_site_shared_spaces(engine)
    booked_at = starts_at - BOOKED_BEFORE
    for space, venue in rows:
        rules = effective_rules(venue.kind, venue.rules, space.rules)
        opens, closes = booking_window(rules, starts_at)
        checkin_opens = starts_at - timedelta(minutes=rules.checkin_opens_minutes_before)
        checkin_closes = starts_at + timedelta(minutes=rules.checkin_closes_minutes_after)
        if opens <= booked_at < closes and checkin_opens <= now and now + STARTS_IN < checkin_closes:
            return space, venue
    raise ServerFailed("the demo catalogue has no shared space of a practice site fit for the scan bench")


async def prepare(engine: AsyncEngine, settings: Settings, count: int) -> Prepared:
    """Staff, slots, citizens, their bookings and their QR payloads, in one transaction."""
    now = utcnow()
    starts_at = (now + STARTS_IN).replace(second=0, microsecond=0)
    space, venue = await scan_space(engine, starts_at, now)
    rules = effective_rules(venue.kind, venue.rules, space.rules)
    # One argon2 hash for everyone: hashing thousands of times would take minutes and is not measured.
    password_hash = await hash_password(
        PASSWORD, time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
    )
    stamp = time.strftime("%H%M%S")
    slots_needed = math.ceil(count / SEATS_PER_SLOT)
    async with unit_of_work(engine) as session:
        staff = User(
            email=f"scan-staff.{stamp}@bench.seoulrun4050.example",
            password_hash=password_hash,
            name="입장 담당",
            role=Role.STAFF,
            assignments=[VenueAssignment(venue_id=venue.id)],
        )
        slots = [
            Slot(
                space_id=space.id,
                venue_id=venue.id,
                starts_at=starts_at,
                ends_at=starts_at + LENGTH,
                capacity=SEATS_PER_SLOT,
                taken=0,
                status=SlotStatus.OPEN,
                origin=SlotOrigin.EXTRA,
                note="bench/scan.py",
            )
            for _ in range(slots_needed)
        ]
        citizens = [
            User(
                email=f"scan{i:05d}.{stamp}@bench.seoulrun4050.example",
                password_hash=password_hash,
                name=f"입장 {i:05d}",
                birth_year=BIRTH_YEAR,
                role=Role.CITIZEN,
                assignments=[],
            )
            for i in range(count)
        ]
        session.add(staff)
        session.add_all(slots)
        session.add_all(citizens)
        await session.flush()
        accounts = AccountService(session, settings)
        staff_token = (await accounts.issue_token(staff, now=now))[0]
        holder_token = (await accounts.issue_token(citizens[0], now=now))[0]
        booking_engine = BookingService(session, now=starts_at - BOOKED_BEFORE)
        codes = CheckinService(session, settings, now=now)
        booking_ids: list[int] = []
        payloads: list[str] = []
        for i, citizen in enumerate(citizens):
            answer, _ = await booking_engine.book(
                citizen, BookingCreate(slot_id=slots[i // SEATS_PER_SLOT].id, party_size=1)
            )
            if answer.status != BookingStatus.CONFIRMED:
                raise ServerFailed(f"booking for citizen {i} is {answer.status}, not confirmed")
            booking = await session.get(Booking, answer.id)
            assert booking is not None
            booking_ids.append(booking.id)
            payloads.append(await codes.code_for(booking))
        ring = await key_ring(session, settings.secret_key, now=now)
        prepared = Prepared(
            venue_id=venue.id,
            staff_token=staff_token,
            slot_ids=tuple(slot.id for slot in slots),
            booking_ids=tuple(booking_ids),
            payloads=tuple(payloads),
            public_keys=dict(ring.public),
            holder_token=holder_token,
            checkin_closes=starts_at + timedelta(minutes=rules.checkin_closes_minutes_after),
        )
    print(
        f"  {venue.slug} / {space.slug}: {slots_needed} slots at {to_kst(starts_at):%Y-%m-%d %H:%M} KST, "
        f"{count} bookings, check-in open until {to_kst(prepared.checkin_closes):%H:%M} KST; "
        f"prepared in {(utcnow() - now).total_seconds():.1f} s"
    )
    return prepared


async def ledger(engine: AsyncEngine, slot_ids: Sequence[int]) -> tuple[int, int]:
    """Checked-in bookings of the bench's slots, and online scans recorded as ``checked_in`` for them."""
    async with unit_of_work(engine) as session:
        checked_in = await session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.slot_id.in_(slot_ids), Booking.status == BookingStatus.CHECKED_IN)
        )
        scans = await session.scalar(
            select(func.count())
            .select_from(CheckinScan)
            .join(Booking, Booking.id == CheckinScan.booking_id)
            .where(
                Booking.slot_id.in_(slot_ids),
                CheckinScan.source == "online",
                CheckinScan.result == "checked_in",
            )
        )
    return int(checked_in or 0), int(scans or 0)


# --- load ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # NO_ANSWER for none
    result: str  # the scan's ``result`` ("" when the body has none)
    latency_ms: float


@dataclass(frozen=True, slots=True)
class ScanRun:
    answers: tuple[Answer, ...]
    elapsed_s: float

    @property
    def rps(self) -> float:
        return len(self.answers) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency(self, pct: float) -> float:
        return percentile(sorted(a.latency_ms for a in self.answers), pct)

    def outcomes(self) -> Counter[tuple[int, str]]:
        return Counter((a.status, a.result) for a in self.answers)

    def count(self, status: int, result: str) -> int:
        return sum(1 for a in self.answers if a.status == status and a.result == result)

    @property
    def failed(self) -> int:
        return sum(1 for a in self.answers if a.status >= 500 or a.status == NO_ANSWER)


def _result_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    return str(body.get("result") or body.get("code") or "")


async def scan(base_url: str, venue_id: int, staff_token: str, payloads: Sequence[str], concurrency: int) -> ScanRun:
    """Scan each payload once, ``concurrency`` requests in flight over one client (like ``_harness.load``)."""
    answers: list[Answer] = []
    issued = 0
    headers = {"Authorization": f"Bearer {staff_token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=30.0, trust_env=False, headers=headers
    ) as client:

        async def worker() -> None:
            nonlocal issued
            while issued < len(payloads):
                body = {"payload": payloads[issued], "venue_id": venue_id}
                issued += 1
                sent = time.perf_counter()
                try:
                    response = await client.post("/api/checkin/scan", json=body)
                    status, result = response.status_code, _result_of(response)
                except httpx.HTTPError as exc:
                    status, result = NO_ANSWER, type(exc).__name__
                answers.append(Answer(status, result, (time.perf_counter() - sent) * 1000))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(payloads))))))
        elapsed = time.perf_counter() - started
    return ScanRun(tuple(answers), elapsed)


async def server_payload(base_url: str, booking_id: int, holder_token: str) -> tuple[int, str]:
    """What the server gives the holder for a booking: status and payload ("" when none)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, trust_env=False) as client:
        response = await client.get(
            f"/api/bookings/{booking_id}/qr", headers={"Authorization": f"Bearer {holder_token}"}
        )
    payload = response.json().get("payload", "") if response.status_code == 200 else ""
    return response.status_code, str(payload)


# --- offline verification --------------------------------------------------------------------------


def per_second(work: Callable[[str], object], payloads: Sequence[str], seconds: float) -> float:
    """How many times per second ``work`` runs over the payloads, cycling, for about ``seconds``."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for payload in payloads[:500]:
            work(payload)
        done += min(len(payloads), 500)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


@dataclass(frozen=True, slots=True)
class Offline:
    verifications_per_s: float
    parses_per_s: float
    mismatches: int  # payloads whose verified booking id is not the booking's


def offline(prepared: Prepared, seconds: float) -> Offline:
    keys = prepared.public_keys
    mismatches = sum(
        tokens.verify(payload, keys).booking_id != booking_id
        for payload, booking_id in zip(prepared.payloads, prepared.booking_ids, strict=True)
    )
    return Offline(
        verifications_per_s=per_second(lambda p: tokens.verify(p, keys), prepared.payloads, seconds),
        parses_per_s=per_second(tokens.parse, prepared.payloads, min(seconds, 2.0)),
        mismatches=mismatches,
    )


# --- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    health: LoadResult
    warmup: ScanRun
    first: ScanRun
    second: ScanRun
    checked_in: int
    scans_recorded: int
    expected: int  # bookings scanned (warm-up and measured)
    qr_status: int
    qr_matches: bool
    finished_in_window: bool

    @property
    def ratio(self) -> float:
        return self.first.rps / self.health.rps if self.health.rps else 0.0

    def problems(self) -> list[str]:
        found = []
        if not self.qr_matches:
            found.append(
                f"GET /api/bookings/{{id}}/qr answered {self.qr_status} with a payload other than code_for's "
                "(is the server's SEOULRUN_SECRET_KEY the bench's?)"
            )
        for label, run, result in (
            ("warm-up scans", self.warmup, "checked_in"),
            ("first pass", self.first, "checked_in"),
            ("second pass", self.second, "already_checked_in"),
        ):
            if (good := run.count(200, result)) != len(run.answers):
                found.append(f"{label}: {len(run.answers) - good} of {len(run.answers)} answers not 200 {result}")
            if run.failed:
                found.append(f"{label}: {run.failed} answers 5xx or none")
        if failed := self.health.count_of(lambda s: s >= 500 or s == NO_ANSWER):
            found.append(f"GET /health: {failed} answers 5xx or none")
        if self.checked_in != self.expected:
            found.append(f"{self.checked_in} bookings checked in in the database, expected {self.expected}")
        if self.scans_recorded != self.expected:
            found.append(f"{self.scans_recorded} online scans recorded, expected {self.expected}")
        if not self.finished_in_window:
            found.append("the scans ran past the check-in window (preparation too slow?)")
        return found


async def measure(
    kind: str, database_url: str, base_url: str, requests: int, concurrency: int
) -> tuple[Outcome, Prepared]:
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY, db_pool_size=2)
    engine = create_engine(settings)
    try:
        prepared = await prepare(engine, settings, WARMUP_SCANS + requests)
        qr_status, qr_payload = await server_payload(base_url, prepared.booking_ids[0], prepared.holder_token)
        warm_payloads, payloads = prepared.payloads[:WARMUP_SCANS], prepared.payloads[WARMUP_SCANS:]

        def health(i: int) -> tuple[str, str, dict[str, object]]:
            return "GET", "/health", {}

        await load(base_url, health, min(WARMUP_REQUESTS, requests), concurrency)
        health_run = await load(base_url, health, requests, concurrency)
        warmup = await scan(base_url, prepared.venue_id, prepared.staff_token, warm_payloads, concurrency)
        first = await scan(base_url, prepared.venue_id, prepared.staff_token, payloads, concurrency)
        sample = payloads[:: max(1, len(payloads) // SECOND_PASS)][:SECOND_PASS]
        second = await scan(base_url, prepared.venue_id, prepared.staff_token, sample, concurrency)
        in_window = utcnow() < prepared.checkin_closes
        checked_in, recorded = await ledger(engine, prepared.slot_ids)
    finally:
        await engine.dispose()
    outcome = Outcome(
        kind=kind,
        health=health_run,
        warmup=warmup,
        first=first,
        second=second,
        checked_in=checked_in,
        scans_recorded=recorded,
        expected=len(prepared.payloads),
        qr_status=qr_status,
        qr_matches=qr_status == 200 and qr_payload == prepared.payloads[0],
        finished_in_window=in_window,
    )
    return outcome, prepared


# --- output ----------------------------------------------------------------------------------------


def report(outcome: Outcome, concurrency: int) -> list[str]:
    """Print one database's results; returns its correctness failures."""
    h = outcome.health
    rows: list[tuple[object, ...]] = [
        (
            "GET /health",
            h.count,
            f"{h.rps:,.0f}",
            f"{h.p50_ms:.1f}",
            f"{h.p99_ms:.1f}",
            "1.00",
            " ".join(f"{s or 'none'}×{n}" for s, n in sorted(h.statuses.items())),
        )
    ]
    for label, run in (
        ("POST /api/checkin/scan (warm-up)", outcome.warmup),
        ("POST /api/checkin/scan (first pass)", outcome.first),
        ("POST /api/checkin/scan (second pass)", outcome.second),
    ):
        rows.append(
            (
                label,
                len(run.answers),
                f"{run.rps:,.0f}",
                f"{run.latency(50):.1f}",
                f"{run.latency(99):.1f}",
                f"{run.rps / h.rps:.2f}" if h.rps else "-",
                describe_outcomes(run.outcomes()),
            )
        )
    print(f"\n{outcome.kind} ({WORKERS} workers, {concurrency} in flight)")
    print_table(["endpoint", "requests", "req/s", "p50 ms", "p99 ms", "vs /health", "statuses"], rows)
    print(
        f"database: {outcome.checked_in} of {outcome.expected} bookings checked in, "
        f"{outcome.scans_recorded} online scans recorded; holder's QR payload "
        f"{'matches code_for' if outcome.qr_matches else f'DIFFERS (status {outcome.qr_status})'}"
    )
    print(f"scans/s / health req/s = {outcome.ratio:.2f}")
    problems = outcome.problems()
    for problem in problems:
        print(f"FAILED on {outcome.kind}: {problem}", file=sys.stderr)
    return problems


def report_offline(kind: str, result: Offline, seconds: float) -> list[str]:
    print(
        f"offline, in-process, one core ({seconds:.0f} s): tokens.verify {result.verifications_per_s:,.0f}/s, "
        f"tokens.parse alone {result.parses_per_s:,.0f}/s"
    )
    if result.mismatches:
        print(f"FAILED on {kind}: {result.mismatches} payloads verify to another booking", file=sys.stderr)
        return [f"{result.mismatches} payloads verify to another booking"]
    return []


def summary(rows: Sequence[tuple[Outcome, Offline, bool]]) -> None:
    print("\nsummary")
    print_table(
        [
            "database",
            "scans",
            "checked_in",
            "scans/s",
            "p50 ms",
            "p99 ms",
            "/health req/s",
            "ratio",
            "verify/s",
            "verdict",
        ],
        [
            (
                o.kind,
                len(o.first.answers),
                o.first.count(200, "checked_in"),
                f"{o.first.rps:,.0f}",
                f"{o.first.latency(50):.1f}",
                f"{o.first.latency(99):.1f}",
                f"{o.health.rps:,.0f}",
                f"{o.ratio:.2f}",
                f"{off.verifications_per_s:,.0f}",
                "ok" if passed else "FAILED",
            )
            for o, off, passed in rows
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = bench_arguments(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--verify-seconds", type=float, default=3.0, help="duration of the offline verification")
    args = parser.parse_args(argv)
    ok, skipped = True, []
    done: list[tuple[Outcome, Offline, bool]] = []
    for kind in databases(args.db):
        measured: tuple[Outcome, Prepared] | None = None
        passed = True
        try:
            with temp_database(kind) as url, start_server(url, workers=WORKERS) as base_url:
                measured = asyncio.run(measure(kind, url, base_url, args.requests, args.concurrency))
                if problems := report(measured[0], args.concurrency):
                    raise ScanFailed("; ".join(problems))  # inside the block: the server log is kept
        except DatabaseUnavailable as exc:
            print(f"\n{kind}: skipped: {exc}")
            skipped.append(kind)
        except (ScanFailed, ServerFailed, httpx.HTTPError) as exc:
            print(f"\n{kind}: FAILED: {exc}", file=sys.stderr)
            passed = False
        if measured is not None:
            outcome, prepared = measured
            result = offline(prepared, args.verify_seconds)
            passed = not report_offline(kind, result, args.verify_seconds) and passed
            done.append((outcome, result, passed))
        ok = ok and passed
    if done:
        summary(done)
    if not ok:
        return 1
    return 2 if skipped and args.db != "both" else 0


if __name__ == "__main__":
    sys.exit(main())
