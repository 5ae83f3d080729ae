"""Feed subscriptions: their secret urls, creating, listing and revoking them, and who may follow what."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import joinedload

from accounts.models import Role, User
from calendar_feeds.models import CalendarFeed, FeedScope
from calendar_feeds.schemas import FeedCreate, FeedCreated, FeedRead
from core.catalogue_version import quiet
from core.clock import to_kst
from core.database import sqlite_write_intent, unit_of_work
from core.errors import Forbidden, NotFound, ValidationFailed, field_error
from core.pagination import Page, count
from programs.models import Program, ProgramInstructor
from venues.models import Space, Venue

log = logging.getLogger(__name__)

# 32 random bytes: 256 bits, far beyond guessing; token_urlsafe gives 43 url-safe characters.
SECRET_BYTES: Final = 32
SECRET_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{32,100}$")
# last_fetched_at is for people ("is my calendar app still polling?"), not an access log: once a minute.
FETCH_RECORD_INTERVAL: Final = timedelta(minutes=1)

STAFF_ROLES: Final = (Role.STAFF, Role.MANAGER)


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


@dataclass(frozen=True, slots=True)
class FeedTarget:
    """What a feed shows, loaded once per fetch: the venue (all scopes but ``me``), the space or programme."""

    scope: FeedScope
    target_id: int | None
    name: str
    venue: Venue | None = None
    space: Space | None = None
    program: Program | None = None


@dataclass(frozen=True, slots=True)
class ResolvedFeed:
    """A live feed behind a secret url, its owner, and the target the owner may still follow."""

    feed: CalendarFeed
    owner: User
    target: FeedTarget

    def fetch_due(self, now: datetime) -> bool:
        """Whether this fetch should be written down (``last_fetched_at`` more than a minute old)."""
        last = self.feed.last_fetched_at
        return last is None or last <= now - FETCH_RECORD_INTERVAL


def _scope(value: str) -> FeedScope:
    try:
        return FeedScope(value)
    except ValueError:
        raise ValidationFailed(
            "feed.unknown_scope",
            errors=[field_error("scope", "field.one_of", choices="venue, space, program, me")],
            scope=value,
        ) from None


def _require_staff(user: User, venue_id: int) -> None:
    if not user.can_work_at(venue_id, *STAFF_ROLES):
        raise Forbidden("feed.staff_only", venue_id=venue_id)


class SubscriptionService:
    """The ``calendar_feed`` rows: the only table this package writes."""

    def __init__(self, session: AsyncSession, base_url: str, *, now: datetime) -> None:
        self.session = session
        self.base_url = base_url
        self.now = now

    # --- targets and access ----------------------------------------------------------------------

    async def target(self, user: User, scope: FeedScope, target_id: int | None) -> FeedTarget:
        """The feed's target, if ``user`` may follow it: ``404`` for an unknown target, ``403`` for
        someone else's venue or programme."""
        if scope == FeedScope.ME:
            return FeedTarget(scope, None, "서울런 4050 · 내 예약 (My bookings)")
        if target_id is None:
            raise ValidationFailed(
                "feed.target_required",
                errors=[field_error("target_id", "field.required_for_scope", scope=scope.value)],
                scope=scope.value,
            )
        if scope == FeedScope.VENUE:
            venue = await self.session.get(Venue, target_id)
            if venue is None:
                raise NotFound("venue.not_found", venue_id=target_id)
            _require_staff(user, venue.id)
            name = f"서울런 4050 · {venue.name} 일정 ({venue.name_en} schedule)"
            return FeedTarget(scope, target_id, name, venue=venue)
        if scope == FeedScope.SPACE:
            row = (
                await self.session.execute(
                    select(Space, Venue).join(Venue, Venue.id == Space.venue_id).where(Space.id == target_id)
                )
            ).first()
            if row is None:
                raise NotFound("space.not_found", space_id=target_id)
            space, venue = row
            _require_staff(user, venue.id)
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
            raise NotFound("program.not_found", program_id=target_id)
        program, venue, space = program_row
        if not user.can_work_at(venue.id, *STAFF_ROLES):
            teaches = await self.session.scalar(
                select(ProgramInstructor.id).where(
                    ProgramInstructor.program_id == program.id, ProgramInstructor.user_id == user.id
                )
            )
            if teaches is None:
                raise Forbidden("feed.instructors_and_staff_only", program_id=program.id)
        name = f"서울런 4050 · {program.title} ({program.title_en})"
        return FeedTarget(scope, target_id, name, venue=venue, space=space, program=program)

    async def resolve(self, secret: str | None) -> ResolvedFeed:
        """The live feed behind a secret, if its owner may still follow its target. Every failure is the
        same ``404``: whoever holds a url learns nothing from a revoked, unknown or no-longer-allowed one."""
        gone = NotFound("feed.not_found")
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

    # --- subscriptions ---------------------------------------------------------------------------

    async def create(self, user: User, data: FeedCreate) -> FeedCreated:
        scope = _scope(data.scope)
        target_id = data.target_id
        if scope == FeedScope.ME:
            if target_id not in (None, user.id):
                raise ValidationFailed(
                    "feed.me_is_yours", errors=[field_error("target_id", "field.omit_or_own_account")]
                )
            target_id = None
        target = await self.target(user, scope, target_id)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        feed = CalendarFeed(user_id=user.id, scope=scope.value, target_id=target_id, secret_hash=hash_secret(secret))
        self.session.add(feed)
        await self.session.flush()
        url, webcal, https = feed_urls(self.base_url, secret)
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
            raise NotFound("feed.subscription_not_found", feed_id=feed_id)


async def record_fetch(engine: AsyncEngine, feed_id: int, at: datetime) -> None:
    """Note when a feed was last fetched, after the answer has gone out.

    Its own short unit of work, with write intent (GET requests run in read transactions: a write in one
    would upgrade its lock on SQLite and can fail as "database is locked" under load). The WHERE makes
    concurrent polls of the same feed write once. Best effort: a busy database costs the timestamp only.
    """
    token = sqlite_write_intent.set(True)
    try:
        async with unit_of_work(engine) as session:
            quiet(session)  # nothing a cached read shows (core.catalogue_version)
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
