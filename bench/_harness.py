"""Shared pieces of the benchmarks: temporary databases, the servers as real processes, their memory.

The server under test is the one users run, ``seoulrun serve`` (here ``python -m server.cli serve`` with
this checkout first on ``PYTHONPATH``, so that a worktree measures its own code), started on a free port
of 127.0.0.1. The yardstick, ``bench/hello.py``, is served by uvicorn with the same options and the same
worker count. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
RATE_LIMITS = ("BOOKING", "BOOKING_ACCOUNT", "SCAN", "SCAN_ACCOUNT", "FEED", "FEED_ACCOUNT")
UNREFUSED_RATE = "1000000000/60"
SECRET_KEY = "bench"  # SEOULRUN_SECRET_KEY of every server the benches start


class DatabaseUnavailable(RuntimeError):
    """The database server cannot be reached (the caller reports the database as skipped)."""


class ServerFailed(RuntimeError):
    """A command or a server failed; the message names the log file."""


class BenchFailed(RuntimeError):
    """A correctness check failed (a 5xx, a wrong count in the database)."""


# --- databases -------------------------------------------------------------------------------------


def psql(sql: str, database: str = "postgres") -> str:
    command = ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", database]
    command += ["-v", "ON_ERROR_STOP=1", "-qAtc", sql]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"psql failed ({sql[:200]}): {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True, slots=True)
class Database:
    kind: str  # sqlite | postgres
    url: str  # SQLAlchemy URL (sqlite+aiosqlite:///... or postgresql+asyncpg://...)
    name: str  # the PostgreSQL database name, or the SQLite file

    @property
    def label(self) -> str:
        return "SQLite" if self.kind == "sqlite" else "PostgreSQL"


@contextmanager
def temp_database(kind: str) -> Iterator[Database]:
    """A fresh, empty database; removed afterwards (PostgreSQL: ``DROP DATABASE ... WITH (FORCE)``)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="seoulrun-bench-db-") as tmp:
            path = Path(tmp) / "bench.sqlite3"
            yield Database(kind, f"sqlite+aiosqlite:///{path}", str(path))
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind: {kind!r}")
    if shutil.which("psql") is None:
        raise DatabaseUnavailable("postgres unreachable: psql is not installed")
    try:
        psql("SELECT 1")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        raise DatabaseUnavailable(f"postgres unreachable at {PG_HOST}:{PG_PORT}: {exc}") from exc
    name = f"seoulrun_bench_{uuid.uuid4().hex[:12]}"
    psql(f'CREATE DATABASE "{name}"')
    try:
        yield Database(kind, f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}", name)
    finally:
        try:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)


# --- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def app_env(database: Database, base_url: str = "http://127.0.0.1:8000") -> dict[str, str]:
    """The environment of ``seoulrun``: this checkout first on the path, the scheduler off (its jobs
    would run during the measurements), a fixed secret so that the bench can reason about QR codes."""
    paths = [str(REPO), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    path = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "SEOULRUN_DATABASE_URL": database.url,
        "SEOULRUN_SCHEDULER": "0",
        "SEOULRUN_SECRET_KEY": SECRET_KEY,
        "SEOULRUN_BASE_URL": base_url,
        # Every request of a bench comes from 127.0.0.1 and stands for thousands of people (and one staff
        # account for every door): the abuse limits still count each request, at their real cost, but
        # never refuse one. A refusal would measure the limit, not the answer.
        **{f"SEOULRUN_RATE_LIMIT_{name}": UNREFUSED_RATE for name in RATE_LIMITS},
    }


def seoulrun_command(*args: str) -> list[str]:
    """``seoulrun ARGS`` as this checkout's code (the console script runs ``server.cli:main`` too)."""
    return [sys.executable, "-m", "server.cli", *args]


class Logs:
    """One directory of log files for a run; removed after a clean run, kept (and named) otherwise."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="seoulrun-bench-"))
        self.keep = False

    def path(self, name: str) -> Path:
        return self.directory / name

    def close(self) -> None:
        if self.keep:
            print(f"logs kept: {self.directory}", file=sys.stderr)
        else:
            shutil.rmtree(self.directory, ignore_errors=True)


def run_cli(args: Sequence[str], env: Mapping[str, str], log_path: Path, timeout: float = 600) -> None:
    with log_path.open("ab") as log:
        log.write(f"$ seoulrun {' '.join(args)}\n".encode())
        log.flush()
        result = subprocess.run(
            seoulrun_command(*args), stdout=log, stderr=subprocess.STDOUT, env=dict(env), cwd=REPO, timeout=timeout
        )
    if result.returncode != 0:
        raise ServerFailed(f"`seoulrun {' '.join(args)}` failed (exit {result.returncode}); log: {log_path}")


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - 127.0.0.1 only
            status: int = answer.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


@dataclass
class Server:
    """A server process (uvicorn's supervisor when it has several workers) and its log."""

    name: str
    port: int
    workers: int
    process: subprocess.Popen[bytes]
    log_path: Path
    check_path: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def worker_pids(self) -> list[int]:
        """The worker processes: the supervisor's children (uvicorn's started by multiprocessing, granian's
        always, even for one worker); uvicorn with ``--workers 1`` serves in the process itself."""
        children = [pid for pid in _children(self.process.pid) if "resource_tracker" not in _cmdline(pid)]
        return sorted(children) or [self.process.pid]

    def worker_rss_mb(self) -> list[float]:
        return [_rss_kib(pid) / 1024 for pid in self.worker_pids()]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far: by the app's workers, by PostgreSQL's processes, by the whole machine."""

    app_s: float
    db_s: float
    machine_s: float  # all cores, from /proc/stat (busy time only)
    at: float  # time.monotonic()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_sample(app_pids: Sequence[int]) -> CpuSample:
    """Where the machine's CPU has gone: the workers ``app_pids``, every process named ``postgres``
    (its backends stay open with the pool), and every core's busy time, all in seconds."""
    app = sum(_cpu_ticks(pid) for pid in app_pids)
    db = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _comm(entry) == "postgres":
            db += _cpu_ticks(int(entry.name), children=True)
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(f) for f in fields]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # all but idle and iowait
    return CpuSample(app / _TICK, db / _TICK, busy / _TICK, time.monotonic())


def _comm(entry: Path) -> str:
    try:
        return (entry / "comm").read_text().strip()
    except OSError:
        return ""


def _cpu_ticks(pid: int, *, children: bool = False) -> int:
    """utime + stime; with ``children``, those of the children it waited for too (PostgreSQL's postmaster
    collects its ended backends': pgbench's, for instance)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rfind(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks + int(fields[13]) + int(fields[14]) if children else ticks


def _started_workers(log_path: Path) -> int:
    try:
        return log_path.read_bytes().count(b"Application startup complete")
    except OSError:
        return 0


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = server.base_url + server.check_path
    while time.monotonic() < deadline:
        if not server.alive():
            raise ServerFailed(f"{server.name} exited with {server.process.returncode}; log: {server.log_path}")
        # Every worker must be up, or the first seconds of a measurement hit only some of them.
        if http_status(url) == 200 and _started_workers(server.log_path) >= server.workers:
            return
        time.sleep(0.2)
    raise ServerFailed(f"no 200 from {url} within {timeout:.0f} s; log: {server.log_path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # uvicorn's supervisor stops its workers on SIGTERM
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the supervisor and its workers
        process.wait()


@contextmanager
def serve(
    name: str, command: Sequence[str], env: Mapping[str, str], log_path: Path, workers: int, port: int, check: str
) -> Iterator[Server]:
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, env=dict(env), cwd=REPO, start_new_session=True
        )
    server = Server(name, port, workers, process, log_path, check)
    try:
        _wait_ready(server, 90.0)
        yield server
        if not server.alive():
            raise ServerFailed(f"{name} died during the bench (exit {process.returncode}); log: {log_path}")
    finally:
        _stop(process)


@contextmanager
def serve_app(database: Database, logs: Logs, workers: int, label: str = "seoulrun") -> Iterator[Server]:
    """``seoulrun serve --host 127.0.0.1 --port P --workers W`` on a database already migrated."""
    port = free_port()
    env = app_env(database, f"http://127.0.0.1:{port}")
    command = seoulrun_command("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers))
    with serve(label, command, env, logs.path(f"{label}-{port}.log"), workers, port, "/health") as server:
        yield server


@contextmanager
def serve_hello(logs: Logs, workers: int, label: str = "hello") -> Iterator[Server]:
    """The yardstick: a Litestar hello-world (bench/hello.py), served as ``seoulrun serve`` serves the app."""
    port = free_port()
    command = [sys.executable, str(BENCH / "hello.py"), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    with serve(label, command, dict(os.environ), logs.path(f"{label}-{port}.log"), workers, port, "/") as server:
        yield server


def prepare_schema(database: Database, logs: Logs) -> None:
    """``seoulrun db upgrade`` and ``seoulrun demo load`` on the bench's database."""
    env = app_env(database)
    run_cli(["db", "upgrade"], env, logs.path("cli.log"))
    run_cli(["demo", "load"], env, logs.path("cli.log"))


# --- the machine -----------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    info: dict[str, object] = {"nproc": os.cpu_count() or 0}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["load_avg"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    info["python"] = sys.version.split()[0]
    return info


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
