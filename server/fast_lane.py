"""Answers given before Litestar's routing to the requests of the busiest moments: ``POST
/api/bookings`` for a slot that is sold out, from memory; a door's ``POST /api/checkin/scan`` that writes
nothing; and ``GET /health`` (which load balancers poll on every server) straight from its report.

At 10:00 a popular slot's places go in the first seconds; the requests that follow, many times more,
all get ``409 sold_out``. Each would cost the whole request path: routing, the account's query, on
SQLite the queue of writers and the write lock, the slot's queries, a transaction. This wrapper (beside
the read cache, inside the security headers and the request's log line) answers them from what
``booking.rush.FullSlots`` read under the current catalogue version and
``accounts.principals.Principals`` under the current accounts version, with the very answer the booking
route would give: the same problem details in the reader's language, counted by the same abuse limits
and metrics.

Only a request the route would refuse before any lock is answered here: a well-formed body for one
slot (no waitlist), a valid bearer token, a well-formed ``Idempotency-Key`` or none that this citizen
has not used, an open slot with no place left: ``sold_out``, or ``already_booked`` to a citizen who
holds one of its places. Everything else, and anything that cannot be read (the database away), is
passed to the app unchanged, body included.

A door's scan that writes nothing (``already_checked_in``, ``wrong_venue``, ``too_early``, …: every
answer but a check-in) is answered here by ``checkin.services.CheckinService.read_scan`` in a session
that only reads, so that on SQLite it never waits in the queue of writers; a check-in goes to the route.
An answer the clock does not change is kept for the same request body while the version holds (for
``SCAN_TTL_SECONDS`` at most, and never past a signing key's end), for any staff member of the venue:
the answer names nobody who asks. Each is counted by the route's abuse limits.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from litestar.enums import ScopeType
from litestar.serialization import encode_json
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts.deps import account_key, bearer_of
from accounts.principals import Principals
from booking.operations import require_staff
from booking.rush import NOT_FULL, SHARED_REFUSALS, FullSlots
from booking.schemas import BookingCreate
from checkin.keys import key_ring
from checkin.schemas import ScanRequest, ScanResult
from checkin.services import REPEATABLE_RESULTS, CheckinService
from core.catalogue_version import VersionReader
from core.clock import utcnow
from core.database import read_only
from core.errors import LANGUAGE_COOKIE, PROBLEM_MEDIA_TYPE, DomainError, RateLimited, domain_problem
from core.fields import ONE_LINE_PATTERN
from core.i18n import negotiate
from core.memo import VersionedMemo
from core.metrics import count_booking
from core.ratelimit import Limiter, RateLimit
from core.settings import Settings

HEALTH: Final = "/health"
BOOKINGS: Final = "/api/bookings"
SCANS: Final = "/api/checkin/scan"
SCAN_TTL_SECONDS: Final = 60.0
MAX_SCAN_ANSWERS: Final = 20_000
_KEY_PATTERN: Final = re.compile(ONE_LINE_PATTERN)
_MAX_KEY: Final = 255  # booking.routes.IdempotencyKey
# ``/health``'s answer: its status and body.
Health = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]
_DECODER: Final = msgspec.json.Decoder(BookingCreate)
_SCAN_DECODER: Final = msgspec.json.Decoder(ScanRequest)
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
        settings: Settings | None = None,
    ) -> None:
        self.engine = engine
        self.health = health
        self.settings = settings  # for scans (the QR keys' secret); without it every scan goes to the route
        self.versions = versions
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.principals = Principals(engine)
        self.full_slots = FullSlots(engine, versions)
        self.scan_answers = _Answers()
        # The answers of ``booking.rush``'s shared refusals, by message and language.
        self._problems: dict[tuple[str, str], tuple[tuple[tuple[bytes, bytes], ...], bytes]] = {}

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
        """A scan that writes nothing (every answer but a check-in) is answered here, read in a session
        that only reads: on SQLite outside the queue of writers, which a door's scans would otherwise
        join one by one. Its answer, when the clock does not change it (``REPEATABLE_RESULTS``), is kept
        for the same request while the version holds. A check-in, and anything in doubt, goes to the
        route."""
        chunks, more = await self._body(receive)
        answer: _Entry | RateLimited | None = None
        try:
            answer = await self._scan_answer(scope, b"".join(chunks) if not more else None)
        except Exception:  # the ordinary path answers (or fails) itself
            answer = None
        if answer is None:
            await app(scope, _replay(chunks, more, receive), send)
            return
        scope["path_template"] = SCANS
        if isinstance(answer, RateLimited):
            await self._answer(scope, send, answer)
            return
        await send({"type": "http.response.start", "status": 200, "headers": answer.headers})
        await send({"type": "http.response.body", "body": answer.body, "more_body": False})

    async def _scan_answer(self, scope: Scope, body: bytes | None) -> _Entry | RateLimited | None:
        if body is None or self.settings is None:
            return None
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = bearer_of(value.decode("latin-1"))
        if token is None:
            return None
        versions = await self.versions.both()
        if versions is None:
            return None
        version, accounts = versions
        principal = await self.principals.of(token, accounts)
        if principal is None:
            return None
        data = _SCAN_DECODER.decode(body)
        require_staff(principal, data.venue_id)  # before an answer kept for the venue's staff (else: the route's 403)
        entry = self.scan_answers.get(version, body)
        if entry is None:
            async with read_only(self.engine) as session:
                service = CheckinService(session, self.settings)
                seen = await service.read_scan(principal, data.venue_id, data.payload, arrived=data.arrived)
                if not isinstance(seen, ScanResult):
                    return None  # a check-in: the route writes it
                payload = encode_json(seen)
                entry = _Entry(
                    [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
                    payload,
                    time.monotonic() + await _kept_for(session, self.settings.secret_key),
                )
            if seen.result in REPEATABLE_RESULTS:
                self.scan_answers.put(version, body, entry)
        if self.limiter is not None:  # the route's guard and its account's count
            try:
                await self.limiter.check_address(RateLimit.SCAN, scope)
                await self.limiter.check_account(RateLimit.SCAN, account_key(principal.user_id))
            except RateLimited as limited:
                return limited
        return entry

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
        versions = await self.versions.both()
        if versions is None:
            return None
        version, accounts = versions
        # The slot first: a booking of a slot with places left (most of the day) costs one read here,
        # which the route does not repeat (``NOT_FULL``).
        slot = await self.full_slots.state(version, data.slot_id)
        if slot is None:
            return None
        if not slot.full:
            scope.setdefault("state", {})[NOT_FULL] = data.slot_id
            return None
        # Who the token is and, when the request has a key, which keys its holder used: one session.
        also = self.full_slots.keys_reader(version) if idempotency_key is not None else None
        principal = await self.principals.of(token, accounts, also)
        if principal is None:
            return None
        refusal = await self.full_slots.refusal(version, slot, principal.user_id, idempotency_key)
        if refusal is None:
            return None
        if self.limiter is not None:  # the route's guard and its account's count (accounts.deps)
            try:
                await self.limiter.check_address(RateLimit.BOOKING, scope)
                await self.limiter.check_account(RateLimit.BOOKING, account_key(principal.user_id))
            except RateLimited as limited:
                count_booking(limited.code)
                return limited
        count_booking(refusal.code)
        return refusal

    async def _answer(self, scope: Scope, send: Send, refusal: DomainError) -> None:
        locale = _locale(scope)
        shared = refusal in SHARED_REFUSALS
        made = self._problems.get((refusal.message.key, locale)) if shared else None
        if made is None:
            made = _problem(refusal, locale)
            if shared:
                self._problems[(refusal.message.key, locale)] = made
        headers, body = made
        # A list of its own: the middlewares outside add their headers to it.
        await send({"type": "http.response.start", "status": refusal.status, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _problem(refusal: DomainError, locale: str) -> tuple[tuple[tuple[bytes, bytes], ...], bytes]:
    """A refusal's answer as ``core.errors.domain_error_handler`` gives it: headers and body."""
    problem, extra = domain_problem(refusal, locale)
    body = _ENCODER.encode(problem)
    headers = (
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-language", locale.encode()),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()),
        (b"content-length", str(len(body)).encode()),
    )
    return headers, body


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


async def _kept_for(session: AsyncSession, secret_key: str) -> float:
    """How long a scan's answer may be given again: ``SCAN_TTL_SECONDS``, and never past the moment a
    key of the ring stops verifying (a code it signed turns ``invalid`` then, whatever was written)."""
    ring = await key_ring(session, secret_key)
    now = utcnow()
    ends = [(expires - now).total_seconds() for expires in ring.expires.values() if expires is not None]
    return max(0.0, min([SCAN_TTL_SECONDS, *ends]))


@dataclass(slots=True)
class _Entry:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    until: float  # time.monotonic()


class _Answers(VersionedMemo[bytes, _Entry]):
    """Scans' answers kept under one catalogue version (a newer one starts afresh), by request body,
    each until its own time (``_Entry.until``)."""

    def __init__(self) -> None:
        super().__init__(MAX_SCAN_ANSWERS)

    def get(self, version: int, key: bytes) -> _Entry | None:
        entry = super().get(version, key)
        if entry is not None and time.monotonic() >= entry.until:
            self.forget(key)
            return None
        return entry
