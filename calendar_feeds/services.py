"""The calendar feed service the routes call: subscriptions, and answering a calendar app's poll."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from calendar_feeds.cache import RenderCache, RenderedFeed, render_cache
from calendar_feeds.conditional import http_date, not_modified
from calendar_feeds.render import CalendarMeta, Links, render_calendar
from calendar_feeds.rows import FeedRowQueries, FeedRows
from calendar_feeds.schemas import FeedCreate, FeedCreated, FeedRead
from calendar_feeds.subscriptions import FeedTarget, SubscriptionService
from calendar_feeds.versioning import feed_version
from calendar_feeds.window import WINDOW_AHEAD_DAYS, WINDOW_BACK_DAYS, FeedWindow
from core.clock import utcnow
from core.pagination import Page
from core.settings import Settings


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

    @property
    def headers(self) -> dict[str, str]:
        headers = {
            "ETag": self.etag,
            "Last-Modified": http_date(self.last_modified),
            # The url is a secret: no shared cache may keep it, no search engine list it, no page leak it.
            "Cache-Control": "private, max-age=300",
            "Vary": "Accept-Encoding",
            "X-Robots-Tag": "noindex, nofollow",
            "Referrer-Policy": "no-referrer",
        }
        if self.status == 200:
            headers["Content-Disposition"] = f'inline; filename="{self.filename}"'
            if self.gzipped:
                headers["Content-Encoding"] = "gzip"
        return headers


def _render(meta: CalendarMeta, rows: FeedRows, links: Links, now: datetime) -> RenderedFeed:
    """Rows to events to bytes, plain and gzipped: pure CPU, run in a worker thread."""
    events = rows.events(links)
    body = render_calendar(meta, events, now=now)
    return RenderedFeed(body, gzip.compress(body, compresslevel=6, mtime=0), len(events))


class FeedService:
    """Subscriptions, and feeds served cheaply to calendar apps that poll them forever.

    A fetch costs almost nothing when nothing changed:

    1. the secret is hashed and looked up (one indexed query), the owner's right to the target checked
       again (a staff member moved to another venue loses the venue's feed at once);
    2. one aggregate query over the rows the feed shows gives the feed's version, its ``ETag`` and
       ``Last-Modified`` (``versioning``);
    3. a matching ``If-None-Match`` (or ``If-Modified-Since``) answers ``304`` there (``conditional``);
    4. otherwise the rendered body is taken from a small in-process LRU keyed by the version (``cache``),
       and only on a miss are the rows loaded (``rows``) and rendered, in a worker thread, once per
       version even when many requests miss together.

    The window is 30 days back to 180 days ahead, in Seoul days; cancelled bookings and sessions stay in
    it, as ``STATUS:CANCELLED``, for 30 days after they were cancelled, so that apps that cached them drop them.
    """

    def __init__(self, session: AsyncSession, settings: Settings, *, now: datetime | None = None) -> None:
        self.session = session
        self.now = now or utcnow()
        base_url = settings.base_url.rstrip("/")
        self.links = Links(base_url=base_url, host=urlsplit(base_url).hostname or "localhost")
        self.subscriptions = SubscriptionService(session, settings.base_url, now=self.now)
        self.rows = FeedRowQueries(session)

    async def create(self, user: User, data: FeedCreate) -> FeedCreated:
        return await self.subscriptions.create(user, data)

    async def mine(self, user: User, *, limit: int, offset: int) -> Page[FeedRead]:
        return await self.subscriptions.mine(user, limit=limit, offset=offset)

    async def revoke(self, user: User, feed_id: int) -> None:
        await self.subscriptions.revoke(user, feed_id)

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
        resolved = await self.subscriptions.resolve(secret)
        window = FeedWindow.at(self.now)
        version = await feed_version(self.session, resolved, window, self.links.base_url)
        feed = resolved.feed
        record = resolved.fetch_due(self.now)
        filename = f"seoulrun-{feed.scope}{'-' + str(feed.target_id) if feed.target_id else ''}.ics"
        if not_modified(version.etag, version.last_modified, if_none_match, if_modified_since):
            return FeedAnswer(304, version.etag, version.last_modified, filename, feed.id, self.now, record)

        async def render() -> RenderedFeed:
            meta = self.meta(resolved.target, window)
            rows = await self.rows.load(resolved, window)
            # Most of a second of CPU for 2,000 events: in a worker thread, so that the event loop keeps
            # answering other requests (304s, /health) in between instead of stalling for all of it.
            return await anyio.to_thread.run_sync(_render, meta, rows, self.links, self.now)

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

    @staticmethod
    def meta(target: FeedTarget, window: FeedWindow) -> CalendarMeta:
        """The calendar's name and description."""
        return CalendarMeta(
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
