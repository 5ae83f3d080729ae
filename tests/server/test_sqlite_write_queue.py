"""SQLite's per-process write queue (``server.app.write_intent_middleware``) is one queue for the app.

Litestar builds a middleware stack per route, and the queue's lock once lived in each stack: writers
of different routes then met at the file lock instead, and a long write on one route (an offline sync
of many scans) made a write on any other route wait out the lock timeout and answer 503.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server.app import write_intent_middleware


async def test_writers_of_different_routes_take_turns_and_readers_do_not_wait() -> None:
    factory = write_intent_middleware(queue_writes=True)
    writing = 0
    most_writing = 0
    reads_while_writing = 0

    async def route(scope: Any, receive: Any, send: Any) -> None:
        nonlocal writing, most_writing, reads_while_writing
        if scope["method"] == "GET":
            reads_while_writing += writing > 0
            return
        writing += 1
        most_writing = max(most_writing, writing)
        await asyncio.sleep(0.02)
        writing -= 1

    # Two routes, two middleware stacks, as Litestar builds them.
    sync, feeds = factory(route), factory(route)

    async def call(app: Any, method: str) -> None:
        await app({"type": "http", "method": method, "path": "/"}, None, None)

    async def read_later() -> None:
        await asyncio.sleep(0.01)
        await call(feeds, "GET")

    await asyncio.gather(call(sync, "POST"), call(feeds, "POST"), call(sync, "PATCH"), read_later())
    assert most_writing == 1
    assert reads_while_writing == 1


async def test_without_the_queue_writers_are_not_held() -> None:
    factory = write_intent_middleware(queue_writes=False)
    writing = 0
    most_writing = 0

    async def route(scope: Any, receive: Any, send: Any) -> None:
        nonlocal writing, most_writing
        writing += 1
        most_writing = max(most_writing, writing)
        await asyncio.sleep(0.02)
        writing -= 1

    first, second = factory(route), factory(route)
    scope = {"type": "http", "method": "POST", "path": "/"}
    await asyncio.gather(first(scope, None, None), second(scope, None, None))
    assert most_writing == 2
