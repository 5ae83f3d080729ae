"""The abuse limits' wiring: the table of ``core.ratelimit`` with its store, in the app's state.

Redis when ``SEOULRUN_REDIS_URL`` is set (every process and server with the same URL and
``SEOULRUN_REDIS_KEY_PREFIX`` shares the counters), otherwise this process's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar

from core.clients import ClientAddresses
from core.ratelimit import Limiter, MemoryStore, RedisStore, Store, rules
from core.settings import Settings


def build_limiter(settings: Settings) -> Limiter:
    store: Store = RedisStore(settings.redis_url, settings.redis_key_prefix) if settings.redis_url else MemoryStore()
    return Limiter(rules(settings), store, ClientAddresses(settings.trusted_proxies))


def limiter_lifespan(limiter: Limiter) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await limiter.store.close()

    return lifespan
