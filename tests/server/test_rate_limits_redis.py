"""The abuse limits on Redis: the store's atomic counters, a Redis that hangs, and two real server
processes that share one limit through Redis (and, without it, do not).

Each test has a key prefix of its own on the local Redis (tests/redisserver.py) and removes its keys.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from core.clients import ClientAddresses
from core.errors import RateLimited
from core.ratelimit import Limiter, RateLimit, RedisStore, Rule
from core.settings import Rate
from tests.realserver import real_server, scratch_database
from tests.redisserver import redis_or_skip, unique_prefix


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[str, str]]:
    url = redis_or_skip()
    prefix = unique_prefix()
    yield url, prefix
    client = Redis.from_url(url)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_two_stores_share_one_atomic_count(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    one, two = RedisStore(url, prefix), RedisStore(url, prefix)
    try:
        counts = await asyncio.gather(*(store.hit("k", 60) for store in (one, two) for _ in range(50)))
        assert sorted(c for c, _ in counts) == list(range(1, 101))  # no count lost or given twice
        assert all(0 < left <= 60 for _, left in counts)
        await one.give_back("k")
        assert (await two.hit("k", 60))[0] == 100
        assert (await RedisStore(url, unique_prefix()).hit("k", 60))[0] == 1  # another prefix: its own
        ttl = await one.client.pttl(f"{prefix}k")
        assert 0 < ttl <= 60_000  # the counter expires with its window
        await one.give_back("nothing-here")
        assert await one.client.exists(f"{prefix}nothing-here") == 0  # no key without an expiry
    finally:
        await one.close()
        await two.close()


async def test_a_window_ends_on_redis(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    store = RedisStore(url, prefix)
    try:
        assert (await store.hit("short", 1))[0] == 1
        assert (await store.hit("short", 1))[0] == 2
        await asyncio.sleep(1.1)
        assert (await store.hit("short", 1))[0] == 1
    finally:
        await store.close()


async def test_the_limiter_on_redis_keeps_no_address_or_email_in_clear(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    store = RedisStore(url, prefix)
    limiter = Limiter({limit: Rule(Rate(2, 60), Rate(1, 900)) for limit in RateLimit}, store, ClientAddresses())
    scope = {"client": ("203.0.113.7", 1), "headers": []}
    try:
        await limiter.check_address(RateLimit.LOGIN, scope)
        await limiter.check_account(RateLimit.LOGIN, "email:someone@example.com")
        keys = [key.decode() async for key in store.client.scan_iter(match=f"{prefix}*")]
        assert len(keys) == 2
        assert not any("203.0.113.7" in key or "someone" in key for key in keys)
        with pytest.raises(RateLimited) as refused:
            await limiter.check_account(RateLimit.LOGIN, "email:someone@example.com")
        assert 60 < refused.value.params["retry_after"] <= 900
    finally:
        await store.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: a Redis that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


async def test_a_redis_that_hangs_costs_one_timeout_then_requests_pass_at_once(silent_server: int) -> None:
    store = RedisStore(f"redis://127.0.0.1:{silent_server}/0", unique_prefix(), timeout_seconds=0.3)
    limiter = Limiter({limit: Rule(Rate(1, 60), Rate(1, 60)) for limit in RateLimit}, store, ClientAddresses())
    scope = {"client": ("203.0.113.7", 1), "headers": []}
    try:
        started = time.monotonic()
        await limiter.check_address(RateLimit.BOOKING, scope)  # waits for the timeout, then lets it through
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            await limiter.check_address(RateLimit.BOOKING, scope)
        rest = time.monotonic() - started
    finally:
        await store.close()
    assert 0.2 < first < 2.0
    assert rest < 0.1  # the store is left alone for a while: no request waits for it
    assert limiter.failures == 1


def _login(base_url: str, n: int) -> int:
    body = {"email": f"nobody{n}@example.com", "password": "wrong-password-4050"}
    return httpx.post(f"{base_url}/api/auth/login", json=body, timeout=30).status_code


@pytest.mark.slow
def test_two_server_processes_share_the_limit_through_redis(tmp_path: Path) -> None:
    url = redis_or_skip()
    prefix = unique_prefix()
    limits = {"SEOULRUN_RATE_LIMIT_LOGIN": "4/60"}
    with scratch_database("sqlite", tmp_path) as settings:
        # Without Redis each process counts on its own: four logins to each go through.
        with (
            real_server(settings, tmp_path, workers=1, env=limits) as a,
            real_server(settings, tmp_path, workers=1, env=limits) as b,
        ):
            assert [_login(server.base_url, n) for n in range(4) for server in (a, b)] == [401] * 8
            assert _login(a.base_url, 9) == 429
        shared = {**limits, "SEOULRUN_REDIS_URL": url, "SEOULRUN_REDIS_KEY_PREFIX": prefix}
        with (
            real_server(settings, tmp_path, workers=1, env=shared) as a,
            real_server(settings, tmp_path, workers=1, env=shared) as b,
        ):
            assert [_login(server.base_url, n) for n in range(2) for server in (a, b)] == [401] * 4
            refused = [httpx.post(f"{s.base_url}/api/auth/login", json={"email": "x@example.com", "password": "y"})
                       for s in (a, b)]  # fmt: skip
            for answer in refused:
                assert answer.status_code == 429, answer.text
                assert answer.json()["code"] == "rate_limited"
                assert 1 <= int(answer.headers["retry-after"]) <= 60
            assert "rate limits not enforced" not in a.log() + b.log()

    async def cleanup() -> None:
        client = Redis.from_url(url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        assert keys, "the servers counted in Redis"
        await client.delete(*keys)
        await client.aclose()

    asyncio.run(cleanup())
