"""``/``: what the programme offers, and where to start looking."""

from __future__ import annotations

from litestar import get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from web.pages import PageContext
from web.views import venue_kinds


@get("/", name="page.home")
async def home(ctx: PageContext, db_session: AsyncSession) -> Template:
    return ctx.render("home/index.html.j2", kinds=await venue_kinds(db_session))
