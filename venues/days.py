"""A venue's days as the database knows them: its weekly hours, Korean public holidays and its
closures, day by day (the rules themselves are in ``venues.opening``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from venues.models import Closure, OpeningHours, Venue
from venues.opening import ClosureSpan, DayStatus, day_status, weekly_hours


async def closures_between(session: AsyncSession, venue_id: int, start: date, end: date) -> Sequence[Closure]:
    return (
        await session.scalars(
            select(Closure)
            .where(Closure.venue_id == venue_id, Closure.start_date <= end, Closure.end_date >= start)
            .order_by(Closure.start_date, Closure.id)
        )
    ).all()


async def day_statuses(
    session: AsyncSession, venue: Venue, start: date, end: date, *, space_id: int | None = None
) -> list[DayStatus]:
    """Open or closed, with hours or the reason, for each Seoul date from ``start`` to ``end``."""
    hours_rows = (
        await session.execute(
            select(OpeningHours.weekday, OpeningHours.opens, OpeningHours.closes).where(
                OpeningHours.venue_id == venue.id
            )
        )
    ).all()
    hours = weekly_hours((w, o, c) for w, o, c in hours_rows)
    closures = [
        ClosureSpan(c.start_date, c.end_date, c.reason, c.reason_en, c.space_id)
        for c in await closures_between(session, venue.id, start, end)
    ]
    return [
        day_status(
            start + timedelta(days=n), hours, closures, opens_on_holidays=venue.opens_on_holidays, space_id=space_id
        )
        for n in range((end - start).days + 1)
    ]
