"""Shared pieces of the benchmarks: a temporary database, the real server on it, and a load generator.

Standard library and httpx only. The server is the one users run (``seoulrun serve``, uvicorn workers),
started as a subprocess on a free port of 127.0.0.1; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

REPO = Path(__file__).resolve().parent.parent
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
NO_ANSWER = 0  # the status recorded when a request got no HTTP answer (connection error, timeout)

Request = tuple[str, str, dict[str, Any]]  # method, path, keyword arguments of httpx.AsyncClient.request
MakeRequest = Callable[[int], Request]


class DatabaseUnavailable(RuntimeError):
    """The database server cannot be reached (the caller reports the bench as skipped)."""


class ServerFailed(RuntimeError):
    """``seoulrun`` failed to migrate, load the demo or start; the message names the log file."""


def bench_arguments(description: str) -> argparse.ArgumentParser:
    """The options every bench accepts (``run_all.py`` passes its arguments to each bench)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=_positive, default=2000, help="requests per measurement")
    parser.add_argument("--concurrency", type=_positive, default=32, help="requests in flight at most")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def databases(choice: str) -> list[str]:
    return ["sqlite", "postgres"] if choice == "both" else [choice]


# --- databases -------------------------------------------------------------------------------------


def _psql(sql: str, database: str = "postgres") -> None:
    command = ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", database]
    command += ["-v", "ON_ERROR_STOP=1", "-qAtc", sql]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"psql failed ({sql}): {result.stderr.strip()}")


@contextmanager
def temp_database(kind: str) -> Iterator[str]:
    """A fresh, empty database for one bench; yields its SQLAlchemy URL and removes it afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="seoulrun-bench-db-") as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind: {kind!r}")
    if shutil.which("psql") is None:
        raise DatabaseUnavailable("postgres unreachable: psql is not installed")
    try:
        _psql("SELECT 1")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        raise DatabaseUnavailable(f"postgres unreachable at {PG_HOST}:{PG_PORT}: {exc}") from exc
    name = f"seoulrun_bench_{uuid.uuid4().hex[:12]}"
    _psql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        try:
            _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)


# --- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _seoulrun() -> str:
    for directory in (Path(sys.prefix) / "bin", REPO / ".venv" / "bin"):
        if (directory / "seoulrun").exists():
            return str(directory / "seoulrun")
    raise ServerFailed("seoulrun is not installed: run `make install` first")


def _cli(args: Sequence[str], env: Mapping[str, str], log: IO[bytes], log_path: Path) -> None:
    log.write(f"$ seoulrun {' '.join(args)}\n".encode())
    log.flush()
    result = subprocess.run([_seoulrun(), *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, timeout=300)
    if result.returncode != 0:
        raise ServerFailed(f"`seoulrun {' '.join(args)}` failed (exit {result.returncode}); log: {log_path}")


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerFailed(f"the server exited with {process.returncode}; log: {log_path}")
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise ServerFailed(f"no 200 from {base_url}/health within {timeout:.0f} s; log: {log_path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # uvicorn's supervisor stops its workers on SIGTERM
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the supervisor and its workers
        process.wait()


@contextmanager
def start_server(
    database_url: str, workers: int = 2, port: int | None = None, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Migrate ``database_url``, load the demo catalogue, serve it; yields the base URL.

    The output of every command goes to a log file in a temporary directory, removed after a clean run
    and kept (its path printed) when anything failed.
    """
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "SEOULRUN_DATABASE_URL": database_url,
        "SEOULRUN_SCHEDULER": "0",
        "SEOULRUN_SECRET_KEY": "bench",
        "SEOULRUN_BASE_URL": base_url,
        **(env or {}),
    }
    log_dir = Path(tempfile.mkdtemp(prefix="seoulrun-bench-"))
    log_path = log_dir / "server.log"
    clean = False
    try:
        with log_path.open("ab") as log:
            _cli(["db", "upgrade"], full_env, log, log_path)
            _cli(["demo", "load"], full_env, log, log_path)
            serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
            log.write(f"$ seoulrun {' '.join(serve)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                [_seoulrun(), *serve],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=REPO,
                start_new_session=True,
            )
            try:
                _wait_healthy(base_url, process, 60.0, log_path)
                yield base_url
                clean = process.poll() is None  # still up: it did not crash during the bench
            finally:
                _stop(process)
    finally:
        if clean:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"server log kept: {log_path}", file=sys.stderr)


# --- load ------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class LoadResult:
    count: int
    elapsed_s: float
    latencies_ms: tuple[float, ...]  # sorted
    statuses: Counter[int]

    @property
    def rps(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)

    def count_of(self, predicate: Callable[[int], bool]) -> int:
        return sum(n for status, n in self.statuses.items() if predicate(status))


async def load(
    base_url: str, make_request: MakeRequest, total: int, concurrency: int, *, max_seconds: float = 300.0
) -> LoadResult:
    """Send ``total`` requests, ``concurrency`` at most in flight, over one client; stop early at
    ``max_seconds``. ``make_request(i)`` gives the i-th request. Latency is measured per request, from
    sending to the end of the body."""
    if httpx.URL(base_url).host not in {"127.0.0.1", "localhost"}:
        raise ValueError(f"benchmarks only load 127.0.0.1, not {base_url}")
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    issued = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0, trust_env=False) as client:
        started = time.perf_counter()
        deadline = started + max_seconds

        async def worker() -> None:
            nonlocal issued
            while issued < total and time.perf_counter() < deadline:
                method, path, kwargs = make_request(issued)
                issued += 1
                sent = time.perf_counter()
                try:
                    status = (await client.request(method, path, **kwargs)).status_code
                except httpx.HTTPError:
                    status = NO_ANSWER
                latencies.append((time.perf_counter() - sent) * 1000)
                statuses[status] += 1

        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, total)))))
        elapsed = time.perf_counter() - started
    return LoadResult(len(latencies), elapsed, tuple(sorted(latencies)), statuses)


# --- output ----------------------------------------------------------------------------------------


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under headers, the first column left-aligned and the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(parts).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def describe_outcomes(outcomes: Counter[tuple[int, str]]) -> str:
    """``201×30 409/sold_out×970``: each status with the answer's code or result, and how many."""
    return " ".join(
        f"{status or 'none'}{'/' + code if code else ''}×{n}" for (status, code), n in sorted(outcomes.items())
    )


async def practice_site_shared_spaces(engine: Any) -> list[tuple[Any, Any]]:
    """Every active shared space of an active practice site of the demo catalogue, with its venue, in order."""
    from sqlalchemy import select

    from core.database import unit_of_work
    from venues.models import Space, SpaceShape, Venue, VenueKind

    async with unit_of_work(engine) as session:
        rows = await session.execute(
            select(Space, Venue)
            .join(Venue, Venue.id == Space.venue_id)
            .where(
                Venue.kind == VenueKind.PRACTICE_SITE,
                Venue.is_active.is_(True),
                Space.shape == SpaceShape.SHARED,
                Space.is_active.is_(True),
            )
            .order_by(Venue.id, Space.id)
        )
        return [(space, venue) for space, venue in rows.all()]
