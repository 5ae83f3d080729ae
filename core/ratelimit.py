"""Abuse limits: how many logins, registrations, bookings, scans and feed fetches a client may make.

**One table** (``rules``) lists every limit and the settings it comes from. A route says which limit
applies with the guard ``rate_limit(RateLimit.BOOKING)``; nothing else is needed:

- the guard counts the request against the **client address** (``core.clients``: ``X-Forwarded-For``
  only from a trusted proxy), before the body is read or the database is touched;
- the **account** is counted where it becomes known: ``limit_account(connection, key)``, which the
  dependencies that resolve the signed-in account call (``accounts.deps``, ``web.auth``; a no-op on
  routes without the guard), the feed by its url (``account=`` of the guard), and a login by its
  target email, where ``give_back`` returns the unit of a login that succeeded, so that only failed
  attempts use up that budget (a password cannot be guessed from many addresses, and a person who logs
  in often is never stopped).

Over a limit, ``429 rate_limited`` with ``Retry-After``: the seconds until the window ends.

**Windows** are fixed: one starts at the first request of a key and lasts the rate's seconds, counting
every request in it (refused ones too); the next request after it starts a new one. At a window's edge a
client can make up to twice the count in a short time; in exchange one counter and one expiry per key,
an atomic ``INCR`` with ``PEXPIRE`` in a Lua script on Redis.

**Stores**: ``MemoryStore`` (one process; the default) and ``RedisStore`` (``SEOULRUN_REDIS_URL``: the
limits hold across processes and servers). Keys carry a SHA-256 of the address, account or feed url,
never the value itself. A store that fails (Redis down or slow) **fails open**: the request goes
through, a WARNING is logged (at most once a minute), and the store is left alone for a few seconds so
that requests do not each wait for its timeout. A booking system must not stop taking bookings because
its limiter's store is down.

This module knows no domain: the wiring (``server/ratelimits.py``) puts a ``Limiter`` in the app's state.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from core.clients import ClientAddresses
from core.errors import RateLimited
from core.settings import Rate, Settings

log = logging.getLogger(__name__)

STATE_KEY: Final = "rate_limiter"  # the app's state holds the Limiter under this name
_MARK: Final = "seoulrun_rate_limit"  # the request's state: the limit its route's guard applied


class RateLimit(StrEnum):
    LOGIN = "login"
    REGISTER = "register"
    BOOKING = "booking"
    SCAN = "scan"
    FEED = "feed"


@dataclass(frozen=True, slots=True)
class Rule:
    per_address: Rate
    per_account: Rate


def rules(settings: Settings) -> dict[RateLimit, Rule]:
    """Every limit, per client address and per account (for a login: per target email; for a feed: per
    feed url). The settings are ``SEOULRUN_RATE_LIMIT_<NAME>`` and ``..._<NAME>_ACCOUNT``."""
    return {
        RateLimit.LOGIN: Rule(settings.rate_limit_login, settings.rate_limit_login_account),
        RateLimit.REGISTER: Rule(settings.rate_limit_register, Rate(0, 60)),
        RateLimit.BOOKING: Rule(settings.rate_limit_booking, settings.rate_limit_booking_account),
        RateLimit.SCAN: Rule(settings.rate_limit_scan, settings.rate_limit_scan_account),
        RateLimit.FEED: Rule(settings.rate_limit_feed, settings.rate_limit_feed_account),
    }


class Store(Protocol):
    async def hit(self, key: str, seconds: int) -> tuple[int, float]:
        """Count one request; the count in the key's window with it, and the seconds the window has left."""

    async def give_back(self, key: str) -> None:
        """Take one request off the key's count (if its window is still open)."""

    async def close(self) -> None: ...


class MemoryStore:
    """Counters in this process: fixed windows, pruned as they expire."""

    PRUNE_EVERY: Final = 1024

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.windows: dict[str, tuple[int, float]] = {}  # key -> (count, end of the window)
        self._hits = 0

    async def hit(self, key: str, seconds: int) -> tuple[int, float]:
        now = self.clock()
        self._hits += 1
        if self._hits % self.PRUNE_EVERY == 0:
            self.windows = {k: w for k, w in self.windows.items() if w[1] > now}
        count, ends = self.windows.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + seconds
        self.windows[key] = (count + 1, ends)
        return count + 1, ends - now

    async def give_back(self, key: str) -> None:
        count, ends = self.windows.get(key, (0, 0.0))
        if count > 0 and ends > self.clock():
            self.windows[key] = (count - 1, ends)

    async def close(self) -> None:
        self.windows.clear()


# Both scripts run atomically in Redis: no other client sees a counter without its expiry.
_HIT: Final = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""
_GIVE_BACK: Final = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class RedisStore:
    """Counters in Redis (``redis.asyncio``), shared by every process that uses the same key prefix."""

    def __init__(self, url: str, prefix: str = "seoulrun:", *, timeout_seconds: float = 0.5) -> None:
        from redis.asyncio import Redis

        self.prefix = prefix
        self.client = Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds, retry_on_timeout=False
        )
        self._hit = self.client.register_script(_HIT)
        self._give_back = self.client.register_script(_GIVE_BACK)

    async def hit(self, key: str, seconds: int) -> tuple[int, float]:
        count, ttl_ms = await self._hit(keys=[self.prefix + key], args=[seconds * 1000])
        return int(count), int(ttl_ms) / 1000

    async def give_back(self, key: str) -> None:
        await self._give_back(keys=[self.prefix + key])

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except Exception as exc:  # a connection already gone: nothing to give back at shutdown
            log.info("closing the rate limits' Redis connections: %r", exc)


# Both are asked for on every limited request, mostly for the same few keys: remembered, within bounds.
@functools.lru_cache(maxsize=1 << 16)
def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=1 << 16)
def address_identity(address: str) -> str:
    """IPv6 clients are counted by their /64: one household or phone gets a whole /64 to pick from."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


class Limiter:
    FAIL_OPEN_SECONDS: Final = 5.0  # after a store failure, requests pass without asking it for this long
    WARN_EVERY_SECONDS: Final = 60.0

    def __init__(
        self,
        table: Mapping[RateLimit, Rule],
        store: Store,
        addresses: ClientAddresses | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = dict(table)
        self.store = store
        self.addresses = addresses or ClientAddresses()
        self.clock = clock
        self._skip_until = 0.0
        self._warned_at = -math.inf
        self.failures = 0  # store failures let through, for tests and logs

    async def check_address(self, limit: RateLimit, scope: Any) -> None:
        address = address_identity(self.addresses.of(scope))
        await self._count(limit, "address", address, self.table[limit].per_address)

    async def check_account(self, limit: RateLimit, account: str) -> None:
        await self._count(limit, "account", account, self.table[limit].per_account)

    async def give_back(self, limit: RateLimit, account: str) -> None:
        if self.table[limit].per_account.count <= 0 or self.clock() < self._skip_until:
            return
        try:
            await self.store.give_back(f"{limit}:account:{_digest(account)}")
        except Exception as exc:  # the store is away: the unit expires with its window
            self._failed(exc)

    async def _count(self, limit: RateLimit, dimension: str, identity: str, rate: Rate) -> None:
        if rate.count <= 0 or self.clock() < self._skip_until:
            return
        try:
            count, left = await self.store.hit(f"{limit}:{dimension}:{_digest(identity)}", rate.seconds)
        except Exception as exc:  # any failure of the store: fail open
            self._failed(exc)
            return
        if count > rate.count:
            seconds = max(1, math.ceil(left))
            raise RateLimited("rate_limited.retry_in", seconds=seconds, limit=str(limit), retry_after=seconds)

    def _failed(self, exc: Exception) -> None:
        now = self.clock()
        self.failures += 1
        self._skip_until = now + self.FAIL_OPEN_SECONDS
        if now - self._warned_at >= self.WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("rate limits not enforced: their store failed (%r); letting requests through", exc)


def limiter_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Limiter | None:
    limiter = connection.app.state.get(STATE_KEY)
    return limiter if isinstance(limiter, Limiter) else None


AccountOf = Callable[[ASGIConnection[Any, Any, Any, Any]], str | None]


def rate_limit(limit: RateLimit, *, account: AccountOf | None = None) -> Callable[..., Any]:
    """The guard of a limited route: counts the client address (and ``account(connection)``, when given
    and not ``None``), and marks the request so that ``limit_account`` counts the signed-in account."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        limiter = limiter_of(connection)
        if limiter is None:
            return
        connection.state[_MARK] = limit
        await limiter.check_address(limit, connection.scope)
        key = account(connection) if account is not None else None
        if key:
            await limiter.check_account(limit, key)

    guard.__name__ = f"rate_limit_{limit}"
    return guard


def _marked(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[Limiter, RateLimit] | None:
    limit = connection.state.get(_MARK)
    limiter = limiter_of(connection)
    if limiter is None or not isinstance(limit, RateLimit):
        return None
    return limiter, limit


async def limit_account(connection: ASGIConnection[Any, Any, Any, Any], account: str) -> None:
    """Count ``account`` against the limit of this request's route (nothing on a route without one)."""
    if marked := _marked(connection):
        limiter, limit = marked
        await limiter.check_account(limit, account)


async def give_back(connection: ASGIConnection[Any, Any, Any, Any], account: str) -> None:
    """Return the unit ``limit_account`` took (a login that succeeded)."""
    if marked := _marked(connection):
        limiter, limit = marked
        await limiter.give_back(limit, account)
