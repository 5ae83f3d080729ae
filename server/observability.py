"""What operators see: a log line and metrics per request, ``/metrics`` for Prometheus, ``/health``.

``observe_requests`` wraps the whole app (unknown routes included): it takes the caller's
``X-Request-ID`` when it is a plain token (or makes one), returns it on the answer, and when the answer
is finished logs one line (``seoulrun.request``: request id, method, route template, status, duration,
client address: behind a trusted proxy, the one it names) and counts the request in
``seoulrun_http_requests_total`` and the latency histogram.
The route is the template the router matched (``/api/bookings/{booking_id}``), ``unmatched`` for a
path no route has: never the path as sent, which may carry a secret (``/ical/<secret>.ics``) or a
query string.

``/metrics`` is not public: it answers the bearer token of ``SEOULRUN_METRICS_TOKEN`` (what Prometheus
is given) or an admin's token, and ``401``/``403`` otherwise, like the rest of the API.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import bearer_token, require_role
from accounts.services import AccountService
from core.catalogue_version import VersionReader
from core.clients import ClientAddresses
from core.clock import to_kst, utcnow
from core.errors import Unauthenticated
from core.metrics import count_request
from core.settings import Settings
from notifications.admin import outbox_depth
from server.lease import LEASE_QUERY, Leader, lease_of_row
from server.logs import RequestLines, request_id

lines = RequestLines()
health_log = logging.getLogger(__name__)

REQUEST_ID_HEADER: Final = b"x-request-id"
# A caller's id is taken when it is a plain token of reasonable length; anything else (spaces, quotes,
# control characters, a kilobyte) is replaced, so that it cannot forge or flood log lines.
_PLAIN_ID: Final = re.compile(rb"[A-Za-z0-9._:@-]{1,128}")
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED: Final = "unmatched"
METRICS_MEDIA_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class _Ids:
    """Request ids as unique as ``uuid4().hex`` (32 hex digits), without asking the kernel for random
    bytes on every request: a random half per process (drawn again in a forked worker), then a count."""

    def __init__(self) -> None:
        self._start()
        os.register_at_fork(after_in_child=self._start)

    def _start(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.count = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.count) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


_ids: Final = _Ids()


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _PLAIN_ID.fullmatch(value) else _ids.next()
    return _ids.next()


def observe_requests(app: ASGIApp, addresses: ClientAddresses) -> ASGIApp:
    """``addresses``: the client is the peer, or whom a trusted proxy names (the abuse limits' rule)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = _request_id(scope)
        header = (REQUEST_ID_HEADER, rid.encode("ascii"))
        token = request_id.set(rid)
        status = 500  # an exception that escapes every handler
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            asked: str = scope.get("method", "")
            method = asked if asked in METHODS else "other"
            route = scope.get("path_template") or UNMATCHED
            count_request(route, method, status, elapsed)
            address = addresses.of(scope)
            duration_ms = round(elapsed * 1000, 2)
            lines.write(rid, method, route, status, duration_ms, address)
            request_id.reset(token)

    return middleware


# --- /metrics --------------------------------------------------------------------------------------


async def require_metrics_reader(request: Request[Any, Any, Any], session: AsyncSession, settings: Settings) -> None:
    """The metrics token (compared in constant time), or an admin's bearer token."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("auth.bearer_required")
    if settings.metrics_token and hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
        return
    user = await AccountService(session, settings).authenticate(token)
    require_role(user)  # admins only


class _Outbox(Collector):
    def __init__(self, depth: dict[str, int]) -> None:
        self.depth = depth

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "seoulrun_outbox_messages",
            "Outbox messages waiting, being sent, or failed, when scraped",
            labels=["status"],
        )
        for status, n in self.depth.items():
            family.add_metric([status], n)
        yield family


class _ThisProcess(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


async def exposition(session: AsyncSession) -> bytes:
    """Every process's counters (multiprocess mode) or this one's, and the outbox as it is now."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(_Outbox(await outbox_depth(session)))
    return generate_latest(registry)


# --- /health ---------------------------------------------------------------------------------------


class RedisProbe:
    """Whether Redis answers a PING within half a second; one client per process, made when first used."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None

    async def status(self) -> str:
        try:
            if self._client is None:
                from redis.asyncio import Redis

                self._client = Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
            await asyncio.wait_for(self._client.ping(), timeout=0.5)
        except Exception as exc:
            health_log.warning("health: Redis unreachable: %s", type(exc).__name__)
            return "unreachable"
        return "ok"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _kst(instant: datetime | None) -> str | None:
    return to_kst(instant).isoformat() if instant is not None else None


async def health_report(
    versions: VersionReader, leader: Leader | None, redis: RedisProbe | None
) -> tuple[int, dict[str, Any]]:
    """The database (one primary-key read of the scheduler lease, timed), Redis when configured, and who
    leads the scheduler. 503 only when the database cannot be read; Redis away is ``degraded``.

    The lease is read the way the catalogue version is (``VersionReader.fetch_row``): SQLite on a plain
    connection in the event loop's thread, PostgreSQL on a connection kept for it, the health checks
    that arrive during a read sharing the next one. A load balancer polling every server, or a rush of
    monitors, costs the database one query at a time per process."""
    started = time.perf_counter()
    try:
        lease = lease_of_row(await versions.fetch_row(LEASE_QUERY))
    except Exception as exc:  # any failure to reach the database is "error", never a 500
        health_log.warning("health: database unreachable: %s", exc)
        return 503, {"status": "error", "database": "error"}
    body: dict[str, Any] = {
        "status": "ok",
        "database": "ok",
        "database_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if redis is not None:
        body["redis"] = await redis.status()
        if body["redis"] != "ok":
            body["status"] = "degraded"
    now = utcnow()
    current = lease.expires_at is not None and lease.expires_at > now
    body["scheduler"] = {
        "enabled": leader is not None,
        "leader": lease.holder if current else None,
        "lease_expires_at": _kst(lease.expires_at) if current else None,
        "this_process": leader.holder if leader is not None else None,
        "this_process_leads": leader is not None and leader.leads(now),
    }
    return 200, body
