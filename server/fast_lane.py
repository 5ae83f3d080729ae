"""Answers given before Litestar's routing to the requests of the busiest moments: ``POST
/api/bookings`` for a slot that is sold out and a door's repeated ``POST /api/checkin/scan`` from
memory, and ``GET /health`` (which load balancers poll on every server) straight from its report.

At 10:00 a popular slot's places go in the first seconds; the requests that follow, many times more,
all get ``409 sold_out``. Each would cost the whole request path: routing, the account's query, on
SQLite the queue of writers and the write lock, the slot's queries, a transaction. This wrapper (beside
the read cache, inside the security headers and the request's log line) answers them from what
``booking.rush.FullSlots`` and ``accounts.principals.Principals`` read under the current catalogue
version, with the very answer the booking route would give: the same problem details in the reader's
language, counted by the same abuse limits and metrics.

Only a request the route would refuse as sold out is answered here: a well-formed body for one slot
(no waitlist), a valid bearer token, a well-formed ``Idempotency-Key`` or none, an open slot with no
place left that this citizen does not hold, a key this citizen has not used. Everything else, and
anything that cannot be read (the database away), is passed to the app unchanged, body included.

A scan is answered from memory only when the route said its answer can be given again as it is
(``core.catalogue_version.REPEATABLE_HEADER``, which never reaches the client): it wrote nothing and
does not depend on the clock, so it holds while the version does. The same staff member, the same
request body, the same language: the same answer, counted by the same abuse limits.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPRequestEvent, Message, Receive, ReceiveMessage, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.deps import account_key, bearer_of
from accounts.principals import Principals
from booking.errors import SoldOut
from booking.rush import FullSlots
from booking.schemas import BookingCreate
from core.catalogue_version import REPEATABLE_HEADER, VersionReader
from core.errors import LANGUAGE_COOKIE, PROBLEM_MEDIA_TYPE, DomainError, RateLimited, domain_problem
from core.fields import ONE_LINE_PATTERN
from core.i18n import negotiate
from core.metrics import count_booking
from core.ratelimit import Limiter, RateLimit

HEALTH: Final = "/health"
BOOKINGS: Final = "/api/bookings"
SCANS: Final = "/api/checkin/scan"
MEMO_HEADER: Final = REPEATABLE_HEADER.encode()
SCAN_TTL_SECONDS: Final = 5.0
MAX_SCAN_ANSWERS: Final = 20_000
_KEY_PATTERN: Final = re.compile(ONE_LINE_PATTERN)
_MAX_KEY: Final = 255  # booking.routes.IdempotencyKey
# ``/health``'s answer: its status and body.
Health = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]
_DECODER: Final = msgspec.json.Decoder(BookingCreate)
_ENCODER: Final = msgspec.json.Encoder()


class FastLane:
    def __init__(
        self,
        engine: AsyncEngine,
        versions: VersionReader,
        limiter: Limiter | None,
        *,
        max_body_bytes: int,
        health: Health | None = None,
    ) -> None:
        self.health = health
        self.versions = versions
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.principals = Principals(engine)
        self.full_slots = FullSlots(engine)
        self.scan_answers = _Answers()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def lane(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
            elif scope["method"] == "GET" and scope["path"] == HEALTH and self.health is not None:
                await self._health(scope, send, self.health)
            elif scope["method"] != "POST":
                await app(scope, receive, send)
            elif scope["path"] == BOOKINGS:
                await self._booking(app, scope, receive, send)
            elif scope["path"] == SCANS:
                await self._scan(app, scope, receive, send)
            else:
                await app(scope, receive, send)

        return lane

    async def _health(self, scope: Scope, send: Send, health: Health) -> None:
        """``GET /health`` as its route answers it (``server.observability.health_report``), without the
        routing: load balancers and monitors poll it on every server, every few seconds."""
        status, report = await health()
        body = _ENCODER.encode(report)
        scope["path_template"] = HEALTH
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _booking(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        chunks, more = await self._body(receive)
        refusal: DomainError | None = None
        try:
            refusal = await self._refusal(scope, b"".join(chunks) if not more else None)
        except Exception:  # whatever failed here, the ordinary path answers (or fails) itself
            refusal = None
        if refusal is None:
            await app(scope, _replay(chunks, more, receive), send)
            return
        scope["path_template"] = BOOKINGS  # logged and counted under its route (server.observability)
        await self._answer(scope, send, refusal)

    async def _scan(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """A scan the route answered without writing, and whatever the clock says (``already_checked_in``,
        ``cancelled``, ``wrong_venue``, ``invalid``, ``not_found``: it marks them ``MEMO_HEADER``), is
        answered again from memory to the same staff member for the same code, while the version holds
        (and for ``SCAN_TTL_SECONDS`` at most: a key's expiry is the clock's)."""
        chunks, more = await self._body(receive)
        seen: tuple[int, str, tuple[bytes, str]] | None = None
        try:
            seen = await self._scan_key(scope, b"".join(chunks) if not more else None)
        except Exception:  # the ordinary path answers (or fails) itself
            seen = None
        if seen is None:
            await app(scope, _replay(chunks, more, receive), _unmarked(send))
            return
        version, token, key = seen
        entry = self.scan_answers.get(version, key)
        principal = None
        if entry is not None:  # who asks is read only for an answer to give (a check-in reads it itself)
            try:
                principal = await self.principals.of(token, version)
            except Exception:  # the ordinary path answers (or fails) itself
                principal = None
        if entry is None or principal is None:
            captured = _Captured(send)
            await app(scope, _replay(chunks, more, receive), captured.send)
            if captured.entry is not None:
                self.scan_answers.put(version, key, captured.entry)
            return
        if self.limiter is not None:  # the route's guard and its account's count
            try:
                await self.limiter.check_address(RateLimit.SCAN, scope)
                await self.limiter.check_account(RateLimit.SCAN, account_key(principal.user_id))
            except RateLimited as limited:
                scope["path_template"] = SCANS
                await self._answer(scope, send, limited)
                return
        scope["path_template"] = SCANS
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": entry.body, "more_body": False})

    async def _scan_key(self, scope: Scope, body: bytes | None) -> tuple[int, str, tuple[bytes, str]] | None:
        """The version, the bearer token and the key of the answer: the body, the token's digest and the
        reader's language (the token itself is checked when a kept answer is to be given)."""
        if body is None:
            return None
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = bearer_of(value.decode("latin-1"))
        if token is None:
            return None
        version = await self.versions.current()
        if version is None:
            return None
        return version, token, (body, f"{hashlib.sha256(token.encode()).hexdigest()}:{_locale(scope)}")

    async def _body(self, receive: Receive) -> tuple[list[bytes], bool]:
        """The request's body, or as much of it as may be kept (``more``: the rest is still to come)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: the app sees it too
                return chunks, True
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                return chunks, False
            if size > self.max_body_bytes:
                return chunks, True

    async def _refusal(self, scope: Scope, body: bytes | None) -> DomainError | None:
        if body is None:
            return None
        authorization = key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"idempotency-key":
                if key is not None:
                    return None
                key = value
        token = bearer_of(authorization.decode("latin-1")) if authorization is not None else None
        if token is None:
            return None
        idempotency_key = key.decode("latin-1") if key is not None else None
        if idempotency_key is not None and (
            len(idempotency_key) > _MAX_KEY or _KEY_PATTERN.search(idempotency_key) is None
        ):
            return None
        try:
            data = _DECODER.decode(body)
        except (msgspec.DecodeError, ValueError):
            return None
        if data.slot_id is None or data.join_waitlist or data.space_id is not None:
            return None
        if data.check_in is not None or data.check_out is not None:
            return None
        version = await self.versions.current()
        if version is None:
            return None
        # The slot first: a booking of a slot with places left (most of the day) costs one read here.
        slot = await self.full_slots.full(version, data.slot_id)
        if slot is None:
            return None
        principal = await self.principals.of(token, version)
        if principal is None:
            return None
        if not await self.full_slots.refuses(version, slot, principal.user_id, idempotency_key):
            return None
        if self.limiter is not None:  # the route's guard and its account's count (accounts.deps)
            try:
                await self.limiter.check_address(RateLimit.BOOKING, scope)
                await self.limiter.check_account(RateLimit.BOOKING, account_key(principal.user_id))
            except RateLimited as limited:
                count_booking(limited.code)
                return limited
        count_booking(SoldOut.code)
        return SoldOut("sold_out.places_left", remaining=0)

    async def _answer(self, scope: Scope, send: Send, refusal: DomainError) -> None:
        locale = _locale(scope)
        problem, extra = domain_problem(refusal, locale)
        body = _ENCODER.encode(problem)
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-language", locale.encode()),
            *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _locale(scope: Scope) -> str:
    """``core.errors.request_locale`` from the raw headers."""
    accept = cookie = None
    for name, value in scope["headers"]:
        if name == b"accept-language":
            accept = value.decode("latin-1")
        elif name == b"cookie":
            cookie = _cookie(value.decode("latin-1"), LANGUAGE_COOKIE)
    return negotiate(accept, cookie)


def _cookie(header: str, wanted: str) -> str | None:
    for pair in header.split(";"):
        name, _, value = pair.strip().partition("=")
        if name == wanted:
            return value.strip().strip('"')
    return None


def _replay(chunks: list[bytes], more: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then whatever is still to come."""
    pending = [*chunks] or [b""]

    async def again() -> ReceiveMessage:
        if pending:
            chunk = pending.pop(0)
            event: HTTPRequestEvent = {"type": "http.request", "body": chunk, "more_body": bool(pending) or more}
            return event
        return await receive()

    return again


@dataclass(slots=True)
class _Entry:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    born: float


class _Answers:
    """Answers kept under one catalogue version (a newer one starts afresh)."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.entries: dict[tuple[bytes, str], _Entry] = {}

    def get(self, version: int, key: tuple[bytes, str]) -> _Entry | None:
        if version != self.version:
            return None
        entry = self.entries.get(key)
        if entry is not None and time.monotonic() - entry.born > SCAN_TTL_SECONDS:
            del self.entries[key]
            return None
        return entry

    def put(self, version: int, key: tuple[bytes, str], entry: _Entry) -> None:
        if self.version is not None and version < self.version:
            return
        if version != self.version or len(self.entries) >= MAX_SCAN_ANSWERS:
            self.version, self.entries = version, {}
        self.entries[key] = entry


class _Captured:
    """Passes the app's answer on, without ``MEMO_HEADER``; keeps it when it was marked and whole."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._headers: list[tuple[bytes, bytes]] | None = None
        self._chunks: list[bytes] = []
        self.entry: _Entry | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            kept = [(n, v) for n, v in headers if n.lower() != MEMO_HEADER]
            if message["status"] == 200 and len(kept) != len(headers):
                self._headers = kept
            message = {**message, "headers": kept}
        elif message["type"] == "http.response.body" and self._headers is not None:
            self._chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.entry = _Entry(self._headers, b"".join(self._chunks), time.monotonic())
        await self._send(message)


def _unmarked(send: Send) -> Send:
    return _Captured(send).send
