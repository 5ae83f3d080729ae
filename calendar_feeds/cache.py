"""The per-process cache of rendered feed bodies, keyed by the feed's version."""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

# The rendered bodies kept per server process. SEOULRUN_FEED_CACHE_ENTRIES=0 turns the cache off
# (benchmarks of the render itself).
CACHE_ENTRIES: Final = int(os.environ.get("SEOULRUN_FEED_CACHE_ENTRIES", "256"))
CACHE_BYTES: Final = int(os.environ.get("SEOULRUN_FEED_CACHE_MB", "64")) * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    body: bytes
    gzipped: bytes  # calendar apps accept gzip: a 2,000-event feed goes from 1.6 MB to about 35 kB
    events: int

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)


class RenderCache:
    """An LRU of rendered bodies, bounded in entries and in bytes, that renders each key once at a time.

    In-process on purpose: each worker keeps its own, invalidation is by key (the key holds the
    feed's version, so a change makes a new key and the old entry ages out), and nothing has to be shared.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, RenderedFeed] = OrderedDict()
        self._bytes = 0
        self._pending: dict[str, tuple[asyncio.Event, list[RenderedFeed]]] = {}
        self.hits = 0
        self.renders = 0
        self.waits = 0  # requests that missed while the same key was rendering, and waited for that render

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def get(self, key: str) -> RenderedFeed | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return entry

    def put(self, key: str, entry: RenderedFeed) -> None:
        if not self.enabled or entry.size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._entries[key] = entry
        self._bytes += entry.size
        while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
        self.hits = self.renders = self.waits = 0

    async def get_or_render(self, key: str, render: Callable[[], Awaitable[RenderedFeed]]) -> RenderedFeed:
        """The cached body, or a render; requests that miss while the same key is rendering wait for that
        render instead of starting their own (calendar apps of one venue's staff poll at the same minute)."""
        if not self.enabled:
            self.renders += 1
            return await render()
        cached = self.get(key)
        if cached is not None:
            return cached
        while (pending := self._pending.get(key)) is not None:
            done, result = pending
            self.waits += 1
            await done.wait()
            if result:
                self.hits += 1
                return result[0]
            # The render we waited for failed. Another of its waiters may have started one already: wait
            # for that, so that one render runs at a time; else ours (its error, if any, is ours to answer).
        done, result = asyncio.Event(), []
        self._pending[key] = (done, result)
        try:
            self.renders += 1
            entry = await render()
            result.append(entry)
            self.put(key, entry)
            return entry
        finally:
            del self._pending[key]
            done.set()


render_cache = RenderCache(CACHE_ENTRIES, CACHE_BYTES)
