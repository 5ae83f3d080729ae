"""The service's Prometheus metrics, in one place: their names and labels are what dashboards and alerts
are written against, so they change as rarely as an API.

``/metrics`` (``server.observability``) exposes them. With several server processes (``seoulrun serve
--workers N``), prometheus_client's multiprocess mode adds up the processes' values: ``seoulrun serve``
sets ``PROMETHEUS_MULTIPROC_DIR`` before anything imports prometheus_client, and each process writes its
values to files there. Without it (tests, a single process) the values live in this process only.

Labels stay few and bounded: a route is its template (``/api/bookings/{booking_id}``), never a path.
"""

from __future__ import annotations

import os
from typing import Any, Final

from prometheus_client import Counter, Histogram, values


class _ProcessId:
    """The process id, asked of the kernel once per process (again in a forked child) rather than at
    every increment: in multiprocess mode each value checks it for a fork before it counts, several
    times per request."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.pid = os.getpid()

    def __call__(self) -> int:
        return self.pid


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the mode prometheus_client chose when imported
    values.ValueClass = values.MultiProcessValue(process_identifier=_ProcessId())  # type: ignore[no-untyped-call]

HTTP_REQUESTS: Final = Counter(
    "seoulrun_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_LATENCY: Final = Histogram(
    "seoulrun_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Each series, looked up once: ``labels()`` checks and locks on every call. Labels are bounded (route
# templates, statuses, outcome codes), and so are these.
_series: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (metric, *labels)
    child = _series.get(key)
    if child is None:
        child = _series[key] = metric.labels(*labels)
    return child


def count_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request, in ``HTTP_REQUESTS`` and ``HTTP_LATENCY``."""
    _child(HTTP_REQUESTS, route, method, str(status)).inc()
    _child(HTTP_LATENCY, route, method).observe(seconds)


BOOKINGS: Final = Counter(
    "seoulrun_bookings",
    "Answers to POST /api/bookings: the new booking's status (confirmed, waitlisted), or the code of the refusal",
    ["outcome"],
)
JOB_RUNS: Final = Counter(
    "seoulrun_job_runs",
    "Occurrences of scheduled jobs run by this service: ok, failed, or skipped (another process had it)",
    ["job", "outcome"],
)


def count_booking(outcome: str) -> None:
    _child(BOOKINGS, outcome).inc()
