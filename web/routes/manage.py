"""``/manage`` and ``/manage/venues/{id}/...``: the managers' pages of their venues — spaces, opening hours,
closures (with the bookings they cancel shown before saving), one-off and blocked slots, programmes and
their sessions, and calendar-feed links. Managers of the venue and administrators (``MANAGER_OF_VENUE``).

Every form posts and works without JavaScript; the closure form also asks for its preview with HTMX as
its dates change.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter, QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.schemas import SlotBlock, SlotCreate
from booking.services import BookingService
from calendar_feeds.schemas import FeedCreate
from calendar_feeds.services import FeedService
from core.clock import kst, utcnow
from core.fields import Id
from core.settings import Settings
from programs.models import Allocation, Enrolment, ProgramKind
from programs.schemas import Age, Description, Duration, ProgramCreate, ProgramUpdate, Rule, Title
from programs.services import ProgramService, SessionHooks
from venues.models import SlotStatus
from venues.schemas import Capacity, ClosureCreate, OpeningHoursItem, SpaceUpdate
from venues.schemas import Clock as ClockText
from venues.services import ClosureHooks, VenueService, parse_hhmm
from web.auth import MANAGER_OF_VENUE, SIGNED_IN
from web.forms import FieldSpec, Form, FormState, attempt
from web.manage import (
    add_slot,
    managed_venue,
    managed_venues,
    program_of_venue,
    save_closure,
    space_of_venue,
    venue_feeds,
)
from web.pages import PageContext

MANAGER = {"user": MANAGER_OF_VENUE}
PAGE_SIZE = 20
WEEKDAYS = range(7)

CLOSURE = Form(
    ClosureCreate,
    {
        "start_date": FieldSpec("web.manage.closure.start_date", "web.manage.date_invalid"),
        "end_date": FieldSpec("web.manage.closure.end_date", "web.manage.date_invalid"),
        "space_id": FieldSpec("web.manage.closure.space"),
        "reason": FieldSpec("web.manage.closure.reason"),
        "reason_en": FieldSpec("web.manage.closure.reason_en"),
    },
)
SPACE = Form(
    SpaceUpdate,
    {
        "name": FieldSpec("web.manage.space.name"),
        "name_en": FieldSpec("web.manage.space.name_en"),
        "capacity": FieldSpec("web.manage.space.capacity", "web.manage.number_invalid"),
        "max_party": FieldSpec("web.manage.space.max_party", "web.manage.number_invalid"),
        "slot_minutes": FieldSpec("web.manage.space.slot_minutes", "web.manage.minutes_invalid"),
        "is_active": FieldSpec("web.manage.space.is_active"),
    },
)
PROGRAM = Form(
    ProgramUpdate,
    {
        "title": FieldSpec("web.manage.program.title"),
        "title_en": FieldSpec("web.manage.program.title_en"),
        "description": FieldSpec("web.manage.program.description"),
        "description_en": FieldSpec("web.manage.program.description_en"),
    },
)


# A page's own schemas where a form's fields are not the API's body as they are: a day and wall-clock
# times (the API takes instants), one opening interval per weekday. Their types are the API's.
class SlotForm(msgspec.Struct, forbid_unknown_fields=True):
    space_id: Id
    day: date
    start: ClockText
    end: ClockText
    capacity: Capacity | None = None
    note: Annotated[str, msgspec.Meta(max_length=300)] = ""


SLOT = Form(
    SlotForm,
    {
        "space_id": FieldSpec("web.manage.slot.space"),
        "day": FieldSpec("web.manage.slot.day", "web.manage.date_invalid"),
        "start": FieldSpec("web.manage.slot.start", "web.manage.clock_invalid"),
        "end": FieldSpec("web.manage.slot.end", "web.manage.clock_invalid"),
        "capacity": FieldSpec("web.manage.slot.capacity", "web.manage.number_invalid"),
        "note": FieldSpec("web.manage.slot.note"),
    },
)

HoursForm = msgspec.defstruct(
    "HoursForm",
    [(f"{edge}_{d}", ClockText | None, None) for d in WEEKDAYS for edge in ("opens", "closes")],
    forbid_unknown_fields=True,
)
HOURS = Form(
    HoursForm,
    {
        f"{edge}_{d}": FieldSpec(f"web.manage.hours.{edge}", "web.manage.clock_invalid")
        for d in WEEKDAYS
        for edge in ("opens", "closes")
    },
)


async def _form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return dict((await request.form()).items())


def _back(venue_id: int, anchor: str = "", **query: Any) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items() if v)
    return f"/manage/venues/{venue_id}" + (f"?{params}" if params else "") + (f"#{anchor}" if anchor else "")


# --- the manager's venues ------------------------------------------------------------------------------


@get("/manage", name="page.manage", dependencies={"user": SIGNED_IN})
async def manage_home(
    ctx: PageContext, user: User, db_session: AsyncSession, offset: Annotated[int, Parameter(ge=0)] = 0
) -> Template:
    page = await managed_venues(db_session, user, limit=PAGE_SIZE, offset=offset)
    return ctx.render("manage/index.html.j2", page=page)


@get("/manage/venues/{venue_id:int}", name="page.manage_venue", dependencies=MANAGER)
async def manage_venue(
    ctx: PageContext,
    user: User,
    db_session: AsyncSession,
    settings: Settings,
    venue_id: int,
    day: Annotated[date | None, QueryParameter(name="date")] = None,
) -> Template:
    page = await managed_venue(db_session, settings, user, venue_id, day, now=utcnow())
    return ctx.render("manage/venue.html.j2", partial="manage/_slots.html.j2", page=page)


# --- spaces and opening hours --------------------------------------------------------------------------


def _space_values(space: Any) -> dict[str, str]:
    return {
        "name": space.name,
        "name_en": space.name_en,
        "capacity": str(space.capacity),
        "max_party": str(space.max_party),
        "slot_minutes": "" if space.slot_minutes is None else str(space.slot_minutes),
        "is_active": "true" if space.is_active else "false",
    }


@get("/manage/venues/{venue_id:int}/spaces/{space_id:int}", name="page.manage_space", dependencies=MANAGER)
async def space_page(ctx: PageContext, db_session: AsyncSession, venue_id: int, space_id: int) -> Template:
    venue, space = await space_of_venue(db_session, venue_id, space_id)
    form = SPACE.blank(ctx.locale, **_space_values(space))
    return ctx.render("manage/space.html.j2", venue=venue, space=space, form=form)


@post("/manage/venues/{venue_id:int}/spaces/{space_id:int}", name="page.manage_space.submit", dependencies=MANAGER)
async def space_submit(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, venue_id: int, space_id: int
) -> Response[Any]:
    venue, space = await space_of_venue(db_session, venue_id, space_id)
    data = await _form(request)
    if space.shape == "stay":
        data.pop("slot_minutes", None)  # a stay has nights, not slots: the field is not on its form
    values, form = SPACE.parse(data, ctx.locale)
    if values is not None:
        async with attempt(db_session) as refused:
            await VenueService(db_session).update_space(space_id, values)
        if refused.error is None:
            ctx.flash("web.manage.space.saved", name=values.name if isinstance(values.name, str) else space.name)
            return ctx.redirect(_back(venue_id, "spaces"))
        form.add_domain_error(refused.error)
    return ctx.render("manage/space.html.j2", status=422, venue=venue, space=space, form=form)


def _hours_values(venue: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in venue.opening_hours:
        values.setdefault(f"opens_{item.weekday}", item.opens)
        values.setdefault(f"closes_{item.weekday}", item.closes)
    return values


@get("/manage/venues/{venue_id:int}/hours", name="page.manage_hours", dependencies=MANAGER)
async def hours_page(ctx: PageContext, db_session: AsyncSession, venue_id: int) -> Template:
    venue = await VenueService(db_session).detail(venue_id)
    form = HOURS.blank(ctx.locale, **_hours_values(venue))
    return ctx.render("manage/hours.html.j2", venue=venue, form=form, weekdays=WEEKDAYS)


def _opening_items(values: Any, form: FormState, ctx: PageContext) -> list[OpeningHoursItem]:
    """One interval per weekday from the form; a day with only one of its two times is an error there."""
    items = []
    for d in WEEKDAYS:
        opens, closes = getattr(values, f"opens_{d}"), getattr(values, f"closes_{d}")
        if opens and closes:
            items.append(OpeningHoursItem(weekday=d, opens=opens, closes=closes))
        elif opens or closes:
            missing = f"closes_{d}" if opens else f"opens_{d}"
            form.add(missing, ctx.t("web.manage.hours.both", day=ctx.t(f"web.weekday.{d}")))
    return items


def _later_intervals(venue: Any, kept: list[OpeningHoursItem]) -> list[OpeningHoursItem]:
    """The intervals after the first of each weekday (a day open 09:00-12:00 and 13:00-18:00): this form
    edits the first one only, so the others are saved again as they are, for every day that stays open
    (never lost by saving the page); a day closed on the form closes whole."""
    still_open = {item.weekday for item in kept}
    seen: set[int] = set()
    later = []
    for item in venue.opening_hours:
        if item.weekday in seen and item.weekday in still_open:
            later.append(OpeningHoursItem(weekday=item.weekday, opens=item.opens, closes=item.closes))
        seen.add(item.weekday)
    return later


@post("/manage/venues/{venue_id:int}/hours", name="page.manage_hours.submit", dependencies=MANAGER)
async def hours_submit(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, venue_id: int
) -> Response[Any]:
    service = VenueService(db_session)
    venue = await service.detail(venue_id)
    values, form = HOURS.parse(await _form(request), ctx.locale)
    if values is not None:
        items = _opening_items(values, form, ctx)
        items += _later_intervals(venue, items)
        if not form.has_errors:
            async with attempt(db_session) as refused:
                await service.set_opening_hours(venue_id, items)
            if refused.error is None:
                ctx.flash("web.manage.hours.saved")
                return ctx.redirect(_back(venue_id, "hours"))
            # "opening_hours[i]" is the i-th open day, in weekday order: its opening time's field.
            for problem in refused.error.errors or [{"field": "", "message": refused.error.message}]:
                name = str(problem.get("field", ""))
                index = int(name[14:-1]) if name.startswith("opening_hours[") else -1
                message = problem.get("message")
                text = message.render(ctx.locale) if hasattr(message, "render") else str(message)
                form.add(f"opens_{items[index].weekday}" if 0 <= index < len(items) else None, text)
    return ctx.render("manage/hours.html.j2", status=422, venue=venue, form=form, weekdays=WEEKDAYS)


# --- closures ------------------------------------------------------------------------------------------


def _seen(raw: Any) -> frozenset[int]:
    return frozenset(int(p) for p in str(raw or "").split(",") if p.strip().isdigit())


@get("/manage/venues/{venue_id:int}/closures/new", name="page.manage_closure", dependencies=MANAGER)
async def closure_page(
    ctx: PageContext, db_session: AsyncSession, venue_id: int, space_id: int | None = None
) -> Template:
    venue = await VenueService(db_session).detail(venue_id)
    form = CLOSURE.blank(ctx.locale, space_id=str(space_id or ""))
    return ctx.render("manage/closure.html.j2", venue=venue, form=form, preview=None, changed=False)


@post("/manage/venues/{venue_id:int}/closures", name="page.manage_closure.submit", dependencies=MANAGER)
async def closure_submit(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    user: User,
    db_session: AsyncSession,
    closure_hooks: ClosureHooks,
    venue_id: int,
) -> Response[Any]:
    """The first submit shows what the closure would cancel and asks to confirm; the confirmation saves
    it, unless the bookings it would cancel changed since they were shown (then they are shown again)."""
    venue = await VenueService(db_session).detail(venue_id)
    data = await _form(request)
    values, form = CLOSURE.parse(data, ctx.locale)
    preview, changed = None, False
    if values is not None:
        async with attempt(db_session) as refused:
            if data.get("confirm"):
                saved = await save_closure(db_session, closure_hooks, user, venue_id, values, _seen(data.get("seen")))
                preview, changed = saved.preview, saved.closure is None
                if saved.closure is not None:
                    ctx.flash("web.manage.closure.saved", count=len(saved.preview.bookings))
            else:
                preview = await BookingService(db_session).preview_closure(venue_id, values)
        if refused.error is not None:
            form.add_domain_error(refused.error)
            preview = None
        elif data.get("confirm") and not changed:
            return ctx.redirect(_back(venue_id, "closures"))
    status = 422 if form.has_errors else 200
    return ctx.render("manage/closure.html.j2", status=status, venue=venue, form=form, preview=preview, changed=changed)


@post("/manage/venues/{venue_id:int}/closures/preview", name="page.manage_closure.preview", dependencies=MANAGER)
async def closure_preview(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, venue_id: int
) -> Template:
    """The preview alone, for HTMX as the form's dates change (the reason is not needed to find it)."""
    venue = await VenueService(db_session).detail(venue_id)
    data = await _form(request)
    data["reason"] = str(data.get("reason") or "").strip() or "-"
    values, form = CLOSURE.parse(data, ctx.locale)
    preview = None
    if values is not None:
        async with attempt(db_session) as refused:
            preview = await BookingService(db_session).preview_closure(venue_id, values)
        if refused.error is not None:
            form.add_domain_error(refused.error)
    return ctx.render("manage/_closure_preview.html.j2", venue=venue, form=form, preview=preview, changed=False)


@post(
    "/manage/venues/{venue_id:int}/closures/{closure_id:int}/delete",
    name="page.manage_closure.delete",
    dependencies=MANAGER,
)
async def closure_delete(
    ctx: PageContext, db_session: AsyncSession, closure_hooks: ClosureHooks, venue_id: int, closure_id: int
) -> Response[Any]:
    await VenueService(db_session, closure_hooks=closure_hooks).delete_closure(venue_id, closure_id)
    ctx.flash("web.manage.closure.deleted")
    return ctx.redirect(_back(venue_id, "closures"))


# --- slots ---------------------------------------------------------------------------------------------


@post(
    "/manage/venues/{venue_id:int}/slots/{slot_id:int}/{action:str}",
    name="page.manage_slot.status",
    dependencies=MANAGER,
)
async def slot_status(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    user: User,
    db_session: AsyncSession,
    venue_id: int,
    slot_id: int,
    action: str,
) -> Response[Any]:
    """Block a slot (no new bookings; those made stay) or open it again."""
    data = await _form(request)
    status = {"block": SlotStatus.BLOCKED, "unblock": SlotStatus.OPEN}.get(action)
    day = str(data.get("date") or "")
    if status is None:
        return ctx.redirect(_back(venue_id, "slots", date=day))
    note = SlotBlock(note=str(data.get("note") or "").strip()[:300]).note if status == SlotStatus.BLOCKED else ""
    async with attempt(db_session) as refused:
        await BookingService(db_session).set_slot_status(user, slot_id, status, note)
    if refused.error is not None:
        ctx.flash("web.manage.slot.refused", reason=refused.error.message.render(ctx.locale))
    else:
        ctx.flash("web.manage.slot.blocked" if status == SlotStatus.BLOCKED else "web.manage.slot.unblocked")
    return ctx.redirect(_back(venue_id, "slots", date=day))


@get("/manage/venues/{venue_id:int}/slots/new", name="page.manage_slot", dependencies=MANAGER)
async def slot_page(
    ctx: PageContext,
    db_session: AsyncSession,
    venue_id: int,
    space_id: int | None = None,
    day: Annotated[date | None, QueryParameter(name="date")] = None,
) -> Template:
    venue = await VenueService(db_session).detail(venue_id)
    form = SLOT.blank(ctx.locale, space_id=str(space_id or ""), day=day.isoformat() if day else "")
    return ctx.render("manage/slot.html.j2", venue=venue, form=form)


@post("/manage/venues/{venue_id:int}/slots", name="page.manage_slot.submit", dependencies=MANAGER)
async def slot_submit(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, venue_id: int
) -> Response[Any]:
    venue = await VenueService(db_session).detail(venue_id)
    values, form = SLOT.parse(await _form(request), ctx.locale)
    if values is not None:
        async with attempt(db_session) as refused:
            body = SlotCreate(
                start=kst(values.day, parse_hhmm(values.start)),
                end=kst(values.day, parse_hhmm(values.end)),
                capacity=values.capacity,
                note=values.note,
            )
            slot = await add_slot(db_session, venue_id, values.space_id, body)
        if refused.error is None:
            ctx.flash("web.manage.slot.added")
            return ctx.redirect(_back(venue_id, "slots", date=slot.start.date().isoformat()))
        form.add_domain_error(refused.error, field_of_code={"conflict": "start", "not_found": "space_id"})
    return ctx.render("manage/slot.html.j2", status=422, venue=venue, form=form)


# --- programmes ----------------------------------------------------------------------------------------


@get("/manage/venues/{venue_id:int}/programs/{program_id:int}", name="page.manage_program", dependencies=MANAGER)
async def program_page(ctx: PageContext, db_session: AsyncSession, venue_id: int, program_id: int) -> Template:
    venue, program = await program_of_venue(db_session, venue_id, program_id)
    form = PROGRAM.blank(
        ctx.locale,
        title=program.title,
        title_en=program.title_en,
        description=program.description,
        description_en=program.description_en,
    )
    return ctx.render("manage/program.html.j2", venue=venue, program=program, form=form, now=utcnow())


@post(
    "/manage/venues/{venue_id:int}/programs/{program_id:int}",
    name="page.manage_program.submit",
    dependencies=MANAGER,
)
async def program_submit(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    db_session: AsyncSession,
    session_hooks: SessionHooks,
    venue_id: int,
    program_id: int,
) -> Response[Any]:
    venue, program = await program_of_venue(db_session, venue_id, program_id)
    values, form = PROGRAM.parse(await _form(request), ctx.locale)
    if values is not None:
        async with attempt(db_session) as refused:
            await ProgramService(db_session, session_hooks=session_hooks).update(program_id, values)
        if refused.error is None:
            ctx.flash("web.manage.program.saved")
            return ctx.redirect(f"/manage/venues/{venue_id}/programs/{program_id}")
        form.add_domain_error(refused.error)
    return ctx.render("manage/program.html.j2", status=422, venue=venue, program=program, form=form, now=utcnow())


@post(
    "/manage/venues/{venue_id:int}/programs/{program_id:int}/sessions/{session_id:int}/cancel",
    name="page.manage_session.cancel",
    dependencies=MANAGER,
)
async def session_cancel(
    ctx: PageContext,
    db_session: AsyncSession,
    session_hooks: SessionHooks,
    venue_id: int,
    program_id: int,
    session_id: int,
) -> Response[Any]:
    """Cancel one session: its bookings are cancelled and their people told (as the API's)."""
    await program_of_venue(db_session, venue_id, program_id)
    service = ProgramService(db_session, session_hooks=session_hooks)
    program, session, slot = await service.session_of(program_id, session_id)
    await service.cancel_session(program, session, slot)
    ctx.flash("web.manage.session.cancel_done")
    return ctx.redirect(f"/manage/venues/{venue_id}/programs/{program_id}#sessions")


# --- calendar feeds ------------------------------------------------------------------------------------


@post("/manage/venues/{venue_id:int}/feeds", name="page.manage_feed.create", dependencies=MANAGER)
async def feed_create(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    user: User,
    db_session: AsyncSession,
    settings: Settings,
    venue_id: int,
) -> Response[Any]:
    """A secret feed url of the venue or one of its spaces; shown on this answer only (it is not stored)."""
    venue = await VenueService(db_session).detail(venue_id)
    target = str((await _form(request)).get("target") or "venue")
    scope, _, raw_id = target.partition(":")
    space_ids = {s.id for s in venue.spaces}
    if scope == "space" and raw_id.isdigit() and int(raw_id) in space_ids:
        body = FeedCreate(scope="space", target_id=int(raw_id))
    else:
        body = FeedCreate(scope="venue", target_id=venue_id)
    created = await FeedService(db_session, settings).create(user, body)
    return ctx.render("manage/feed.html.j2", status=201, venue=venue, feed=created)


@post(
    "/manage/venues/{venue_id:int}/feeds/{feed_id:int}/revoke",
    name="page.manage_feed.revoke",
    dependencies=MANAGER,
)
async def feed_revoke(
    ctx: PageContext, user: User, db_session: AsyncSession, settings: Settings, venue_id: int, feed_id: int
) -> Response[Any]:
    venue = await VenueService(db_session).detail(venue_id)
    if any(f.id == feed_id for f in await venue_feeds(db_session, settings, user, venue)):
        await FeedService(db_session, settings).revoke(user, feed_id)
        ctx.flash("web.manage.feed.revoked")
    return ctx.redirect(_back(venue_id, "feeds"))


# A new programme: its instants as a Seoul day and time each; camps (rooms and nights) stay with the API.
class ProgramForm(msgspec.Struct, forbid_unknown_fields=True):
    space_id: Id
    title: Title
    title_en: Title
    kind: ProgramKind
    capacity: Capacity
    opens_day: date
    opens_time: ClockText
    closes_day: date
    closes_time: ClockText
    first_day: date
    first_time: ClockText
    duration_minutes: Duration
    rrule: Rule
    allocation: Allocation = Allocation.FIRST_COME
    enrolment: Enrolment = Enrolment.DROP_IN
    max_party: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    min_age: Age | None = None
    max_age: Age | None = None
    description: Description = ""
    description_en: Description = ""


NEW_PROGRAM = Form(
    ProgramForm,
    {
        "space_id": FieldSpec("web.manage.new_program.space"),
        "title": FieldSpec("web.manage.program.title"),
        "title_en": FieldSpec("web.manage.program.title_en"),
        "kind": FieldSpec("web.manage.new_program.kind"),
        "capacity": FieldSpec("web.manage.new_program.capacity", "web.manage.number_invalid"),
        "max_party": FieldSpec("web.manage.new_program.max_party", "web.manage.number_invalid"),
        "opens_day": FieldSpec("web.manage.new_program.opens_day", "web.manage.date_invalid"),
        "opens_time": FieldSpec("web.manage.new_program.opens_time", "web.manage.clock_invalid"),
        "closes_day": FieldSpec("web.manage.new_program.closes_day", "web.manage.date_invalid"),
        "closes_time": FieldSpec("web.manage.new_program.closes_time", "web.manage.clock_invalid"),
        "first_day": FieldSpec("web.manage.new_program.first_day", "web.manage.date_invalid"),
        "first_time": FieldSpec("web.manage.new_program.first_time", "web.manage.clock_invalid"),
        "duration_minutes": FieldSpec("web.manage.new_program.duration", "web.manage.minutes_invalid"),
        "rrule": FieldSpec("web.manage.new_program.rrule", "web.manage.new_program.rrule_invalid"),
        "allocation": FieldSpec("web.manage.new_program.allocation"),
        "enrolment": FieldSpec("web.manage.new_program.enrolment"),
        "min_age": FieldSpec("web.manage.new_program.min_age", "web.manage.new_program.age_invalid"),
        "max_age": FieldSpec("web.manage.new_program.max_age", "web.manage.new_program.age_invalid"),
        "description": FieldSpec("web.manage.program.description"),
        "description_en": FieldSpec("web.manage.program.description_en"),
    },
)
# The API's fields of a refusal, as the fields of this form.
PROGRAM_FIELDS = {
    "registration_opens_at": "opens_day",
    "registration_closes_at": "closes_day",
    "first_start": "first_day",
    "rooms": "kind",
}
PROGRAM_KINDS = tuple(k for k in ProgramKind if k != ProgramKind.CAMP)


def _program_page(ctx: PageContext, venue: Any, form: FormState, status: int = 200) -> Template:
    return ctx.render(
        "manage/new_program.html.j2",
        status=status,
        venue=venue,
        form=form,
        kinds=PROGRAM_KINDS,
        allocations=tuple(Allocation),
        enrolments=tuple(Enrolment),
    )


@get("/manage/venues/{venue_id:int}/programs/new", name="page.manage_program.new", dependencies=MANAGER)
async def new_program_page(ctx: PageContext, db_session: AsyncSession, venue_id: int) -> Template:
    venue = await VenueService(db_session).detail(venue_id)
    form = NEW_PROGRAM.blank(ctx.locale, max_party="1", allocation="first_come", enrolment="drop_in")
    return _program_page(ctx, venue, form)


@post("/manage/venues/{venue_id:int}/programs", name="page.manage_program.create", dependencies=MANAGER)
async def new_program_submit(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    db_session: AsyncSession,
    session_hooks: SessionHooks,
    venue_id: int,
) -> Response[Any]:
    venue = await VenueService(db_session).detail(venue_id)
    values, form = NEW_PROGRAM.parse(await _form(request), ctx.locale)
    if values is not None:
        async with attempt(db_session) as refused:
            body = ProgramCreate(
                venue_id=venue_id,
                space_id=values.space_id,
                title=values.title,
                title_en=values.title_en,
                kind=values.kind,
                capacity=values.capacity,
                registration_opens_at=kst(values.opens_day, parse_hhmm(values.opens_time)),
                registration_closes_at=kst(values.closes_day, parse_hhmm(values.closes_time)),
                rrule=values.rrule,
                first_start=kst(values.first_day, parse_hhmm(values.first_time)),
                duration_minutes=values.duration_minutes,
                allocation=values.allocation,
                enrolment=values.enrolment,
                max_party=values.max_party,
                min_age=values.min_age,
                max_age=values.max_age,
                description=values.description,
                description_en=values.description_en,
            )
            program = await ProgramService(db_session, session_hooks=session_hooks).create(body)
        if refused.error is None:
            ctx.flash("web.manage.new_program.created")
            return ctx.redirect(f"/manage/venues/{venue_id}/programs/{program.id}")
        for item in refused.error.errors or []:
            item["field"] = PROGRAM_FIELDS.get(str(item.get("field")), item.get("field"))
        form.add_domain_error(refused.error, field_of_code={"not_found": "space_id"})
    return _program_page(ctx, venue, form, status=422)
