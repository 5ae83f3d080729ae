"""``/programs`` (find programmes by age, kind and date), ``/programs/{id}`` (its sessions with places
left, who may join, how places are allocated) and ``/programs/{id}/draw`` (a lottery's published draw
and how to check it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from litestar import get
from litestar.params import Parameter, QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import NotFound
from programs.models import ProgramKind
from programs.services import ProgramService
from web.citizen_views import program_page
from web.forms import FormState
from web.i18n import t
from web.pages import PageContext

PAGE_SIZE = 20
KINDS = tuple(ProgramKind)
FILTERS = ("age", "kind", "from", "to", "q")
MAX_AGE = 120


@dataclass
class Filters:
    age: int | None = None
    kind: str | None = None
    start: date | None = None
    end: date | None = None
    q: str | None = None


def _filters(ctx: PageContext, raw: dict[str, str]) -> tuple[Filters, FormState]:
    """The search form's values, each checked; a wrong one is said next to its field, not a 400 page."""
    state = FormState(locale=ctx.locale, values=dict(raw), order=FILTERS)
    # An unknown kind finds nothing, as in the API.
    found = Filters(kind=raw["kind"] or None, q=raw["q"] or None)
    if raw["age"]:
        if raw["age"].isdigit() and int(raw["age"]) <= MAX_AGE:
            found.age = int(raw["age"])
        else:
            state.add("age", t(ctx.locale, "web.programs.filter.age_invalid"))
    for name in ("from", "to"):
        if raw[name]:
            try:
                day = date.fromisoformat(raw[name])
            except ValueError:
                state.add(name, t(ctx.locale, "web.programs.filter.date_invalid"))
                continue
            if name == "from":
                found.start = day
            else:
                found.end = day
    return found, state


@get("/programs", name="page.programs")
async def program_list(
    ctx: PageContext,
    db_session: AsyncSession,
    age: Annotated[str | None, Parameter(max_length=10)] = None,
    kind: Annotated[str | None, Parameter(max_length=40)] = None,
    start: Annotated[str | None, QueryParameter(name="from", max_length=20)] = None,
    end: Annotated[str | None, QueryParameter(name="to", max_length=20)] = None,
    q: Annotated[str | None, Parameter(max_length=100)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = PAGE_SIZE,
    offset: Annotated[int, Parameter(ge=0)] = 0,
) -> Template:
    raw = {
        "age": (age or "").strip(),
        "kind": kind or "",
        "from": (start or "").strip(),
        "to": (end or "").strip(),
        "q": (q or "").strip(),
    }
    found, form = _filters(ctx, raw)
    page = await ProgramService(db_session).search(
        venue_id=None,
        kind=found.kind,
        age=found.age,
        q=found.q,
        start=found.start,
        end=found.end,
        limit=limit,
        offset=offset,
    )
    return ctx.render(
        "programs/list.html.j2",
        partial="programs/_results.html.j2",
        status=422 if form.has_errors else 200,
        page=page,
        form=form,
        kinds=KINDS,
    )


@get("/programs/{program_id:int}", name="page.program")
async def program_detail(ctx: PageContext, db_session: AsyncSession, program_id: int) -> Template:
    view = await program_page(db_session, program_id, ctx.viewer, now=utcnow())
    return ctx.render("programs/detail.html.j2", view=view)


@get("/programs/{program_id:int}/draw", name="page.program_draw")
async def program_draw(ctx: PageContext, db_session: AsyncSession, program_id: int) -> Template:
    view = await program_page(db_session, program_id, ctx.viewer, now=utcnow())
    if view.draw is None:
        raise NotFound("not_found.not_drawn_yet")
    return ctx.render("programs/draw.html.j2", view=view)
