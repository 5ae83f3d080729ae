"""``/venues`` (find venues by kind, district and name) and ``/venues/{id}`` (a venue and its week)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import get
from litestar.params import Parameter, QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import today_kst, utcnow
from venues.districts import DISTRICTS
from venues.models import VenueKind
from venues.services import VenueService
from web.pages import PageContext
from web.views import venue_week

PAGE_SIZE = 20
KINDS = tuple(VenueKind)


@get("/venues", name="page.venues")
async def venue_list(
    ctx: PageContext,
    db_session: AsyncSession,
    kind: Annotated[str | None, Parameter(max_length=40)] = None,
    district: Annotated[str | None, Parameter(max_length=40)] = None,
    q: Annotated[str | None, Parameter(max_length=100)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = PAGE_SIZE,
    offset: Annotated[int, Parameter(ge=0)] = 0,
) -> Template:
    # A form's "any" option sends an empty value; an unknown kind finds nothing, as in the API.
    filters = {"kind": kind or "", "district": district or "", "q": (q or "").strip()}
    page = await VenueService(db_session).search(
        kind=filters["kind"] or None,
        district=filters["district"] or None,
        q=filters["q"] or None,
        limit=limit,
        offset=offset,
    )
    return ctx.render(
        "venues/list.html.j2",
        partial="venues/_results.html.j2",
        page=page,
        filters=filters,
        kinds=KINDS,
        districts=DISTRICTS,
    )


@get("/venues/{venue_id:int}", name="page.venue")
async def venue_page(
    ctx: PageContext,
    db_session: AsyncSession,
    venue_id: int,
    start: Annotated[date | None, QueryParameter(name="from")] = None,
) -> Template:
    now = utcnow()
    week = await venue_week(db_session, venue_id, max(start or today_kst(now), today_kst(now)), now=now)
    return ctx.render("venues/detail.html.j2", partial="venues/_week.html.j2", week=week)
