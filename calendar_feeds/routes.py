"""HTTP endpoints of calendar feeds: the owner's subscriptions (``/api/feeds``) and the feed itself
(``/ical/<secret>.ics``), which calendar apps fetch without any login."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, HttpMethod, Request, Response, delete, get, post, route
from litestar.background_tasks import BackgroundTask
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter
from litestar.types import Method
from litestar.types.internal_types import PathParameterDefinition
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import BEARER_SECURITY, provide_current_user
from accounts.models import User
from calendar_feeds.schemas import FeedCreate, FeedCreated, FeedRead
from calendar_feeds.services import FeedService
from calendar_feeds.subscriptions import record_fetch, secret_of
from core.fields import Id
from core.pagination import DEFAULT_LIMIT, Limit, Offset, Page
from core.ratelimit import RateLimit, rate_limit
from core.settings import Settings

AUTH = {"current_user": Provide(provide_current_user)}
# Litestar adds "; charset=utf-8" to text/ media types.
CALENDAR_MEDIA_TYPE = "text/calendar"


class FeedController(Controller):
    path = "/api/feeds"
    tags = ["calendar feeds"]
    dependencies = AUTH
    security = BEARER_SECURITY

    @post(operation_id="createFeed", summary="Subscribe a calendar app (캘린더 구독 만들기)")
    async def create_feed(
        self, data: FeedCreate, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> FeedCreated:
        """A secret url for a calendar app: ``venue`` and ``space`` for the venue's staff and managers,
        ``program`` for its instructors and the venue's staff, ``me`` for anyone's own bookings. The url
        is shown only in this answer; ``webcal_url`` opens the app's subscribe dialogue."""
        return await FeedService(db_session, settings).create(current_user, data)

    @get(operation_id="listFeeds", summary="My calendar subscriptions (내 캘린더 구독)")
    async def list_feeds(
        self,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[FeedRead]:
        """The caller's live feeds, with when each was last fetched; without their secret urls."""
        return await FeedService(db_session, settings).mine(current_user, limit=limit, offset=offset)

    @delete("/{feed_id:int}", operation_id="revokeFeed", summary="Revoke a subscription (구독 취소)")
    async def revoke_feed(self, feed_id: Id, current_user: User, db_session: AsyncSession, settings: Settings) -> None:
        """Its url answers ``404`` from now on."""
        await FeedService(db_session, settings).revoke(current_user, feed_id)


def _feed_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return f"feed:{connection.path_params.get('filename', '')}"


def _feed_operation_id(handler: HTTPRouteHandler, method: Method, path: list[str | PathParameterDefinition]) -> str:
    return "calendarFeedHead" if method == HttpMethod.HEAD else "calendarFeed"


@route(
    "/ical/{filename:str}",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    operation_id=_feed_operation_id,
    summary="An iCalendar feed (RFC 5545), for calendar apps",
    tags=["calendar feeds"],
    media_type=CALENDAR_MEDIA_TYPE,
    # Per address, and per feed url: a calendar app has no account, its url stands for one.
    guards=[
        rate_limit(RateLimit.FEED, account=lambda connection: f"feed:{connection.path_params.get('filename', '')}")
    ],
)
async def ical_feed(
    filename: Annotated[str, Parameter(description="<secret>.ics, as given by POST /api/feeds")],
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    state: State,
) -> Response[bytes]:
    """The calendar behind a secret url; ``404`` once revoked. ``ETag`` and ``Last-Modified`` are set, and
    ``If-None-Match`` / ``If-Modified-Since`` give ``304`` while nothing in the feed changed. ``HEAD``
    answers as ``GET`` does, ``Content-Length`` included, without the body."""
    answer = await FeedService(db_session, settings).fetch(
        secret_of(filename),
        if_none_match=request.headers.get("if-none-match"),
        if_modified_since=request.headers.get("if-modified-since"),
        accept_gzip=_accepts_gzip(request.headers.get("accept-encoding", "")),
    )
    background = (
        BackgroundTask(record_fetch, state.engine, answer.feed_id, answer.fetched_at) if answer.record_fetch else None
    )
    body, headers = answer.body, answer.headers
    if request.method == HttpMethod.HEAD:
        # Calendar apps probe with HEAD before they fetch: the same status and headers, and no body.
        if answer.status == 200:
            headers["Content-Length"] = str(len(body))
        body = b""
    return Response(
        body, status_code=answer.status, media_type=CALENDAR_MEDIA_TYPE, headers=headers, background=background
    )


def _accepts_gzip(header: str) -> bool:
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False
