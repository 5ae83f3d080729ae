"""Public reads served from memory: the venue catalogue, the programmes and availability.

These answers are read far more often than anything they show is written (at 10:00 thousands reload
the same venue and its availability). Each process keeps the bytes of their last ``200`` answers, keyed
by path and query and tagged with the catalogue version (``core.catalogue_version``) they were built
under. A request asks for the current version (one cheap read) and, when its entry carries it, gets
the stored answer without reaching a route handler. A write anywhere, in any process of any server,
bumps the version in its own transaction: the next request everywhere builds a fresh answer.

Answers also depend on the clock (a slot that has begun, a programme's next session, "today" when no
date is given): an entry is rebuilt after ``TTL_SECONDS`` even when nothing was written (by one
request, while the others get the entry it replaces: the clock's answer may be that much late, a
write's never), but for the routes whose answer does not (``CLOCKLESS_ROUTES``).

Every cached answer carries a strong ``ETag`` (a hash of its body) and ``Cache-Control: no-cache``; a
request whose ``If-None-Match`` names it gets ``304 Not Modified`` without a body. One request builds a
missing entry while the others asking for it at the same time wait for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Receive, Scope, Send

from core.catalogue_version import VersionReader

CACHED_PATHS: Final = re.compile(
    r"^/api/(?:venues(?:/\d+(?:/days|/availability)?)?|spaces/\d+(?:/availability)?|programs(?:/\d+)?)$"
)
# Calendar feeds: the feed's own ETag and Last-Modified are kept, and the answer depends on whether the
# client takes gzip, so its Accept-Encoding is part of the key.
FEED_PATHS: Final = re.compile(r"^/ical/[^/]+\.ics$")
TTL_SECONDS: Final = 5.0
# Routes whose answer the clock leaves as it is (a venue's page: its spaces, hours and rules): kept until
# a write, never rebuilt for the clock. A rebuild holds up its worker's event loop meanwhile, and at 64
# connections the rebuilds of 50 venues' pages every 5 s were the p99 of the venue page (bench/README.md).
CLOCKLESS_ROUTES: Final = frozenset({"/api/venues/{venue_id}"})
MAX_ENTRIES: Final = 4096
MAX_BODY_BYTES: Final = 2 * 1024 * 1024
# What one process keeps at most (least recently used first out): memory stays under 200 MB a worker.
MAX_TOTAL_BYTES: Final = 32 * 1024 * 1024
_DROPPED_HEADERS: Final = frozenset({b"set-cookie", b"etag", b"date", b"server"})


@dataclass(slots=True)
class Entry:
    version: int
    born: float
    etag: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    # The route template the router matched when the entry was built: an answer from memory is logged
    # and counted under its route (server.observability reads ``path_template``), not as unmatched.
    route: str | None = None


def _etag(body: bytes) -> bytes:
    return b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'


_CONDITIONAL_HEADERS: Final = frozenset({b"if-none-match", b"if-modified-since"})
_NOT_MODIFIED_HEADERS: Final = frozenset({b"cache-control", b"last-modified", b"vary", b"referrer-policy"})


def _matches(if_none_match: bytes | None, etag: bytes) -> bool:
    """``If-None-Match`` compares weakly (RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == b"*":
        return True
    ours = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == ours for tag in if_none_match.split(b","))


class ReadCache:
    def __init__(self, versions: VersionReader) -> None:
        self.versions = versions
        self.entries: OrderedDict[tuple[str, bytes, bytes], Entry] = OrderedDict()
        self.total_bytes = 0
        self.building: dict[tuple[str, bytes, bytes, int], asyncio.Future[Entry | None]] = {}

    def clear(self) -> None:
        self.entries.clear()
        self.total_bytes = 0

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def cached(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or scope["method"] != "GET":
                await app(scope, receive, send)
                return
            path = scope["path"]
            vary = b""
            if FEED_PATHS.match(path):
                headers = dict(scope["headers"])
                if b"if-modified-since" in headers and b"if-none-match" not in headers:
                    await app(scope, receive, send)  # the feed's own date comparison
                    return
                vary = headers.get(b"accept-encoding", b"")
            elif not CACHED_PATHS.match(path):
                await app(scope, receive, send)
                return
            version = await self.versions.current()
            if version is None:
                await app(scope, receive, send)
                return
            key = (path, scope["query_string"], vary)
            entry = self.entries.get(key)
            if entry is None or entry.version != version:
                entry = await self._build(app, scope, receive, send, key, version)
                if entry is None:  # answered by the handler itself (not cacheable)
                    return
            elif time.monotonic() - entry.born > TTL_SECONDS and entry.route not in CLOCKLESS_ROUTES:
                # Only the clock moved on: one request rebuilds it, the others meanwhile get this one.
                if (*key, version) not in self.building:
                    rebuilt = await self._build(app, scope, receive, send, key, version)
                    if rebuilt is None:  # answered by the handler itself
                        return
                    entry = rebuilt
            else:
                self.entries.move_to_end(key)
            await self._answer(scope, send, entry)

        return cached

    async def _build(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, key: tuple[str, bytes, bytes], version: int
    ) -> Entry | None:
        flight = (*key, version)
        pending = self.building.get(flight)
        if pending is not None:
            entry = await asyncio.shield(pending)
            if entry is not None:
                return entry
            await app(scope, receive, send)
            return None
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self.building[flight] = future
        built: Entry | None = None
        try:
            built = await self._capture(app, scope, receive, send, version)
        finally:
            del self.building[flight]
            future.set_result(built)
        if built is not None and len(built.body) <= MAX_BODY_BYTES:
            replaced = self.entries.pop(key, None)
            if replaced is not None:
                self.total_bytes -= len(replaced.body)
            self.entries[key] = built
            self.total_bytes += len(built.body)
            while len(self.entries) > MAX_ENTRIES or self.total_bytes > MAX_TOTAL_BYTES:
                self.total_bytes -= len(self.entries.popitem(last=False)[1].body)
        return built

    async def _capture(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, version: int) -> Entry | None:
        """Run the handler; a whole ``200`` answer is kept (and sent from the cache, with its ETag), any
        other answer goes straight to the client."""
        start: Message | None = None
        chunks: list[bytes] = []
        passed = False

        async def capture(message: Message) -> None:
            nonlocal start, passed
            if passed:
                await send(message)
            elif message["type"] == "http.response.start":
                if message["status"] == 200:
                    start = message
                else:
                    passed = True
                    await send(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False) and sum(map(len, chunks)) > MAX_BODY_BYTES:
                    passed = True  # too big to keep: sent as it comes
                    if start is not None:
                        await send(start)
                    await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
            else:
                await send(message)

        # Built unconditionally: the handler answers 200 with the whole body, and the validators of the
        # request are compared here (a first request with If-None-Match would get a 304 that cannot be kept).
        plain = {**scope, "headers": [(n, v) for n, v in scope["headers"] if n not in _CONDITIONAL_HEADERS]}
        await app(plain, receive, capture)  # type: ignore[arg-type]
        matched = plain.get("path_template")
        route = matched if isinstance(matched, str) else None
        if route is not None:  # for the request's log line and metrics, which read the caller's scope
            scope["path_template"] = route
        if passed or start is None:
            return None
        raw_headers: list[tuple[bytes, bytes]] = list(start.get("headers", []))  # type: ignore[call-overload]
        headers = [(name.lower(), value) for name, value in raw_headers if name.lower() not in _DROPPED_HEADERS]
        etag = next((value for name, value in raw_headers if name.lower() == b"etag"), None)
        body = b"".join(chunks)
        if not any(name == b"cache-control" for name, _ in headers):
            headers.append((b"cache-control", b"no-cache"))
        etag = etag or _etag(body)
        return Entry(
            version=version,
            born=time.monotonic(),
            etag=etag,
            headers=headers,
            body=body,
            route=route,
        )

    async def _answer(self, scope: Scope, send: Send, entry: Entry) -> None:
        if entry.route is not None:
            scope["path_template"] = entry.route
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
                break
        not_modified = _matches(if_none_match, entry.etag)
        common = [(b"etag", entry.etag)]
        if not_modified:  # RFC 9110 15.4.5: the validators and caching headers a 200 would carry
            common += [(name, value) for name, value in entry.headers if name in _NOT_MODIFIED_HEADERS]
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 304 if not_modified else 200,
            "headers": common if not_modified else [*entry.headers, *common],
        }
        body: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": b"" if not_modified else entry.body,
            "more_body": False,
        }
        await send(start)
        await send(body)
