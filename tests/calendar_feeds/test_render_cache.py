"""The render cache on its own: one render per key at a time, also when a render fails."""

from __future__ import annotations

import asyncio

import pytest

from calendar_feeds.cache import RenderCache, RenderedFeed


async def test_the_waiters_of_a_failed_render_render_once_between_them() -> None:
    cache = RenderCache(max_entries=8, max_bytes=1 << 20)
    gate = asyncio.Event()
    renders: list[str] = []

    async def failing() -> RenderedFeed:
        renders.append("failing")
        await gate.wait()
        raise RuntimeError("database went away")

    async def working() -> RenderedFeed:
        renders.append("working")
        await asyncio.sleep(0.01)
        return RenderedFeed(b"BEGIN:VCALENDAR", b"gz", 1)

    first = asyncio.create_task(cache.get_or_render("k", failing))
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(cache.get_or_render("k", working)) for _ in range(3)]
    await asyncio.sleep(0)
    assert cache.waits == 3
    gate.set()
    with pytest.raises(RuntimeError):
        await first
    results = await asyncio.gather(*waiters)
    assert renders == ["failing", "working"]
    assert {r.body for r in results} == {b"BEGIN:VCALENDAR"}
    assert cache.get("k") is results[0]
