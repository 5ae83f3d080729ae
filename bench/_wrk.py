"""The load generators: wrk with bench/load.lua for HTTP, pgbench for the database's own booking rate.

wrk is native (C, one event loop per thread): it sends tens of thousands of requests a second from one
core, where the old Python client (httpx) topped out near 400. Its own output gives req/s and the
latency percentiles (``--latency``, corrected for coordinated omission); the Lua script adds the count of
every status (and of the answer's ``code``/``result``), and the exact timing of "once" runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from _harness import BENCH, PG_HOST, PG_PORT, PG_USER, ServerFailed

LUA = BENCH / "load.lua"
HOT_ROW_SQL = BENCH / "hot_row.sql"
BOOKING_TX_SQL = BENCH / "booking_tx.sql"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_run_counter = 0


class ToolMissing(RuntimeError):
    """wrk or pgbench is not installed (``make bench`` installs them)."""


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"{tool} is not installed: run `make bench` (it installs wrk and pgbench from Debian)")
    return path


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""

    def line(self) -> str:
        if any("|" in value for value in self.headers.values()):
            raise ValueError(f"a header value cannot hold '|' (the separator of bench/load.lua): {self.headers}")
        headers = "|".join(f"{name}: {value}" for name, value in self.headers.items())
        for part in (self.method, self.path, headers, self.body):
            if "\t" in part or "\n" in part:
                raise ValueError(f"a request line cannot hold tabs or newlines: {part!r}")
        return f"{self.method}\t{self.path}\t{headers}\t{self.body}"


def json_request(method: str, path: str, body: Mapping[str, Any], token: str | None = None) -> Request:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return Request(method, path, headers, json.dumps(body, separators=(",", ":")))


def get(path: str, token: str | None = None, **headers: str) -> Request:
    all_headers = {name.replace("_", "-"): value for name, value in headers.items()}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    return Request("GET", path, all_headers)


@dataclass(frozen=True, slots=True)
class Target:
    """One server and the requests sent to it (several targets: one wrk process each, at once)."""

    base_url: str
    requests: Sequence[Request]


@dataclass(frozen=True, slots=True)
class Load:
    """How hard and how long: the same for the app and for its yardstick."""

    threads: int = 2
    connections: int = 64
    duration_s: float = 8.0
    timeout_s: float = 30.0  # wrk's default (2 s) would count slow answers as errors and drop them


@dataclass(slots=True)
class WrkResult:
    mode: str  # cycle | once
    processes: int
    threads: int
    connections: int
    duration_s: float  # what wrk was given (-d)
    rps: float  # cycle: wrk's Requests/sec; once: answers / (last answer - first request)
    wrk_rps: float  # wrk's own Requests/sec line (for once runs: divided by the whole run)
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    bytes: int
    elapsed_s: float  # first request to last answer
    statuses: dict[int, int]
    results: dict[str, int]
    errors: dict[str, int]
    issued: int
    raw: list[str]  # wrk's text output, one entry per process

    @property
    def bytes_per_answer(self) -> float:
        return self.bytes / self.requests if self.requests else 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.get(k, 0) for k in ("connect", "read", "write", "timeout"))

    def count(self, status: int, code: str | None = None) -> int:
        if code is None:
            return self.statuses.get(status, 0)
        return self.results.get(f"{status} {code}", 0)

    def describe(self) -> str:
        if self.results:
            items = sorted(self.results.items(), key=lambda kv: (-kv[1], kv[0]))
            text = " ".join(f"{key.replace(' ', '/')}×{n}" for key, n in items)
        else:
            text = " ".join(f"{status}×{n}" for status, n in sorted(self.statuses.items()))
        if self.socket_errors:
            text += " socket-errors:" + ",".join(f"{k}={v}" for k, v in self.errors.items() if v)
        return text

    def as_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "raw"}
        data["statuses"] = {str(k): v for k, v in self.statuses.items()}
        data["bytes_per_answer"] = round(self.bytes_per_answer, 1)
        return data


def _latency_ms(text: str, pct: str) -> float:
    match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0


def _max_latency_ms(text: str) -> float:
    match = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m|h)", text, re.MULTILINE)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0


@dataclass(slots=True)
class _Process:
    process: subprocess.Popen[str]
    threads: int
    done_threads: int = 0
    stderr: list[str] = field(default_factory=list)


class _Reader:
    """A process's whole stdout, read by a thread (so that a full pipe never stalls it)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.chunks: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        self.chunks.append(self.process.stdout.read())

    def text(self) -> str:
        self.thread.join(timeout=30)
        return "".join(self.chunks)


def _watch_stderr(proc: _Process, once: bool) -> None:
    assert proc.process.stderr is not None
    for line in proc.process.stderr:
        if line.strip() == "@@thread-done":
            proc.done_threads += 1
            if once and proc.done_threads >= proc.threads:
                _interrupt(proc.process)
        else:
            proc.stderr.append(line)


def _interrupt(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)  # wrk stops its threads and prints its report


def run(
    targets: Sequence[Target],
    load: Load,
    *,
    once: bool = False,
    idempotency: bool = False,
    codes: bool = False,
    duration_s: float | None = None,
) -> WrkResult:
    """Load every target at once (one wrk process each, sharing the threads and connections), bounded by
    ``duration_s`` (wrk's -d). ``once``: every request is sent exactly once, then wrk is interrupted."""
    global _run_counter
    wrk = require("wrk")
    if not targets:
        raise ValueError("nothing to load")
    threads = max(1, load.threads // len(targets))
    connections = max(threads, load.connections // len(targets))
    duration = duration_s if duration_s is not None else load.duration_s
    procs: list[_Process] = []
    watchers: list[threading.Thread] = []
    with tempfile.TemporaryDirectory(prefix="seoulrun-bench-wrk-") as tmp:
        for n, target in enumerate(targets):
            if not target.base_url.startswith("http://127.0.0.1:"):
                raise ValueError(f"benchmarks only load 127.0.0.1, not {target.base_url}")
            requests = list(target.requests)
            if once and len(requests) < threads:
                raise ValueError(f"a once run needs at least {threads} requests per target")
            while len(requests) < threads:  # every thread gets a share
                requests += list(target.requests)
            path = Path(tmp) / f"requests-{n}.tsv"
            path.write_text("".join(r.line() + "\n" for r in requests), encoding="utf-8")
            _run_counter += 1
            run_id = f"{os.getpid()}x{_run_counter}x{time.time_ns() % 10**9}"
            command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
            command += [f"--timeout={round(load.timeout_s)}s", "-s", str(LUA), target.base_url, "--"]
            command += [str(path), "once" if once else "cycle", "1" if idempotency else "0", "1" if codes else "0"]
            command += [run_id, str(threads)]
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
            )
            procs.append(_Process(process, threads))
        for proc in procs:
            watcher = threading.Thread(target=_watch_stderr, args=(proc, once), daemon=True)
            watcher.start()
            watchers.append(watcher)
        # stdout is read by a thread of its own, stderr by the watcher alone: communicate() would read
        # stderr too and take a thread's "@@thread-done" from the watcher, and the run would then go on
        # to its -d bound (10 x the measurement's length) with every answer in.
        readers = [_Reader(proc.process) for proc in procs]
        deadline = time.monotonic() + duration + 60
        for proc in procs:
            try:
                proc.process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.process.kill()
                proc.process.wait()
                raise ServerFailed(f"wrk did not stop by itself: {proc.process.args!r}") from None
        outputs = [reader.text() for reader in readers]
        for watcher in watchers:
            watcher.join(timeout=5)
    return _combine(outputs, procs, once, threads * len(targets), connections * len(targets), duration)


def _combine(
    outputs: Sequence[str], procs: Sequence[_Process], once: bool, threads: int, connections: int, duration: float
) -> WrkResult:
    statuses: dict[int, int] = {}
    results: dict[str, int] = {}
    errors: dict[str, int] = {}
    firsts, lasts = [], []
    wrk_rps = requests = total_bytes = issued = 0.0
    p50s, p90s, p99s, maxes, weights = [], [], [], [], []
    for out, proc in zip(outputs, procs, strict=True):
        match = re.search(r"^@@bench (.*)$", out, re.MULTILINE)
        if match is None or proc.process.returncode not in (0, -signal.SIGINT):
            tail = "".join(proc.stderr[-20:])
            raise ServerFailed(f"wrk failed (exit {proc.process.returncode}): {tail}{out[-2000:]}")
        data = json.loads(match.group(1))
        for status, n in (data.get("statuses") or {}).items():
            statuses[int(status)] = statuses.get(int(status), 0) + int(n)
        for key, n in (data.get("results") or {}).items():
            results[key] = results.get(key, 0) + int(n)
        for key, n in (data.get("errors") or {}).items():
            errors[key] = errors.get(key, 0) + int(n)
        for thread in data.get("threads") or []:
            issued += thread.get("issued", 0)
            if thread.get("first_sent"):
                firsts.append(float(thread["first_sent"]))
            if thread.get("last_answer"):
                lasts.append(float(thread["last_answer"]))
        rps_match = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
        wrk_rps += float(rps_match.group(1)) if rps_match else 0.0
        requests += int(data.get("requests", 0))
        total_bytes += int(data.get("bytes", 0))
        p50s.append(_latency_ms(out, "50"))
        p90s.append(_latency_ms(out, "90"))
        p99s.append(_latency_ms(out, "99"))
        maxes.append(_max_latency_ms(out))
        weights.append(int(data.get("requests", 0)))
    elapsed = (max(lasts) - min(firsts)) if firsts and lasts else 0.0
    rps = (requests / elapsed if elapsed > 0 else 0.0) if once else wrk_rps
    total = sum(weights) or 1
    # Several processes (several servers): the median is approximated by the weighted mean of theirs, the
    # 99th percentile by the worst of theirs.
    return WrkResult(
        mode="once" if once else "cycle",
        processes=len(procs),
        threads=threads,
        connections=connections,
        duration_s=duration,
        rps=rps,
        wrk_rps=wrk_rps,
        p50_ms=sum(p * w for p, w in zip(p50s, weights, strict=True)) / total,
        p90_ms=max(p90s),
        p99_ms=max(p99s),
        max_ms=max(maxes),
        requests=int(requests),
        bytes=int(total_bytes),
        elapsed_s=elapsed,
        statuses=statuses,
        results=results,
        errors=errors,
        issued=int(issued),
        raw=list(outputs),
    )


# --- pgbench ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PgbenchResult:
    tps: float
    latency_ms: float
    transactions: int
    failed: int
    clients: int
    duration_s: float
    output: str

    def as_json(self) -> dict[str, Any]:
        return {
            "tps": self.tps,
            "latency_avg_ms": self.latency_ms,
            "transactions": self.transactions,
            "failed": self.failed,
            "clients": self.clients,
            "duration_s": self.duration_s,
        }


def pgbench(
    database: str, script: Path, variables: Mapping[str, object], clients: int, threads: int, duration_s: float
) -> PgbenchResult:
    """``pgbench -n -M prepared`` running ``script`` (its own transactions) on ``database``."""
    command = [require("pgbench"), "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-n", "-M", "prepared"]
    command += ["-c", str(clients), "-j", str(threads), "-T", str(max(1, round(duration_s))), "-f", str(script)]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    command.append(database)
    for attempt in range(4):
        result = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 120, check=False)
        out = result.stdout + result.stderr
        # Other work on the machine may hold PostgreSQL's connections for a moment: wait and try again.
        if result.returncode == 0 or "too many clients" not in out or attempt == 3:
            break
        time.sleep(10)
    if result.returncode != 0:
        raise ServerFailed(f"pgbench failed (exit {result.returncode}): {out[-2000:]}")

    def number(pattern: str) -> float:
        match = re.search(pattern, out, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    return PgbenchResult(
        tps=number(r"^tps = ([\d.]+) \(without initial connection time\)"),
        latency_ms=number(r"^latency average = ([\d.]+) ms"),
        transactions=int(number(r"^number of transactions actually processed: (\d+)")),
        failed=int(number(r"^number of failed transactions: (\d+)")),
        clients=clients,
        duration_s=duration_s,
        output=out,
    )
