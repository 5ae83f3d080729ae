"""Slot generation: each space's opening hours cut into slots of its length over a rolling horizon.

Closed days (Korean public holidays unless the venue opens on them, closures of the venue or of the
space, weekdays without hours) get no slots. Generation is idempotent: a slot is keyed by its space and
start, and existing slots are never touched, so the daily job and a manual run can overlap safely.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import kst, today_kst, utcnow
from core.database import insert_ignoring_conflicts
from venues.days import day_statuses
from venues.models import Slot, SlotOrigin, SlotStatus, Space, SpaceShape, Venue
from venues.opening import DayStatus

HORIZON_DAYS = 42  # beyond the widest booking window of the kind defaults (30 days for the town)


def slot_capacity(space: Space) -> int:
    """Exclusive spaces take one party per slot; shared ones count people."""
    return 1 if space.shape == SpaceShape.EXCLUSIVE else space.capacity


def slots_of_day(status: DayStatus, slot_minutes: int) -> Iterator[tuple[datetime, datetime]]:
    length = timedelta(minutes=slot_minutes)
    for interval in status.hours:
        start = kst(status.date, interval.opens)
        closes = kst(status.date, interval.closes)
        while start + length <= closes:
            yield start, start + length
            start += length


async def generate_slots(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    venue_ids: list[int] | None = None,
) -> int:
    """Create the missing slots of every bookable space for Seoul dates ``start``..``end``."""
    query = select(Venue).where(Venue.is_active.is_(True)).order_by(Venue.id)
    if venue_ids is not None:
        query = query.where(Venue.id.in_(venue_ids))
    venues = (await session.scalars(query)).all()
    spaces = (
        await session.scalars(
            select(Space).where(
                Space.is_active.is_(True),
                Space.shape != SpaceShape.STAY,
                Space.venue_id.in_([v.id for v in venues]),
            )
        )
    ).all()
    by_venue: dict[int, list[Space]] = {}
    for space in spaces:
        by_venue.setdefault(space.venue_id, []).append(space)
    # Sessions and one-off slots own their time: no generated slot is made over them.
    lower, upper = kst(start, time(0)), kst(end + timedelta(days=1), time(0))
    taken_times: dict[int, list[tuple[datetime, datetime]]] = {}
    for space_id, starts_at, ends_at in await session.execute(
        select(Slot.space_id, Slot.starts_at, Slot.ends_at).where(
            Slot.space_id.in_([s.id for s in spaces]),
            Slot.origin != SlotOrigin.GENERATED,
            Slot.status != SlotStatus.CLOSED,
            Slot.starts_at < upper,
            Slot.ends_at > lower,
        )
    ):
        taken_times.setdefault(space_id, []).append((starts_at, ends_at))
    rows: list[dict[str, object]] = []
    for venue in venues:
        venue_spaces = by_venue.get(venue.id, [])
        if not venue_spaces:
            continue
        for space in venue_spaces:
            assert space.slot_minutes is not None
            for status in await day_statuses(session, venue, start, end, space_id=space.id):
                if not status.open:
                    continue
                for slot_start, slot_end in slots_of_day(status, space.slot_minutes):
                    if any(s < slot_end and e > slot_start for s, e in taken_times.get(space.id, ())):
                        continue
                    rows.append(
                        {
                            "space_id": space.id,
                            "venue_id": venue.id,
                            "starts_at": slot_start,
                            "ends_at": slot_end,
                            "capacity": slot_capacity(space),
                            "taken": 0,
                            "status": SlotStatus.OPEN,
                            "origin": SlotOrigin.GENERATED,
                            "note": "",
                            "created_at": utcnow(),
                            "updated_at": utcnow(),
                        }
                    )
    return await insert_ignoring_conflicts(session, Slot.__table__, rows)


async def extend_horizon(session: AsyncSession, *, now: datetime | None = None, days: int = HORIZON_DAYS) -> int:
    today = today_kst(now)
    return await generate_slots(session, start=today, end=today + timedelta(days=days))
