"""Booking on the web: a slot of a venue or a session of a programme (``/book/slot/{id}``), nights in a
lodging room (``/book/stay/{space_id}?check_in=``), a whole course (``/programs/{id}/enrol``) and a
lottery application (``/programs/{id}/apply``).

Each form page shows, before its button, the rules that apply to this person (``booking.standing``: the
quota used and by which bookings, this booking's cancellation deadline, the no-show rule with their own
count). A refusal is the domain's own words, with the next step: join the waitlist, when the window
opens, which bookings use the quota, until when a suspension lasts, other nights for a stay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any, TypeVar

from litestar import Request, Response, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.courses import Courses
from booking.lottery import Lottery
from booking.schemas import BookingCreate
from booking.services import BookingService
from booking.standing import Standing
from core.clock import to_kst, utcnow
from core.errors import DomainError
from programs.schemas import EnrolRequest
from web.auth import CITIZEN
from web.citizen_views import program_page, slot_offer, stay_offer
from web.forms import FieldSpec, Form, FormState, attempt
from web.i18n import t
from web.pages import PageContext

T = TypeVar("T")

PARTY = FieldSpec("web.book.party_size", "web.book.party_size_invalid")
BOOK = Form(BookingCreate, {"party_size": PARTY})
ENROL = Form(EnrolRequest, {"party_size": PARTY})
STAY = Form(
    BookingCreate,
    {
        "check_in": FieldSpec("web.stay.check_in", "web.stay.date_invalid"),
        "check_out": FieldSpec("web.stay.check_out", "web.stay.date_invalid"),
        "party_size": PARTY,
    },
)
# Refusals said at the party size field; the others go to the summary at the top.
PARTY_CODES = {"sold_out": "party_size"}
# A stay's refusals about its nights are said at the check-in date.
STAY_CODES = {"sold_out": "check_in", "closed": "check_in"}


async def _form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return dict((await request.form()).items())


async def _render_slot(
    ctx: PageContext,
    db_session: AsyncSession,
    user: User,
    slot_id: int,
    form: FormState,
    *,
    refusal: DomainError | None = None,
    status: int = 200,
) -> Response[Any]:
    offer = await slot_offer(db_session, user, slot_id, now=utcnow())
    return ctx.render("book/slot.html.j2", status=status, offer=offer, form=form, refusal=refusal)


@get("/book/slot/{slot_id:int}", name="page.book", dependencies={"user": CITIZEN})
async def book_page(ctx: PageContext, db_session: AsyncSession, user: User, slot_id: int) -> Response[Any]:
    return await _render_slot(ctx, db_session, user, slot_id, BOOK.blank(ctx.locale, party_size="1"))


@post("/book/slot/{slot_id:int}", name="page.book.submit", dependencies={"user": CITIZEN})
async def book(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, user: User, slot_id: int
) -> Response[Any]:
    data = await _form(request)
    values, form = BOOK.parse(data, ctx.locale)
    if values is None:
        return await _render_slot(ctx, db_session, user, slot_id, form, status=422)
    wanted = BookingCreate(
        slot_id=slot_id, party_size=values.party_size, join_waitlist=data.get("join_waitlist") == "1"
    )
    async with attempt(db_session) as refused:
        booking, _ = await BookingService(db_session).book(user, wanted)
    if refused.error is not None:
        form.add_domain_error(refused.error, field_of_code=PARTY_CODES)
        return await _render_slot(ctx, db_session, user, slot_id, form, refusal=refused.error, status=422)
    if booking.status == "waitlisted":
        ctx.flash("web.book.waitlisted", position=booking.waitlist_position or 1)
    else:
        ctx.flash("web.book.confirmed")
    return ctx.redirect(f"/me/bookings/{booking.id}")


async def _render_stay(
    ctx: PageContext,
    db_session: AsyncSession,
    user: User,
    space_id: int,
    check_in: date | None,
    check_out: date | None,
    form: FormState,
    *,
    refusal: DomainError | None = None,
    status: int = 200,
) -> Response[Any]:
    now = utcnow()
    first = check_in or to_kst(now).date()
    offer = await stay_offer(db_session, user, space_id, first, check_out, now=now)
    return ctx.render("book/stay.html.j2", status=status, offer=offer, form=form, refusal=refusal)


@get("/book/stay/{space_id:int}", name="page.book.stay", dependencies={"user": CITIZEN})
async def book_stay_page(
    ctx: PageContext,
    db_session: AsyncSession,
    user: User,
    space_id: int,
    check_in: date | None = None,
    check_out: date | None = None,
) -> Response[Any]:
    """The stay's form for the night chosen in the venue's grid (``check_in``), one night unless said."""
    first = check_in or to_kst(utcnow()).date()
    last = check_out if check_out is not None and check_out > first else None
    form = STAY.blank(
        ctx.locale,
        check_in=first.isoformat(),
        check_out=(last or first + timedelta(days=1)).isoformat(),
        party_size="1",
    )
    return await _render_stay(ctx, db_session, user, space_id, first, last, form)


@post("/book/stay/{space_id:int}", name="page.book.stay.submit", dependencies={"user": CITIZEN})
async def book_stay(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, user: User, space_id: int
) -> Response[Any]:
    values, form = STAY.parse(await _form(request), ctx.locale)
    if values is not None:
        for name in ("check_in", "check_out"):  # optional in the API's schema, needed for a stay
            if getattr(values, name) is None:
                form.add(name, t(ctx.locale, "web.field.required", label=t(ctx.locale, STAY.fields[name].label_key)))
    if values is None or form.has_errors:
        check_in = values.check_in if values is not None else None
        return await _render_stay(ctx, db_session, user, space_id, check_in, None, form, status=422)
    wanted = BookingCreate(
        space_id=space_id, check_in=values.check_in, check_out=values.check_out, party_size=values.party_size
    )
    async with attempt(db_session) as refused:
        booking, _ = await BookingService(db_session).book(user, wanted)
    if refused.error is not None:
        form.add_domain_error(refused.error, field_of_code=STAY_CODES)
        return await _render_stay(
            ctx, db_session, user, space_id, values.check_in, values.check_out, form, refusal=refused.error, status=422
        )
    ctx.flash("web.book.confirmed")
    return ctx.redirect(f"/me/bookings/{booking.id}")


async def _render_course(
    ctx: PageContext,
    db_session: AsyncSession,
    user: User,
    program_id: int,
    form: FormState,
    *,
    refusal: DomainError | None = None,
    status: int = 200,
) -> Response[Any]:
    now = utcnow()
    view = await program_page(db_session, program_id, user, now=now)
    first = view.first_upcoming
    standing = await Standing(db_session, now).of(user, slot_id=first) if first is not None else None
    return ctx.render("book/course.html.j2", status=status, view=view, standing=standing, form=form, refusal=refusal)


async def _course_form(
    request: Request[Any, Any, Any],
    ctx: PageContext,
    db_session: AsyncSession,
    user: User,
    program_id: int,
    act: Callable[[User, int, int], Awaitable[T]],
) -> T | Response[Any]:
    """The party-size form of a whole programme (an enrolment, a lottery application): what ``act`` gave,
    or the page again with the form's or the domain's refusal."""
    values, form = ENROL.parse(await _form(request), ctx.locale)
    if values is None:
        return await _render_course(ctx, db_session, user, program_id, form, status=422)
    async with attempt(db_session) as refused:
        done = await act(user, program_id, values.party_size)
    if refused.error is not None:
        form.add_domain_error(refused.error, field_of_code=PARTY_CODES)
        return await _render_course(ctx, db_session, user, program_id, form, refusal=refused.error, status=422)
    return done


@get("/programs/{program_id:int}/enrol", name="page.enrol", dependencies={"user": CITIZEN})
async def enrol_page(ctx: PageContext, db_session: AsyncSession, user: User, program_id: int) -> Response[Any]:
    return await _render_course(ctx, db_session, user, program_id, ENROL.blank(ctx.locale, party_size="1"))


@post("/programs/{program_id:int}/enrol", name="page.enrol.submit", dependencies={"user": CITIZEN})
async def enrol(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, user: User, program_id: int
) -> Response[Any]:
    bookings = await _course_form(request, ctx, db_session, user, program_id, Courses(db_session, utcnow()).enrol)
    if isinstance(bookings, Response):
        return bookings
    ctx.flash("web.enrol.done", sessions=len(bookings))
    first = min(bookings, key=lambda b: (b.starts_at, b.id))
    return ctx.redirect(f"/me/bookings/{first.id}")


@get("/programs/{program_id:int}/apply", name="page.apply", dependencies={"user": CITIZEN})
async def apply_page(ctx: PageContext, db_session: AsyncSession, user: User, program_id: int) -> Response[Any]:
    return await _render_course(ctx, db_session, user, program_id, ENROL.blank(ctx.locale, party_size="1"))


@post("/programs/{program_id:int}/apply", name="page.apply.submit", dependencies={"user": CITIZEN})
async def apply(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, user: User, program_id: int
) -> Response[Any]:
    applied = await _course_form(request, ctx, db_session, user, program_id, Lottery(db_session, utcnow()).apply)
    if isinstance(applied, Response):
        return applied
    ctx.flash("web.apply.done")
    return ctx.redirect(f"/programs/{program_id}")
