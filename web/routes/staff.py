"""The door's pages: ``/staff`` (my venues), ``/staff/scan`` (the scanner, camera or typed code, online
and offline) and ``/staff/venues/{id}/day`` (who is booked when, who has arrived, walk-ins, check-out,
undo).

The scanner's script talks to ``/staff/checkin/...``: the API's own check-in endpoints (same bodies, same
answers, the same ``CheckinService`` and ``checkin.offline.Offline`` calls) for the signed-in session
of the page. The JSON API takes bearer tokens only and never the cookie; these take the cookie and the
CSRF header, so a page's script needs no token of its own.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final

import msgspec
from litestar import Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter, QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User
from checkin.offline import Offline
from checkin.schemas import Manifest, ScanRequest, ScanResult, SyncRequest, SyncResult, WalkInCreate
from checkin.services import CheckinService
from core.clock import today_kst, utcnow
from core.errors import NotFound
from core.settings import Settings
from core.validation import check_optional_day
from web.assets import Assets
from web.auth import STAFF_OF_VENUE, PageForbidden, require_signed_in
from web.forms import FieldSpec, Form, FormState, attempt
from web.pages import PageContext
from web.staff import scan_messages, staff_venues, venue_day, works_at_venues

Day = Annotated[date | None, QueryParameter(name="date")]
# The scanner's service worker: its URL decides what it may serve (this folder, so /staff/scan).
SERVICE_WORKER: Final = "sw.js"
# What the page itself loads, cached by the service worker so that the scanner opens without a network.
SCANNER_ASSETS: Final = (("static", "app.css"), ("static", "staff.css"), ("static", "app.js"), ("static", "scanner.js"))
SCANNER_VENDOR_ASSETS: Final = (
    ("pretendard", "dist/web/variable/pretendardvariable-dynamic-subset.css"),
    ("htmx.org", "dist/htmx.min.js"),
    ("jsqr", "dist/jsQR.js"),
    ("@noble/ed25519", "index.js"),
)

WALK_IN = Form(
    WalkInCreate,
    {
        "slot_id": FieldSpec("web.day.walk_in_slot", "web.day.walk_in_slot_invalid"),
        "name": FieldSpec("web.day.walk_in_name"),
        "party_size": FieldSpec("web.day.walk_in_party", "web.day.walk_in_party_invalid"),
        "phone": FieldSpec("web.day.walk_in_phone", "web.signup.phone_invalid"),
    },
)
SCAN = Form(ScanRequest, {"venue_id": FieldSpec("web.scan.venue"), "payload": FieldSpec("web.scan.code")})


def require_staff_member(request: Request[Any, Any, Any], viewer: User | None) -> User:
    """Staff, managers and administrators: the people who work at a door."""
    user = require_signed_in(request, viewer)
    if not works_at_venues(user):
        raise PageForbidden("web.forbidden.staff_only")
    return user


STAFF_MEMBER: Final = Provide(require_staff_member, sync_to_thread=False)


def _day_url(venue_id: int, day: date | None) -> str:
    return f"/staff/venues/{venue_id}/day" + (f"?date={day.isoformat()}" if day else "")


def _form_day(data: dict[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(data.get("date", "")))
    except ValueError:
        return None


# --- staff home ------------------------------------------------------------------------------------


@get("/staff", name="page.staff_home", dependencies={"user": STAFF_MEMBER})
async def staff_home(ctx: PageContext, user: User, db_session: AsyncSession) -> Template:
    return ctx.render("staff/home.html.j2", venues=await staff_venues(db_session, user), today=today_kst())


# --- the scanner -----------------------------------------------------------------------------------


async def _scanner(
    ctx: PageContext,
    user: User,
    session: AsyncSession,
    venue_id: int | None,
    *,
    result: ScanResult | None = None,
    form: FormState | None = None,
    status: int = 200,
) -> Template:
    venues = await staff_venues(session, user)
    if venue_id is None and len(venues) == 1 and user.role != Role.ADMIN:
        venue_id = venues[0].id
    venue = None
    if venue_id is not None:
        if not user.can_work_at(venue_id, Role.STAFF, Role.MANAGER):
            raise PageForbidden("web.forbidden.staff_of_venue", venue_id=venue_id)
        venue = next((v for v in venues if v.id == venue_id), None)
    return ctx.render(
        "staff/scan.html.j2",
        status=status,
        venues=venues,
        venue=venue,
        result=result,
        form=form or SCAN.blank(ctx.locale),
        messages=scan_messages(),
    )


@get("/staff/scan", name="page.staff_scan", dependencies={"user": STAFF_MEMBER})
async def scan_page(
    ctx: PageContext,
    user: User,
    db_session: AsyncSession,
    venue_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
) -> Template:
    return await _scanner(ctx, user, db_session, venue_id)


@post("/staff/scan", name="page.staff_scan.submit", dependencies={"user": STAFF_MEMBER})
async def scan_submit(
    request: Request[Any, Any, Any], ctx: PageContext, user: User, db_session: AsyncSession, settings: Settings
) -> Template:
    """The typed code (or a keyboard-like barcode reader), without JavaScript: the same scan as the API."""
    data = dict((await request.form()).items())
    # A code copied or read from a screen may carry spaces; the code itself has none.
    values, form = SCAN.parse({**data, "payload": "".join(str(data.get("payload", "")).split())}, ctx.locale)
    if values is None:
        typed = form.value("venue_id")
        chosen = int(typed) if typed.isdigit() and "venue_id" not in form.errors else None
        return await _scanner(ctx, user, db_session, chosen, form=form, status=422)
    result = await CheckinService(db_session, settings).scan(
        user, values.venue_id, values.payload, device_id="web-form"
    )
    return await _scanner(ctx, user, db_session, values.venue_id, result=result)


@get(f"/staff/{SERVICE_WORKER}", name="page.staff_sw", sync_to_thread=False)
def service_worker(assets: Assets) -> Response[bytes]:
    """The scanner's service worker (web/static/sw.js) with the list of what it keeps for offline use."""
    urls = [assets.static_url(name) for _, name in SCANNER_ASSETS]
    urls += [assets.vendor_url(package, name) for package, name in SCANNER_VENDOR_ASSETS]
    prelude = f"const VERSION = {assets.digest!r};\nconst PRECACHE = {msgspec.json.encode(urls).decode()};\n"
    return Response(
        content=prelude.encode() + assets.read(assets.own[SERVICE_WORKER]),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/staff/"},
    )


@post("/staff/checkin/scan", name="page.staff_checkin_scan", status_code=200, dependencies={"user": STAFF_MEMBER})
async def checkin_scan(data: ScanRequest, user: User, db_session: AsyncSession, settings: Settings) -> ScanResult:
    """``POST /api/checkin/scan`` for the scanner page's session."""
    return await CheckinService(db_session, settings).scan(
        user, data.venue_id, data.payload, arrived=data.arrived, device_id=data.device_id
    )


@get(
    "/staff/checkin/venues/{venue_id:int}/manifest",
    name="page.staff_checkin_manifest",
    dependencies={"user": STAFF_OF_VENUE},
)
async def checkin_manifest(
    venue_id: int, user: User, db_session: AsyncSession, settings: Settings, day: Day = None
) -> Manifest:
    """``GET /api/checkin/venues/{id}/manifest`` for the scanner page's session."""
    day = check_optional_day(day, "date") or today_kst()
    return await Offline(CheckinService(db_session, settings)).manifest(user, venue_id, day)


@post("/staff/checkin/sync", name="page.staff_checkin_sync", status_code=200, dependencies={"user": STAFF_MEMBER})
async def checkin_sync(data: SyncRequest, user: User, db_session: AsyncSession, settings: Settings) -> SyncResult:
    """``POST /api/checkin/sync`` for the scanner page's session."""
    return await Offline(CheckinService(db_session, settings)).sync(user, data.venue_id, data.device_id, data.scans)


# --- the venue's day -------------------------------------------------------------------------------


async def _day_page(
    ctx: PageContext,
    session: AsyncSession,
    venue_id: int,
    day: date | None,
    *,
    offset: int = 0,
    form: FormState | None = None,
    notice: str | None = None,
    notice_tone: str = "ok",
    status: int = 200,
) -> Template:
    now = utcnow()
    data = await venue_day(session, venue_id, day or today_kst(now), now=now, offset=offset)
    return ctx.render(
        "staff/day.html.j2",
        partial="staff/_day.html.j2",
        status=status,
        day=data,
        form=form or WALK_IN.blank(ctx.locale, party_size="1"),
        notice=notice,
        notice_tone=notice_tone,
    )


@get("/staff/venues/{venue_id:int}/day", name="page.staff_day", dependencies={"user": STAFF_OF_VENUE})
async def day_page(
    ctx: PageContext,
    user: User,
    db_session: AsyncSession,
    venue_id: int,
    day: Day = None,
    offset: Annotated[int, Parameter(ge=0)] = 0,
) -> Template:
    return await _day_page(ctx, db_session, venue_id, check_optional_day(day, "date"), offset=offset)


async def _done(
    ctx: PageContext, session: AsyncSession, venue_id: int, day: date | None, key: str, **params: Any
) -> Any:
    """After an action: the day again (HTMX: its list, with the notice), else a redirect to it."""
    if ctx.is_htmx:
        return await _day_page(ctx, session, venue_id, day, notice=ctx.t(key, **params))
    ctx.flash(key, **params)
    return ctx.redirect(_day_url(venue_id, day))


@post("/staff/venues/{venue_id:int}/walk-ins", name="page.staff_walk_in", dependencies={"user": STAFF_OF_VENUE})
async def walk_in(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    user: User,
    db_session: AsyncSession,
    settings: Settings,
    venue_id: int,
) -> Any:
    data = dict((await request.form()).items())
    values, form = WALK_IN.parse(data, ctx.locale)
    if values is not None:
        async with attempt(db_session) as refused:
            booking = await CheckinService(db_session, settings).walk_in(user, venue_id, values)
        if refused.error is None:
            return await _done(
                ctx, db_session, venue_id, None, "web.day.walk_in_done", name=booking.guest_name, number=booking.id
            )
        form.add_domain_error(refused.error, field_of_code={"sold_out": "party_size", "window_closed": "slot_id"})
    return await _day_page(ctx, db_session, venue_id, None, form=form, status=422)


async def _booking_action(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    session: AsyncSession,
    venue_id: int,
    action: Any,
    done_key: str,
) -> Any:
    data = dict((await request.form()).items())
    day = _form_day(data)
    async with attempt(session) as refused:
        booking = await action()
        if booking.venue_id != venue_id:  # another venue's booking, whatever this person may do there
            raise NotFound("not_found.booking", booking_id=booking.id)
    if refused.error is not None:
        return await _day_page(
            ctx,
            session,
            venue_id,
            day,
            notice=refused.error.message.render(ctx.locale),
            notice_tone="bad",
            # htmx swaps 422 answers in (base.html.j2's htmx-config), not a 409
            status=422 if ctx.is_htmx else 409,
        )
    return await _done(ctx, session, venue_id, day, done_key, number=booking.id)


@post(
    "/staff/venues/{venue_id:int}/bookings/{booking_id:int}/check-out",
    name="page.staff_check_out",
    dependencies={"user": STAFF_OF_VENUE},
)
async def check_out(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    user: User,
    db_session: AsyncSession,
    settings: Settings,
    venue_id: int,
    booking_id: int,
) -> Any:
    service = CheckinService(db_session, settings)
    return await _booking_action(
        request, ctx, db_session, venue_id, lambda: service.check_out(user, booking_id), "web.day.checked_out"
    )


@post(
    "/staff/venues/{venue_id:int}/bookings/{booking_id:int}/undo-check-in",
    name="page.staff_undo_check_in",
    dependencies={"user": STAFF_OF_VENUE},
)
async def undo_check_in(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    user: User,
    db_session: AsyncSession,
    settings: Settings,
    venue_id: int,
    booking_id: int,
) -> Any:
    service = CheckinService(db_session, settings)
    return await _booking_action(
        request, ctx, db_session, venue_id, lambda: service.undo_check_in(user, booking_id), "web.day.undone"
    )
