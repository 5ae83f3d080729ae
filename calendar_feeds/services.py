"""Calendar feeds: creating and revoking subscriptions, who may follow what, and serving a feed cheaply.

A feed is fetched by calendar apps every few minutes to every few hours, forever, whether anything
changed or not. So a fetch is built to cost almost nothing when nothing changed:

1. the secret is hashed and looked up (one indexed query), the owner's right to the target checked
   again (a staff member moved to another venue loses the venue's feed at once);
2. one aggregate query over the rows the feed shows (counts, latest ``updated_at``, sums of
   ``sequence`` and of places taken) gives the feed's *version*: its ``ETag`` and ``Last-Modified``.
   Sums are in it because the booking engine changes ``slot.taken`` with guarded Core UPDATEs that do
   not touch ``updated_at``; a cancelled booking always bumps its ``sequence``;
3. a matching ``If-None-Match`` (or ``If-Modified-Since``) answers ``304`` there;
4. otherwise the rendered body is taken from a small in-process LRU keyed by the version, and only on a
   miss are the rows loaded and rendered (in a worker thread, once per version even when many
   requests miss together).

The window is 30 days back to 180 days ahead, in Seoul days; cancelled bookings and sessions stay in
it, as ``STATUS:CANCELLED``, for 30 days after they were cancelled, so that apps that cached them drop them.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import logging
import os
import re
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import anyio.to_thread
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Integer,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import joinedload

from accounts.models import Role, User
from booking.models import ACTIVE, Booking, BookingStatus
from calendar_feeds.models import CalendarFeed, FeedScope
from calendar_feeds.render import (
    ENDED_BOOKING_STATUSES,
    BookingRow,
    CalendarMeta,
    FeedEvent,
    Links,
    Place,
    RosterLine,
    SessionRow,
    SlotRow,
    booking_event,
    render_calendar,
    session_event,
    slot_event,
    stay_event,
)
from calendar_feeds.schemas import FeedCreate, FeedCreated, FeedRead
from core.clock import kst, to_kst, utcnow
from core.database import sqlite_write_intent, unit_of_work
from core.errors import Forbidden, NotFound, ValidationFailed
from core.pagination import Page, count
from core.settings import Settings
from programs.models import Program, ProgramInstructor, ProgramSession, SessionStatus
from venues.models import Closure, Slot, SlotOrigin, Space, Venue

log = logging.getLogger(__name__)

WINDOW_BACK_DAYS: Final = 30
WINDOW_AHEAD_DAYS: Final = 180
CANCELLED_KEPT_DAYS: Final = 30
# 32 random bytes: 256 bits, far beyond guessing; token_urlsafe gives 43 url-safe characters.
SECRET_BYTES: Final = 32
SECRET_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{32,100}$")
# last_fetched_at is for people ("is my calendar app still polling?"), not an access log: once a minute.
FETCH_RECORD_INTERVAL: Final = timedelta(minutes=1)
# Bump when the rendered text changes, so that no cached body or client ETag of the old text survives.
RENDER_VERSION: Final = "1"
# The rendered bodies kept per server process. SEOULRUN_FEED_CACHE_ENTRIES=0 turns the cache off
# (benchmarks of the render itself).
CACHE_ENTRIES: Final = int(os.environ.get("SEOULRUN_FEED_CACHE_ENTRIES", "256"))
CACHE_BYTES: Final = int(os.environ.get("SEOULRUN_FEED_CACHE_MB", "64")) * 1024 * 1024

STAFF_ROLES: Final = (Role.STAFF, Role.MANAGER)
ROSTER_STATUSES: Final = (*ACTIVE, BookingStatus.CHECKED_OUT)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def feed_urls(base_url: str, secret: str) -> tuple[str, str, str]:
    """The feed's url under ``base_url``, its ``webcal://`` twin (which opens the calendar app's
    subscribe dialogue) and its ``https://`` form to paste into "add calendar from url"."""
    url = f"{base_url.rstrip('/')}/ical/{secret}.ics"
    parts = urlsplit(url)
    webcal = urlunsplit(("webcal", parts.netloc, parts.path, "", ""))
    https = urlunsplit(("https", parts.netloc, parts.path, "", ""))
    return url, webcal, https


def secret_of(filename: str) -> str | None:
    """``<secret>.ics`` → the secret; None for anything that cannot be one (no database lookup then)."""
    if not filename.endswith(".ics"):
        return None
    secret = filename[: -len(".ics")]
    return secret if SECRET_PATTERN.match(secret) else None


def http_date(instant: datetime) -> str:
    """An HTTP date (``Wed, 25 Nov 2026 05:28:17 GMT``) for Last-Modified."""
    return format_datetime(instant.astimezone(UTC).replace(microsecond=0), usegmt=True)


# --- the window ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedWindow:
    """Seoul days from 30 days back to 180 days ahead, and the instants that bound them."""

    today: date
    first_day: date
    last_day: date
    start: datetime  # UTC, 00:00 KST of first_day
    end: datetime  # UTC, 24:00 KST of last_day
    today_start: datetime  # UTC, 00:00 KST today
    cancelled_since: datetime  # cancellations older than this are dropped from the feed

    @classmethod
    def at(cls, now: datetime) -> FeedWindow:
        today = to_kst(now).date()
        first_day = today - timedelta(days=WINDOW_BACK_DAYS)
        last_day = today + timedelta(days=WINDOW_AHEAD_DAYS)
        return cls(
            today=today,
            first_day=first_day,
            last_day=last_day,
            start=kst(first_day, time(0)),
            end=kst(last_day + timedelta(days=1), time(0)),
            today_start=kst(today, time(0)),
            # By day, not by the second: the body stays the same all day long and caches well.
            cancelled_since=kst(today - timedelta(days=CANCELLED_KEPT_DAYS), time(0)),
        )

    def overlaps(self, starts: Any, ends: Any) -> ColumnElement[bool]:
        return and_(starts < self.end, ends > self.start)


# --- targets and access --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedTarget:
    """What a feed shows, loaded once per fetch: the venue (all scopes but ``me``), the space or programme."""

    scope: FeedScope
    target_id: int | None
    name: str
    venue: Venue | None = None
    space: Space | None = None
    program: Program | None = None


def _scope(value: str) -> FeedScope:
    try:
        return FeedScope(value)
    except ValueError:
        raise ValidationFailed(
            f"알 수 없는 범위: {value} (unknown scope)",
            errors=[{"field": "scope", "message": "one of venue, space, program, me"}],
        ) from None


@dataclass(frozen=True, slots=True)
class ResolvedFeed:
    feed: CalendarFeed
    owner: User
    target: FeedTarget


@dataclass(frozen=True, slots=True)
class FeedVersion:
    etag: str  # weak: bodies rendered by two workers differ in DTSTAMP, nothing else
    last_modified: datetime
    key: str  # of the render cache


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    body: bytes
    gzipped: bytes  # calendar apps accept gzip: a 2,000-event feed goes from 1.6 MB to about 35 kB
    events: int

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)


@dataclass(frozen=True, slots=True)
class FeedAnswer:
    """What ``GET /ical/<secret>.ics`` sends: ``304`` without a body, or ``200`` with one."""

    status: int
    etag: str
    last_modified: datetime
    filename: str
    feed_id: int
    fetched_at: datetime
    # When last_fetched_at is more than a minute old: the route writes it after answering.
    record_fetch: bool
    body: bytes = b""
    gzipped: bool = False


# --- the render cache ----------------------------------------------------------------------------


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
        self.hits = self.renders = 0

    async def get_or_render(self, key: str, render: Callable[[], Awaitable[RenderedFeed]]) -> RenderedFeed:
        """The cached body, or a render; requests that miss while the same key is rendering wait for that
        render instead of starting their own (calendar apps of one venue's staff poll at the same minute)."""
        if not self.enabled:
            self.renders += 1
            return await render()
        cached = self.get(key)
        if cached is not None:
            return cached
        pending = self._pending.get(key)
        if pending is not None:
            done, result = pending
            await done.wait()
            if result:
                self.hits += 1
                return result[0]
            # The render we waited for failed; try ours (its error, if any, is ours to answer).
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


# --- the service ---------------------------------------------------------------------------------


class FeedService:
    def __init__(self, session: AsyncSession, settings: Settings, *, now: datetime | None = None) -> None:
        self.session = session
        self.settings = settings
        self.now = now or utcnow()
        base_url = settings.base_url.rstrip("/")
        self.links = Links(base_url=base_url, host=urlsplit(base_url).hostname or "localhost")

    # --- targets and access ----------------------------------------------------------------------

    async def target(self, user: User, scope: FeedScope, target_id: int | None) -> FeedTarget:
        """The feed's target, if ``user`` may follow it: ``404`` for an unknown target, ``403`` for
        someone else's venue or programme."""
        if scope == FeedScope.ME:
            return FeedTarget(scope, None, "서울런 4050 · 내 예약 (My bookings)")
        if target_id is None:
            raise ValidationFailed(
                "이 범위에는 target_id 가 필요합니다 (target_id is required for this scope)",
                errors=[{"field": "target_id", "message": f"required for scope {scope.value}"}],
            )
        if scope == FeedScope.VENUE:
            venue = await self.session.get(Venue, target_id)
            if venue is None:
                raise NotFound(f"장소 {target_id} 없음 (no venue {target_id})")
            self._require_staff(user, venue.id)
            name = f"서울런 4050 · {venue.name} 일정 ({venue.name_en} schedule)"
            return FeedTarget(scope, target_id, name, venue=venue)
        if scope == FeedScope.SPACE:
            row = (
                await self.session.execute(
                    select(Space, Venue).join(Venue, Venue.id == Space.venue_id).where(Space.id == target_id)
                )
            ).first()
            if row is None:
                raise NotFound(f"공간 {target_id} 없음 (no space {target_id})")
            space, venue = row
            self._require_staff(user, venue.id)
            name = f"서울런 4050 · {venue.name} {space.name} 일정 ({venue.name_en} · {space.name_en} schedule)"
            return FeedTarget(scope, target_id, name, venue=venue, space=space)
        program_row = (
            await self.session.execute(
                select(Program, Venue, Space)
                .join(Venue, Venue.id == Program.venue_id)
                .join(Space, Space.id == Program.space_id)
                .where(Program.id == target_id)
            )
        ).first()
        if program_row is None:
            raise NotFound(f"프로그램 {target_id} 없음 (no programme {target_id})")
        program, venue, space = program_row
        if not user.can_work_at(venue.id, *STAFF_ROLES):
            teaches = await self.session.scalar(
                select(ProgramInstructor.id).where(
                    ProgramInstructor.program_id == program.id, ProgramInstructor.user_id == user.id
                )
            )
            if teaches is None:
                raise Forbidden(
                    "이 프로그램의 강사나 장소 직원만 구독할 수 있습니다 (its instructors and the venue's staff only)"
                )
        name = f"서울런 4050 · {program.title} ({program.title_en})"
        return FeedTarget(scope, target_id, name, venue=venue, space=space, program=program)

    @staticmethod
    def _require_staff(user: User, venue_id: int) -> None:
        if not user.can_work_at(venue_id, *STAFF_ROLES):
            raise Forbidden(
                f"장소 {venue_id} 의 직원과 관리자만 구독할 수 있습니다 (only staff of venue {venue_id} may follow it)"
            )

    # --- subscriptions ---------------------------------------------------------------------------

    async def create(self, user: User, data: FeedCreate) -> FeedCreated:
        scope = _scope(data.scope)
        target_id = data.target_id
        if scope == FeedScope.ME:
            if target_id not in (None, user.id):
                raise ValidationFailed(
                    "내 예약 캘린더는 본인 것만 만들 수 있습니다 (a 'me' feed shows your own bookings)",
                    errors=[{"field": "target_id", "message": "omit it, or give your own account id"}],
                )
            target_id = None
        target = await self.target(user, scope, target_id)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        feed = CalendarFeed(user_id=user.id, scope=scope.value, target_id=target_id, secret_hash=hash_secret(secret))
        self.session.add(feed)
        await self.session.flush()
        url, webcal, https = feed_urls(self.settings.base_url, secret)
        return FeedCreated(
            id=feed.id,
            scope=feed.scope,
            target_id=feed.target_id,
            name=target.name,
            url=url,
            webcal_url=webcal,
            https_url=https,
            created_at=to_kst(feed.created_at),
        )

    async def mine(self, user: User, *, limit: int, offset: int) -> Page[FeedRead]:
        query = select(CalendarFeed).where(CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None))
        total = await count(self.session, query)
        feeds = (await self.session.scalars(query.order_by(CalendarFeed.id).limit(limit).offset(offset))).all()
        names = await self._names(feeds)
        items = [
            FeedRead(
                id=f.id,
                scope=f.scope,
                target_id=f.target_id,
                name=names.get((f.scope, f.target_id), ""),
                created_at=to_kst(f.created_at),
                last_fetched_at=to_kst(f.last_fetched_at) if f.last_fetched_at else None,
            )
            for f in feeds
        ]
        return Page(items=items, total=total, limit=limit, offset=offset)

    async def _names(self, feeds: Sequence[CalendarFeed]) -> dict[tuple[str, int | None], str]:
        """Display names of the feeds' targets, a query per kind of target rather than per feed."""
        names: dict[tuple[str, int | None], str] = {(FeedScope.ME.value, None): "내 예약 (My bookings)"}
        wanted: dict[str, set[int]] = {}
        for feed in feeds:
            if feed.target_id is not None:
                wanted.setdefault(feed.scope, set()).add(feed.target_id)
        if ids := wanted.get(FeedScope.VENUE.value):
            for vid, name, name_en in await self.session.execute(
                select(Venue.id, Venue.name, Venue.name_en).where(Venue.id.in_(ids))
            ):
                names[(FeedScope.VENUE.value, vid)] = f"{name} ({name_en})"
        if ids := wanted.get(FeedScope.SPACE.value):
            for sid, venue_name, name, name_en in await self.session.execute(
                select(Space.id, Venue.name, Space.name, Space.name_en)
                .join(Venue, Venue.id == Space.venue_id)
                .where(Space.id.in_(ids))
            ):
                names[(FeedScope.SPACE.value, sid)] = f"{venue_name} {name} ({name_en})"
        if ids := wanted.get(FeedScope.PROGRAM.value):
            for pid, title, title_en in await self.session.execute(
                select(Program.id, Program.title, Program.title_en).where(Program.id.in_(ids))
            ):
                names[(FeedScope.PROGRAM.value, pid)] = f"{title} ({title_en})"
        return names

    async def revoke(self, user: User, feed_id: int) -> None:
        """Revoke one of the caller's feeds; its url answers ``404`` from now on. Someone else's feed,
        or one already revoked, does not exist for the caller."""
        result = await self.session.execute(
            update(CalendarFeed)
            .where(CalendarFeed.id == feed_id, CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None))
            .values(revoked_at=self.now, updated_at=self.now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(f"캘린더 구독 {feed_id} 없음 (no calendar feed {feed_id})")

    # --- fetching --------------------------------------------------------------------------------

    async def resolve(self, secret: str | None) -> ResolvedFeed:
        """The live feed behind a secret, if its owner may still follow its target. Every failure is the
        same ``404``: whoever holds a url learns nothing from a revoked, unknown or no-longer-allowed one."""
        gone = NotFound("캘린더를 찾을 수 없습니다 (no such calendar feed)")
        if secret is None:
            raise gone
        row = (
            (
                await self.session.execute(
                    select(CalendarFeed, User)
                    .join(User, User.id == CalendarFeed.user_id)
                    .where(CalendarFeed.secret_hash == hash_secret(secret), CalendarFeed.revoked_at.is_(None))
                    # The owner's venues in the same round trip: every poll re-checks the owner's rights.
                    .options(joinedload(User.assignments))
                )
            )
            .unique()
            .first()
        )
        if row is None:
            raise gone
        feed, owner = row
        if not owner.is_active:
            raise gone
        try:
            target = await self.target(owner, FeedScope(feed.scope), feed.target_id)
        except (NotFound, Forbidden, ValidationFailed):
            raise gone from None
        return ResolvedFeed(feed, owner, target)

    async def fetch(
        self,
        secret: str | None,
        *,
        if_none_match: str | None = None,
        if_modified_since: str | None = None,
        accept_gzip: bool = False,
        cache: RenderCache | None = None,
    ) -> FeedAnswer:
        """Answer a calendar app's poll: ``304`` when its validators still match, else the body, from the
        render cache when this version was rendered before in this process."""
        cache = cache or render_cache
        resolved = await self.resolve(secret)
        window = FeedWindow.at(self.now)
        version = await self.version(resolved, window)
        feed = resolved.feed
        record = feed.last_fetched_at is None or feed.last_fetched_at <= self.now - FETCH_RECORD_INTERVAL
        filename = f"seoulrun-{feed.scope}{'-' + str(feed.target_id) if feed.target_id else ''}.ics"
        if _not_modified(version, if_none_match, if_modified_since):
            return FeedAnswer(304, version.etag, version.last_modified, filename, feed.id, self.now, record)

        async def render() -> RenderedFeed:
            meta, events = await self.events(resolved, window)
            now = self.now

            def work() -> RenderedFeed:
                body = render_calendar(meta, events, now=now)
                return RenderedFeed(body, gzip.compress(body, compresslevel=6, mtime=0), len(events))

            # Most of a second of CPU for 2,000 events: in a worker thread, so that the event loop keeps
            # answering other requests (304s, /health) in between instead of stalling for all of it.
            return await anyio.to_thread.run_sync(work)

        rendered = await cache.get_or_render(version.key, render)
        return FeedAnswer(
            200,
            version.etag,
            version.last_modified,
            filename,
            feed.id,
            self.now,
            record,
            body=rendered.gzipped if accept_gzip else rendered.body,
            gzipped=accept_gzip,
        )

    # --- versions --------------------------------------------------------------------------------

    async def version(self, resolved: ResolvedFeed, window: FeedWindow) -> FeedVersion:
        """The feed's validators from one aggregate query over the rows it shows.

        Each part gives (count, latest updated_at, three sums). A change of any shown row moves at least
        one of them: a new or cancelled booking moves a count and a ``sequence`` sum, a place taken moves
        ``taken``, an edited venue or programme its ``updated_at``.
        """
        target = resolved.target
        params: dict[str, Any] = {"start": window.start, "end": window.end}
        if target.scope == FeedScope.ME:
            params["owner"] = resolved.owner.id
        else:
            assert target.venue is not None
            params["venue"] = target.venue.id
            if target.space is not None:
                params["space"] = target.space.id
            if target.program is not None:
                params["program"] = target.program.id
        rows = (await self.session.execute(version_statement(target.scope), params)).all()
        facts = sorted((int(r[0]), int(r[1] or 0), r[2], int(r[3] or 0), int(r[4] or 0), int(r[5] or 0)) for r in rows)
        updated = [r[2] for r in facts if r[2] is not None]
        # Not before today's midnight in Seoul: the window moves by a day then, and an app that only
        # sends If-Modified-Since must fetch the moved window.
        last_modified = max([*updated, resolved.feed.created_at, window.today_start]).replace(microsecond=0)
        owner_part = resolved.owner.id if target.scope == FeedScope.ME else ""
        material = "|".join(
            [
                RENDER_VERSION,
                self.links.base_url,
                target.scope.value,
                str(target.target_id or ""),
                str(owner_part),
                window.today.isoformat(),
                *(f"{p}:{n}:{u.isoformat() if u else '-'}:{a}:{b}:{c}" for p, n, u, a, b, c in facts),
            ]
        )
        digest = hashlib.sha256(material.encode()).hexdigest()[:32]
        return FeedVersion(etag=f'W/"{digest}"', last_modified=last_modified, key=digest)

    # --- rows and events -------------------------------------------------------------------------

    async def events(self, resolved: ResolvedFeed, window: FeedWindow) -> tuple[CalendarMeta, list[FeedEvent]]:
        """The calendar's name and its events, in start order; only on a render-cache miss."""
        target = resolved.target
        meta = CalendarMeta(
            name=target.name,
            description=(
                f"서울런 4050 구독 캘린더: {window.first_day} ~ {window.last_day} "
                f"(지난 {WINDOW_BACK_DAYS}일부터 앞으로 {WINDOW_AHEAD_DAYS}일). "
                f"Seoul Run 4050 calendar subscription: {window.first_day} to {window.last_day} "
                f"({WINDOW_BACK_DAYS} days back, {WINDOW_AHEAD_DAYS} days ahead)."
            ),
            first_day=window.first_day,
            last_day=window.last_day,
        )
        if target.scope == FeedScope.ME:
            events = [booking_event(row, self.links) for row in await self._my_bookings(resolved.owner.id, window)]
        elif target.scope == FeedScope.PROGRAM:
            events = [session_event(row, self.links) for row in await self._sessions(target, window)]
        else:
            slot_events = [slot_event(row, self.links) for row in await self._slots(target, window)]
            stays = [stay_event(row, self.links) for row in await self._stays(target, window)]
            events = sorted([*slot_events, *stays], key=lambda e: (e.start, e.uid))
        return meta, events

    @staticmethod
    def _place(venue: Venue, space_name: str, space_name_en: str, shape: str) -> Place:
        return Place(
            venue_id=venue.id,
            venue_name=venue.name,
            venue_name_en=venue.name_en,
            address=venue.address,
            lat=venue.lat,
            lon=venue.lon,
            space_name=space_name,
            space_name_en=space_name_en,
            space_shape=shape,
        )

    async def _slots(self, target: FeedTarget, window: FeedWindow) -> list[SlotRow]:
        venue = target.venue
        assert venue is not None
        scope_filter = Slot.space_id == target.space.id if target.space is not None else Slot.venue_id == venue.id
        rows = await self.session.execute(
            select(
                Slot.id,
                Slot.starts_at,
                Slot.ends_at,
                Slot.capacity,
                Slot.taken,
                Slot.status,
                Slot.origin,
                Slot.note,
                Slot.sequence,
                Slot.updated_at,
                Space.name,
                Space.name_en,
                Space.shape,
                Program.id,
                Program.title,
                Program.title_en,
            )
            .join(Space, Space.id == Slot.space_id)
            .outerjoin(ProgramSession, ProgramSession.slot_id == Slot.id)
            .outerjoin(Program, Program.id == ProgramSession.program_id)
            .where(scope_filter, window.overlaps(Slot.starts_at, Slot.ends_at), _shown_slot())
            .order_by(Slot.starts_at, Slot.id)
        )
        places: dict[tuple[str, str, str], Place] = {}
        out: list[SlotRow] = []
        for (
            slot_id,
            starts_at,
            ends_at,
            capacity,
            taken,
            status,
            origin,
            note,
            sequence,
            updated_at,
            space_name,
            space_name_en,
            shape,
            program_id,
            title,
            title_en,
        ) in rows:
            key = (space_name, space_name_en, shape)
            place = places.get(key) or places.setdefault(key, self._place(venue, *key))
            out.append(
                SlotRow(
                    id=slot_id,
                    place=place,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    capacity=capacity,
                    taken=taken,
                    status=status,
                    origin=origin,
                    note=note,
                    sequence=sequence,
                    updated_at=updated_at,
                    program_id=program_id,
                    program_title=title,
                    program_title_en=title_en,
                )
            )
        return out

    async def _stays(self, target: FeedTarget, window: FeedWindow) -> list[BookingRow]:
        venue = target.venue
        assert venue is not None
        scope_filter = Booking.space_id == target.space.id if target.space is not None else Booking.venue_id == venue.id
        rows = await self.session.execute(
            select(Booking, Space.name, Space.name_en, Space.shape, User.name)
            .join(Space, Space.id == Booking.space_id)
            .join(User, User.id == Booking.user_id)
            .where(
                scope_filter,
                Booking.check_in.is_not(None),
                window.overlaps(Booking.starts_at, Booking.ends_at),
                _shown_booking(window),
            )
            .order_by(Booking.starts_at, Booking.id)
        )
        return [
            _booking_row(b, self._place(venue, space_name, space_name_en, shape), holder_name=holder)
            for b, space_name, space_name_en, shape, holder in rows
        ]

    async def _my_bookings(self, user_id: int, window: FeedWindow) -> list[BookingRow]:
        rows = await self.session.execute(
            select(Booking, Venue, Space.name, Space.name_en, Space.shape, Program.id, Program.title, Program.title_en)
            .join(Venue, Venue.id == Booking.venue_id)
            .join(Space, Space.id == Booking.space_id)
            .outerjoin(ProgramSession, ProgramSession.slot_id == Booking.slot_id)
            .outerjoin(Program, Program.id == ProgramSession.program_id)
            .where(
                Booking.user_id == user_id,
                window.overlaps(Booking.starts_at, Booking.ends_at),
                _shown_booking(window),
            )
            .order_by(Booking.starts_at, Booking.id)
        )
        return [
            _booking_row(
                b,
                self._place(venue, space_name, space_name_en, shape),
                program_id=program_id,
                program_title=title,
                program_title_en=title_en,
            )
            for b, venue, space_name, space_name_en, shape, program_id, title, title_en in rows
        ]

    async def _sessions(self, target: FeedTarget, window: FeedWindow) -> list[SessionRow]:
        program, venue, space = target.program, target.venue, target.space
        assert program is not None
        assert venue is not None
        assert space is not None
        rows = (
            await self.session.execute(
                select(ProgramSession, Slot)
                .join(Slot, Slot.id == ProgramSession.slot_id)
                .where(
                    ProgramSession.program_id == program.id,
                    window.overlaps(Slot.starts_at, Slot.ends_at),
                    or_(
                        ProgramSession.status != SessionStatus.CANCELLED,
                        ProgramSession.updated_at >= window.cancelled_since,
                    ),
                )
                .order_by(Slot.starts_at, ProgramSession.id)
            )
        ).all()
        roster: dict[int, list[RosterLine]] = {}
        if rows:
            people = await self.session.execute(
                select(Booking.slot_id, Booking.status, Booking.party_size, User.name)
                .join(User, User.id == Booking.user_id)
                .join(ProgramSession, ProgramSession.slot_id == Booking.slot_id)
                .where(ProgramSession.program_id == program.id, Booking.status.in_(ROSTER_STATUSES))
                .order_by(Booking.id)
            )
            for slot_id, status, party_size, name in people:
                roster.setdefault(slot_id, []).append(RosterLine(name, party_size, status))
        place = self._place(venue, space.name, space.name_en, space.shape)
        return [
            SessionRow(
                id=s.id,
                program_id=program.id,
                title=program.title,
                title_en=program.title_en,
                place=place,
                status=s.status,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                capacity=slot.capacity,
                taken=slot.taken,
                sequence=s.sequence,
                updated_at=max(s.updated_at, slot.updated_at),
                roster=tuple(roster.get(slot.id, ())),
            )
            for s, slot in rows
        ]


def _version_part(n: int, updated: Any, *sums: Any) -> list[Any]:
    """One part of a version query: (part, count, latest updated_at, sum, sum, sum), zeros for missing sums."""
    zero: ColumnElement[int] = literal_column("0")
    padded = [func.coalesce(func.sum(s), 0) for s in sums] + [zero] * (3 - len(sums))
    return [
        literal_column(str(n)).label("part"),
        func.count().label("rows"),
        func.max(updated).label("updated"),
        *(column.label(f"sum_{i}") for i, column in enumerate(padded)),
    ]


@functools.cache
def version_statement(scope: FeedScope) -> CompoundSelect[Any]:
    """The version query of a scope, built once with bound parameters (``:venue``, ``:space``,
    ``:program``, ``:owner``, ``:start``, ``:end``): building and hashing the statement for every poll
    cost more than running it."""
    part = _version_part
    start: BindParameter[datetime] = bindparam("start", type_=DateTimeUTC(timezone=True))
    end: BindParameter[datetime] = bindparam("end", type_=DateTimeUTC(timezone=True))
    if scope == FeedScope.ME:
        mine = and_(
            Booking.user_id == bindparam("owner", type_=Integer), Booking.starts_at < end, Booking.ends_at > start
        )
        return union_all(
            select(*part(1, Booking.updated_at, Booking.sequence, Booking.party_size)).where(mine),
            select(*part(2, Venue.updated_at))
            .select_from(Booking)
            .join(Venue, Venue.id == Booking.venue_id)
            .where(mine),
            select(*part(3, Space.updated_at))
            .select_from(Booking)
            .join(Space, Space.id == Booking.space_id)
            .where(mine),
            select(*part(4, Program.updated_at))
            .select_from(Booking)
            .join(ProgramSession, ProgramSession.slot_id == Booking.slot_id)
            .join(Program, Program.id == ProgramSession.program_id)
            .where(mine),
        )
    venue: BindParameter[int] = bindparam("venue", type_=Integer)
    if scope == FeedScope.PROGRAM:
        # A programme's sessions, all of them (a few dozen): no window needed to bound the work.
        program: BindParameter[int] = bindparam("program", type_=Integer)
        sessions = ProgramSession.program_id == program
        return union_all(
            select(*part(1, ProgramSession.updated_at, ProgramSession.sequence)).where(sessions),
            select(*part(2, Slot.updated_at, Slot.sequence, Slot.taken, Slot.capacity))
            .select_from(ProgramSession)
            .join(Slot, Slot.id == ProgramSession.slot_id)
            .where(sessions),
            select(*part(3, Booking.updated_at, Booking.sequence, Booking.party_size))
            .select_from(ProgramSession)
            .join(Booking, Booking.slot_id == ProgramSession.slot_id)
            .where(sessions),
            select(*part(4, Program.updated_at)).where(Program.id == program),
            select(*part(5, Venue.updated_at)).where(Venue.id == venue),
            select(*part(6, Space.updated_at))
            .select_from(Program)
            .join(Space, Space.id == Program.space_id)
            .where(Program.id == program),
        )
    if scope == FeedScope.SPACE:
        space: BindParameter[int] = bindparam("space", type_=Integer)
        slots, bookings = Slot.space_id == space, Booking.space_id == space
        programs, spaces = Program.space_id == space, Space.id == space
    else:
        slots, bookings = Slot.venue_id == venue, Booking.venue_id == venue
        programs, spaces = Program.venue_id == venue, Space.venue_id == venue
    return union_all(
        select(*part(1, Slot.updated_at, Slot.sequence, Slot.taken, Slot.capacity)).where(
            slots, Slot.starts_at < end, Slot.ends_at > start, _shown_slot()
        ),
        # Every booking in the window, whatever its status: a place taken or given back shows in the
        # counts of the slots, and its updated_at is what Last-Modified can rely on.
        select(*part(2, Booking.updated_at, Booking.sequence, Booking.party_size)).where(
            bookings, Booking.starts_at < end, Booking.ends_at > start
        ),
        select(*part(3, Program.updated_at)).where(programs),
        select(*part(4, Space.updated_at)).where(spaces),
        select(*part(5, Venue.updated_at)).where(Venue.id == venue),
        # A closure closes slots with a Core UPDATE (sequence bumped, updated_at not): its own row dates it.
        select(*part(6, Closure.updated_at)).where(Closure.venue_id == venue),
    )


def _shown_slot() -> ColumnElement[bool]:
    """Slots staff follow: sessions and one-off slots always; generated slots once someone booked them
    (an empty practice hour every hour of every day would bury the calendar)."""
    return or_(Slot.origin != SlotOrigin.GENERATED, Slot.taken > 0)


def _shown_booking(window: FeedWindow) -> ColumnElement[bool]:
    """Live bookings, and ended ones (cancelled, expired, no-show) for 30 days after they ended."""
    return or_(Booking.status.not_in(ENDED_BOOKING_STATUSES), Booking.updated_at >= window.cancelled_since)


def _booking_row(booking: Booking, place: Place, **extra: Any) -> BookingRow:
    return BookingRow(
        id=booking.id,
        place=place,
        status=booking.status,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        party_size=booking.party_size,
        sequence=booking.sequence,
        updated_at=booking.updated_at,
        check_in=booking.check_in,
        check_out=booking.check_out,
        **extra,
    )


def _etags(header: str) -> set[str]:
    """The entity tags of an If-None-Match header, compared weakly (RFC 9110 §13.1.2)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _not_modified(version: FeedVersion, if_none_match: str | None, if_modified_since: str | None) -> bool:
    if if_none_match is not None:
        # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.1.3).
        tags = _etags(if_none_match)
        return "*" in tags or version.etag.removeprefix("W/") in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            return False
        return version.last_modified <= since
    return False


async def record_fetch(engine: AsyncEngine, feed_id: int, at: datetime) -> None:
    """Note when a feed was last fetched, after the answer has gone out.

    Its own short unit of work, with write intent (GET requests run in read transactions: a write in one
    would upgrade its lock on SQLite and can fail as "database is locked" under load). The WHERE makes
    concurrent polls of the same feed write once. Best effort: a busy database costs the timestamp only.
    """
    token = sqlite_write_intent.set(True)
    try:
        async with unit_of_work(engine) as session:
            await session.execute(
                update(CalendarFeed)
                .where(
                    CalendarFeed.id == feed_id,
                    or_(
                        CalendarFeed.last_fetched_at.is_(None),
                        CalendarFeed.last_fetched_at <= at - FETCH_RECORD_INTERVAL,
                    ),
                )
                .values(last_fetched_at=at)
                .execution_options(synchronize_session=False)
            )
    except (OperationalError, DBAPIError, OSError) as exc:
        log.info("calendar feed %s: last_fetched_at not recorded: %s", feed_id, exc)
    finally:
        sqlite_write_intent.reset(token)


__all__ = [
    "FeedAnswer",
    "FeedService",
    "FeedWindow",
    "RenderCache",
    "feed_urls",
    "hash_secret",
    "http_date",
    "record_fetch",
    "render_cache",
    "secret_of",
]
