"""A citizen's own pages: ``/me/bookings`` (status, cancel with its deadline, accept an offer),
``/me/bookings/{id}`` with its QR code (served here for the session cookie, as the API serves it for a
bearer token), ``/me/calendar`` (subscribe in a calendar app) and ``/me/notices`` (notices and how they
reach the person)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.services import BookingService
from calendar_feeds.schemas import FeedCreate
from calendar_feeds.services import FeedService
from checkin import qr
from checkin.services import CheckinService
from core.clock import utcnow
from core.settings import Settings
from notifications.notices import mark_read, notices_of
from notifications.preferences import preferences_of, set_preferences
from notifications.schemas import PreferencesUpdate
from web.auth import CITIZEN, SIGNED_IN
from web.citizen_views import my_booking, my_bookings
from web.forms import FormState, attempt
from web.pages import PageContext

PAGE_SIZE = 20
Offset = Annotated[int, Parameter(ge=0)]
Limit = Annotated[int, Parameter(ge=1, le=100)]
# "upcoming" (default): what is still to come or waiting; "all": everything, the past included.
SHOWS = {"upcoming": ["held", "confirmed", "waitlisted", "offered", "checked_in"], "all": None}
QR_HEADERS = {"Cache-Control": "private, no-store"}


# --- bookings -----------------------------------------------------------------------------------------


@get("/me/bookings", name="page.my_bookings", dependencies={"user": CITIZEN})
async def bookings_page(
    ctx: PageContext,
    db_session: AsyncSession,
    user: User,
    show: Annotated[str, Parameter(max_length=20)] = "upcoming",
    limit: Limit = PAGE_SIZE,
    offset: Offset = 0,
) -> Template:
    show = show if show in SHOWS else "upcoming"
    view = await my_bookings(db_session, user, statuses=SHOWS[show], limit=limit, offset=offset, now=utcnow())
    return ctx.render("me/bookings.html.j2", partial="me/_bookings.html.j2", view=view, page=view.page, show=show)


@get("/me/bookings/{booking_id:int}", name="page.my_booking", dependencies={"user": CITIZEN})
async def booking_page(ctx: PageContext, db_session: AsyncSession, user: User, booking_id: int) -> Template:
    item = await my_booking(db_session, user, booking_id, now=utcnow())
    return ctx.render("me/booking.html.j2", item=item, refusal=None)


async def _code(db_session: AsyncSession, settings: Settings, user: User, booking_id: int) -> str:
    service = CheckinService(db_session, settings)
    return await service.code_for(await service.own_booking(user, booking_id))


@get("/me/bookings/{booking_id:int}/qr.png", name="page.my_booking.qr_png", dependencies={"user": CITIZEN})
async def booking_qr_png(db_session: AsyncSession, settings: Settings, user: User, booking_id: int) -> Response[bytes]:
    code = await _code(db_session, settings, user, booking_id)
    return Response(qr.png(code), media_type="image/png", headers=QR_HEADERS)


@get("/me/bookings/{booking_id:int}/qr.svg", name="page.my_booking.qr_svg", dependencies={"user": CITIZEN})
async def booking_qr_svg(db_session: AsyncSession, settings: Settings, user: User, booking_id: int) -> Response[bytes]:
    code = await _code(db_session, settings, user, booking_id)
    return Response(qr.svg(code), media_type="image/svg+xml", headers=QR_HEADERS)


@get("/me/bookings/{booking_id:int}/cancel", name="page.my_booking.cancel_confirm", dependencies={"user": CITIZEN})
async def cancel_page(ctx: PageContext, db_session: AsyncSession, user: User, booking_id: int) -> Template:
    """Ask before cancelling: the deadline, and whether this cancel would be late."""
    item = await my_booking(db_session, user, booking_id, now=utcnow())
    return ctx.render("me/cancel.html.j2", item=item, refusal=None)


@post("/me/bookings/{booking_id:int}/cancel", name="page.my_booking.cancel", dependencies={"user": CITIZEN})
async def cancel(ctx: PageContext, db_session: AsyncSession, user: User, booking_id: int) -> Response[Any]:
    async with attempt(db_session) as refused:
        await BookingService(db_session).cancel(user, booking_id)
    if refused.error is not None:
        item = await my_booking(db_session, user, booking_id, now=utcnow())
        return ctx.render("me/cancel.html.j2", status=422, item=item, refusal=refused.error)
    ctx.flash("web.my_booking.cancelled")
    return ctx.redirect(f"/me/bookings/{booking_id}")


@post("/me/bookings/{booking_id:int}/accept", name="page.my_booking.accept", dependencies={"user": CITIZEN})
async def accept(ctx: PageContext, db_session: AsyncSession, user: User, booking_id: int) -> Response[Any]:
    async with attempt(db_session) as refused:
        await BookingService(db_session).accept_offer(user, booking_id)
    if refused.error is not None:
        item = await my_booking(db_session, user, booking_id, now=utcnow())
        return ctx.render("me/booking.html.j2", status=422, item=item, refusal=refused.error)
    ctx.flash("web.my_booking.accepted")
    return ctx.redirect(f"/me/bookings/{booking_id}")


# --- calendar -----------------------------------------------------------------------------------------


@get("/me/calendar", name="page.my_calendar", dependencies={"user": SIGNED_IN})
async def calendar_page(ctx: PageContext, db_session: AsyncSession, settings: Settings, user: User) -> Template:
    feeds = await FeedService(db_session, settings).mine(user, limit=100, offset=0)
    return ctx.render("me/calendar.html.j2", feeds=feeds, created=None)


@post("/me/calendar", name="page.my_calendar.create", dependencies={"user": SIGNED_IN})
async def calendar_create(ctx: PageContext, db_session: AsyncSession, settings: Settings, user: User) -> Template:
    """A new feed of the person's own bookings. Its secret url is shown on this answer only (only its hash
    is kept), so the page is rendered here rather than after a redirect."""
    service = FeedService(db_session, settings)
    created = await service.create(user, FeedCreate(scope="me"))
    feeds = await service.mine(user, limit=100, offset=0)
    return ctx.render("me/calendar.html.j2", status=201, feeds=feeds, created=created)


@post("/me/calendar/{feed_id:int}/revoke", name="page.my_calendar.revoke", dependencies={"user": SIGNED_IN})
async def calendar_revoke(
    ctx: PageContext, db_session: AsyncSession, settings: Settings, user: User, feed_id: int
) -> Response[Any]:
    await FeedService(db_session, settings).revoke(user, feed_id)
    ctx.flash("web.calendar.revoked")
    return ctx.redirect("/me/calendar")


# --- notices ------------------------------------------------------------------------------------------


async def _render_notices(
    ctx: PageContext, db_session: AsyncSession, user: User, *, offset: int, limit: int, form: FormState, status: int
) -> Template:
    page = await notices_of(db_session, user, unread=False, limit=limit, offset=offset)
    preferences = await preferences_of(db_session, user)
    return ctx.render(
        "me/notices.html.j2",
        partial="me/_notices.html.j2",
        status=status,
        page=page,
        preferences=preferences,
        form=form,
        has_phone=bool(user.phone),
    )


@get("/me/notices", name="page.my_notices", dependencies={"user": SIGNED_IN})
async def notices_page(
    ctx: PageContext, db_session: AsyncSession, user: User, limit: Limit = PAGE_SIZE, offset: Offset = 0
) -> Template:
    form = FormState(locale=ctx.locale, order=("email", "sms"))
    return await _render_notices(ctx, db_session, user, offset=offset, limit=limit, form=form, status=200)


@post("/me/notices/{notice_id:int}/read", name="page.my_notices.read", dependencies={"user": SIGNED_IN})
async def notice_read(ctx: PageContext, db_session: AsyncSession, user: User, notice_id: int) -> Response[Any]:
    await mark_read(db_session, user, notice_id, utcnow())
    return ctx.redirect(f"/me/notices#notice-{notice_id}")


@post("/me/notices/preferences", name="page.my_notices.preferences", dependencies={"user": SIGNED_IN})
async def notice_preferences(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, user: User
) -> Response[Any]:
    data = await request.form()
    wanted = PreferencesUpdate(email=data.get("email") == "1", sms=data.get("sms") == "1")
    form = FormState(locale=ctx.locale, order=("email", "sms"))
    async with attempt(db_session) as refused:
        await set_preferences(db_session, user, wanted, utcnow())
    if refused.error is not None:
        form.add_domain_error(refused.error)
        return await _render_notices(ctx, db_session, user, offset=0, limit=PAGE_SIZE, form=form, status=422)
    ctx.flash("web.notices.preferences_saved")
    return ctx.redirect("/me/notices")
