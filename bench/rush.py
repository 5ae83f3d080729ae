"""Booking rush: 1,000 citizens ask at once for the 30 seats of one slot; compared with a read endpoint.

For each database (SQLite, PostgreSQL) it starts the real server (``seoulrun serve``, 2 workers) on a
fresh database holding the demo catalogue, then prepares in that database, through the project's own
code: 1,000 citizen accounts, each with its own bearer token, and one extra slot of 30 seats on a shared
space of a practice site, two days ahead at 14:00 KST for 2 hours. After a warm-up of the read endpoint:

- the rush: every citizen sends ``POST /api/bookings {"slot_id": S, "party_size": 1}`` with their own
  token, 200 requests in flight (``--rush-concurrency``); exactly 30 must get ``201`` and the others
  ``409 sold_out``;
- the database is checked: 30 confirmed bookings for the slot and ``slot.taken == 30``;
- ``GET /api/venues/{id}`` (``--requests``, at the rush's concurrency) on the same server, as the yardstick: the
  aim is a booking throughput of at least half the read throughput (ratio >= 0.5). The ratio is
  reported, never a failure.

Exits 1 on a correctness failure (201s or confirmed bookings other than 30, any 5xx or unanswered
request, the slot's counter out of step with its bookings) or a server failure, 0 otherwise; an
unreachable PostgreSQL is reported as skipped (exit 2 if PostgreSQL alone was asked for).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time as wall_time
from datetime import timedelta

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
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.models import Role, User
from accounts.passwords import hash_password
from accounts.services import AccountService
from booking.models import TAKING, Booking, BookingStatus
from core.clock import kst, to_kst, today_kst, utcnow
from core.database import create_engine, unit_of_work
from core.settings import Settings
from venues.models import Slot, SlotOrigin, SlotStatus, Space, Venue
from venues.rules import booking_window, effective_rules

WORKERS = 2
CITIZENS = 1000
SEATS = 30
RUSH_CONCURRENCY = 200
WARMUP_REQUESTS = 200
AIM = 0.5  # booking req/s at least half the read req/s
PASSWORD = "rush-bench-4050!"
BIRTH_YEAR = 1975
DAYS_AHEAD = 2
STARTS_AT = wall_time(14, 0)
LENGTH = timedelta(hours=2)
LIST_PARAMS: dict[str, str | int] = {"kind": "practice_site", "limit": 50}


class RushFailed(RuntimeError):
    """A correctness check failed; raised inside the server's block so that the harness keeps its log."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One booking request: HTTP status (``NO_ANSWER`` for none), problem ``code`` ("" if none), latency,
    when it was sent (seconds into the rush) and, for no answer, the client's exception."""

    status: int
    code: str
    latency_ms: float
    sent_s: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class RushResult:
    answers: tuple[Answer, ...]
    elapsed_s: float

    @property
    def rps(self) -> float:
        return len(self.answers) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency(self, pct: float) -> float:
        return percentile(sorted(a.latency_ms for a in self.answers), pct)

    def latency_of(self, status: int, pct: float) -> float:
        return percentile(sorted(a.latency_ms for a in self.answers if a.status == status), pct)

    def outcomes(self) -> Counter[tuple[int, str]]:
        return Counter((a.status, a.code) for a in self.answers)

    def count(self, status: int, code: str | None = None) -> int:
        return sum(1 for a in self.answers if a.status == status and (code is None or a.code == code))

    @property
    def failed(self) -> int:
        """Answers that are a server failure: a 5xx or no answer at all."""
        return sum(1 for a in self.answers if a.status >= 500 or a.status == NO_ANSWER)


@dataclass(frozen=True, slots=True)
class Ledger:
    """What the database says about the slot after the rush."""

    confirmed: int
    bookings: int
    units_taking: int
    taken: int


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    rush: RushResult
    read: LoadResult
    ledger: Ledger
    seats: int

    @property
    def ratio(self) -> float:
        return self.rush.rps / self.read.rps if self.read.rps else 0.0

    def problems(self) -> list[str]:
        """Correctness failures (empty when the rush was sold correctly)."""
        found = []
        if (created := self.rush.count(201)) != self.seats:
            found.append(f"{created} answers 201, expected {self.seats}")
        if self.rush.failed:
            found.append(f"{self.rush.failed} answers 5xx or none")
        if self.ledger.confirmed != self.seats:
            found.append(f"{self.ledger.confirmed} confirmed bookings in the database, expected {self.seats}")
        if self.ledger.taken != self.seats:
            found.append(f"slot.taken is {self.ledger.taken}, expected {self.seats}")
        if self.ledger.units_taking != self.ledger.taken:
            found.append(f"bookings hold {self.ledger.units_taking} places but slot.taken is {self.ledger.taken}")
        if self.read.count_of(lambda s: s >= 500 or s == NO_ANSWER):
            found.append("GET /api/venues/{id} got 5xx or no answer")
        return found


# --- preparation, in the database ------------------------------------------------------------------


async def bookable_space(engine: AsyncEngine) -> tuple[Space, Venue]:
    """The first shared space of an active practice site whose booking window is open for the slot."""
    starts_at = kst(today_kst() + timedelta(days=DAYS_AHEAD), STARTS_AT)
    now = utcnow()
    rows = await practice_site_shared_spaces(engine)
    for space, venue in rows:
        rules = effective_rules(venue.kind, venue.rules, space.rules)
        opens, closes = booking_window(rules, starts_at)
        if opens <= now < closes:
            return space, venue
    raise ServerFailed("the demo catalogue has no shared space of a practice site open for booking")


async def prepare(engine: AsyncEngine, settings: Settings, citizens: int, seats: int) -> tuple[int, list[str]]:
    """Create the slot and the citizens with their tokens; returns the slot id and one token per citizen."""
    space, venue = await bookable_space(engine)
    starts_at = kst(today_kst() + timedelta(days=DAYS_AHEAD), STARTS_AT)
    # One argon2 hash for everyone: hashing 1,000 times would take minutes and is not what is measured.
    password_hash = await hash_password(
        PASSWORD, time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
    )
    stamp = time.strftime("%H%M%S")
    async with unit_of_work(engine) as session:
        slot = Slot(
            space_id=space.id,
            venue_id=venue.id,
            starts_at=starts_at,
            ends_at=starts_at + LENGTH,
            capacity=seats,
            taken=0,
            status=SlotStatus.OPEN,
            origin=SlotOrigin.EXTRA,
            note="bench/rush.py",
        )
        users = [
            User(
                email=f"rush{i:04d}.{stamp}@bench.seoulrun4050.example",
                password_hash=password_hash,
                name=f"러시 {i:04d}",
                birth_year=BIRTH_YEAR,
                role=Role.CITIZEN,
                assignments=[],
            )
            for i in range(citizens)
        ]
        session.add(slot)
        session.add_all(users)
        await session.flush()
        accounts = AccountService(session, settings)
        tokens = [(await accounts.issue_token(user))[0] for user in users]
        slot_id = slot.id
    print(
        f"  slot {slot_id}: {seats} seats, {venue.slug} / {space.slug}, "
        f"{to_kst(starts_at):%Y-%m-%d %H:%M} KST; {citizens} citizens with a token each"
    )
    return slot_id, tokens


async def ledger(engine: AsyncEngine, slot_id: int) -> Ledger:
    async with unit_of_work(engine) as session:
        of_slot = select(func.count()).select_from(Booking).where(Booking.slot_id == slot_id)
        confirmed = await session.scalar(of_slot.where(Booking.status == BookingStatus.CONFIRMED))
        bookings = await session.scalar(of_slot)
        units = await session.scalar(
            select(func.coalesce(func.sum(Booking.units), 0)).where(
                Booking.slot_id == slot_id, Booking.status.in_(TAKING)
            )
        )
        taken = await session.scalar(select(Slot.taken).where(Slot.id == slot_id))
    return Ledger(int(confirmed or 0), int(bookings or 0), int(units or 0), int(taken or 0))


# --- load ------------------------------------------------------------------------------------------


def _problem_code(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


async def rush(base_url: str, slot_id: int, tokens: Sequence[str], concurrency: int) -> RushResult:
    """Every citizen books the slot once, with their own token, ``concurrency`` requests in flight."""
    answers: list[Answer] = []
    gate = asyncio.Semaphore(concurrency)
    body = {"slot_id": slot_id, "party_size": 1}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0, trust_env=False) as client:

        async def book(token: str) -> None:
            async with gate:
                sent, error = time.perf_counter(), ""
                try:
                    response = await client.post(
                        "/api/bookings", json=body, headers={"Authorization": f"Bearer {token}"}
                    )
                    status, code = response.status_code, _problem_code(response)
                except httpx.HTTPError as exc:
                    status, code, error = NO_ANSWER, type(exc).__name__, repr(exc)
                latency = (time.perf_counter() - sent) * 1000
                answers.append(Answer(status, code, latency, sent - started, error))

        started = time.perf_counter()
        await asyncio.gather(*(book(token) for token in tokens))
        elapsed = time.perf_counter() - started
    return RushResult(tuple(answers), elapsed)


async def venue_ids(base_url: str) -> list[int]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, trust_env=False) as client:
        response = await client.get("/api/venues", params=LIST_PARAMS)
    response.raise_for_status()
    ids = [int(item["id"]) for item in response.json()["items"]]
    if not ids:
        raise ServerFailed("the demo catalogue has no practice sites")
    return ids


async def measure(
    kind: str,
    database_url: str,
    base_url: str,
    *,
    citizens: int,
    seats: int,
    rush_concurrency: int,
    requests: int,
    concurrency: int,
) -> Outcome:
    """Prepare, warm the read endpoint up, rush, check the database, then measure the read endpoint."""
    settings = Settings(database_url=database_url, secret_key="bench", db_pool_size=2)
    engine = create_engine(settings)
    try:
        slot_id, tokens = await prepare(engine, settings, citizens, seats)
        ids = await venue_ids(base_url)

        def read(i: int) -> tuple[str, str, dict[str, object]]:
            return "GET", f"/api/venues/{ids[i % len(ids)]}", {}

        warmup = await load(base_url, read, min(WARMUP_REQUESTS, requests), concurrency)
        if warmup.count_of(lambda s: s != 200):
            print(f"  warm-up of GET /api/venues/{{id}}: {dict(warmup.statuses)}", file=sys.stderr)
        result = await rush(base_url, slot_id, tokens, rush_concurrency)
        book_keeping = await ledger(engine, slot_id)
        # The yardstick at the rush's own concurrency: at 200 in flight the load generator and the two
        # workers saturate the two cores for any endpoint, so only equal loads compare.
        reads = await load(base_url, read, requests, rush_concurrency)
    finally:
        await engine.dispose()
    return Outcome(kind, result, reads, book_keeping, seats)


# --- output ----------------------------------------------------------------------------------------


def report(outcome: Outcome, rush_concurrency: int) -> list[str]:
    """Print one database's results; returns its correctness failures."""
    r, reads, book = outcome.rush, outcome.read, outcome.ledger
    print(f"\n{outcome.kind} ({WORKERS} workers)")
    print_table(
        ["endpoint", "requests", "in flight", "req/s", "p50 ms", "p99 ms", "statuses"],
        [
            (
                "POST /api/bookings (rush)",
                len(r.answers),
                rush_concurrency,
                f"{r.rps:,.0f}",
                f"{r.latency(50):.1f}",
                f"{r.latency(99):.1f}",
                describe_outcomes(r.outcomes()),
            ),
            (
                "GET /api/venues/{id}",
                reads.count,
                rush_concurrency,
                f"{reads.rps:,.0f}",
                f"{reads.p50_ms:.1f}",
                f"{reads.p99_ms:.1f}",
                " ".join(f"{s or 'none'}×{n}" for s, n in sorted(reads.statuses.items())),
            ),
        ],
    )
    sold_out = r.count(409, "sold_out")
    print(
        f"201: {r.count(201)}, 409 sold_out: {sold_out} (expected {len(r.answers) - outcome.seats}), "
        f"5xx or none: {r.failed}"
    )
    expected = {(201, ""), (409, "sold_out")}
    others = {k: n for k, n in r.outcomes().items() if k not in expected and NO_ANSWER < k[0] < 500}
    if others:
        print(f"other answers: {describe_outcomes(Counter(others))}")
    for a in [a for a in r.answers if a.status == NO_ANSWER][:5]:
        print(f"no answer: sent at {a.sent_s:.2f} s, after {a.latency_ms:.0f} ms: {a.error}")
    by_status = sorted({a.status for a in r.answers})
    print(
        "latency by answer, p50/p99 ms: "
        + ", ".join(f"{s or 'none'} {r.latency_of(s, 50):.0f}/{r.latency_of(s, 99):.0f}" for s in by_status)
    )
    print(
        f"database: {book.confirmed} confirmed of {book.bookings} bookings, "
        f"places held {book.units_taking}, slot.taken {book.taken}"
    )
    verdict = "met" if outcome.ratio >= AIM else "NOT met"
    print(f"booking req/s / read req/s = {outcome.ratio:.2f} (aim >= {AIM}: {verdict})")
    problems = outcome.problems()
    for problem in problems:
        print(f"FAILED on {outcome.kind}: {problem}", file=sys.stderr)
    return problems


def summary(outcomes: Sequence[Outcome]) -> None:
    print("\nsummary")
    print_table(
        ["database", "confirmed", "5xx", "booking req/s", "p50 ms", "p99 ms", "read req/s", "ratio", "aim"],
        [
            (
                o.kind,
                o.ledger.confirmed,
                o.rush.failed,
                f"{o.rush.rps:,.0f}",
                f"{o.rush.latency(50):.1f}",
                f"{o.rush.latency(99):.1f}",
                f"{o.read.rps:,.0f}",
                f"{o.ratio:.2f}",
                "met" if o.ratio >= AIM else "not met",
            )
            for o in outcomes
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = bench_arguments(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--citizens", type=int, default=CITIZENS, help="citizens in the rush (this bench only)")
    parser.add_argument("--seats", type=int, default=SEATS, help="seats of the slot (this bench only)")
    parser.add_argument(
        "--rush-concurrency", type=int, default=RUSH_CONCURRENCY, help="booking requests in flight (this bench only)"
    )
    args = parser.parse_args(argv)
    if not 0 < args.seats <= args.citizens or args.rush_concurrency < 1:
        parser.error("expected 0 < --seats <= --citizens and --rush-concurrency >= 1")
    ok, skipped, outcomes = True, [], []
    for kind in databases(args.db):
        try:
            with temp_database(kind) as url, start_server(url, workers=WORKERS) as base_url:
                outcome = asyncio.run(
                    measure(
                        kind,
                        url,
                        base_url,
                        citizens=args.citizens,
                        seats=args.seats,
                        rush_concurrency=args.rush_concurrency,
                        requests=args.requests,
                        concurrency=args.concurrency,
                    )
                )
                outcomes.append(outcome)
                if report(outcome, args.rush_concurrency):
                    raise RushFailed(kind)  # inside the server's block: the harness keeps its log
        except DatabaseUnavailable as exc:
            print(f"\n{kind}: skipped: {exc}")
            skipped.append(kind)
        except RushFailed:
            ok = False
        except (ServerFailed, httpx.HTTPError) as exc:
            print(f"\n{kind}: FAILED: {exc}", file=sys.stderr)
            ok = False
    if outcomes:
        summary(outcomes)
    if not ok:
        return 1
    return 2 if skipped and args.db != "both" else 0


if __name__ == "__main__":
    sys.exit(main())
