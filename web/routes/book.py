"""Booking on the web: a slot of a venue or a session of a programme (``/book/slot/{id}``), a whole course
(``/programs/{id}/enrol``) and a lottery application (``/programs/{id}/apply``).

Each form page shows, before its button, the rules that apply to this person (``booking.standing``: the
quota used and by which bookings, this booking's cancellation deadline, the no-show rule with their own
count). A refusal is the domain's own words, with the next step: join the waitlist, when the window
opens, which bookings use the quota, until when a suspension lasts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Request, Response, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.courses import Courses
from booking.lottery import Lottery
from booking.schemas import BookingCreate
from booking.services import BookingService
from booking.standing import Standing
from core.clock import utcnow
from core.errors import DomainError
from programs.schemas import EnrolRequest
from web.auth import CITIZEN
from web.citizen_views import program_page, slot_offer
from web.forms import FieldSpec, Form, FormState, attempt
from web.pages import PageContext

T = TypeVar("T")

PARTY = FieldSpec("web.book.party_size", "web.book.party_size_invalid")
BOOK = Form(BookingCreate, {"party_size": PARTY})
ENROL = Form(EnrolRequest, {"party_size": PARTY})
# Refusals said at the party size field; the others go to the summary at the top.
PARTY_CODES = {"sold_out": "party_size"}


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
