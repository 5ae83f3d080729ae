"""A feed's version, its ``ETag`` and ``Last-Modified``, from one aggregate query over the rows it shows."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Integer,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from booking.models import Booking
from calendar_feeds.models import FeedScope
from calendar_feeds.subscriptions import ResolvedFeed
from calendar_feeds.window import FeedWindow, shown_slot
from programs.models import Program, ProgramSession
from venues.models import Closure, Slot, Space, Venue

# Bump when the rendered text changes, so that no cached body or client ETag of the old text survives.
RENDER_VERSION: Final = "1"


@dataclass(frozen=True, slots=True)
class FeedVersion:
    etag: str  # weak: bodies rendered by two workers differ in DTSTAMP, nothing else
    last_modified: datetime
    key: str  # of the render cache


def _version_part(n: int, updated: Any, *sums: Any) -> list[Any]:
    """One part of a version query: (part, count, latest updated_at, sum, sum, sum), zeros for missing sums."""
    zero: ColumnElement[int] = literal_column("0")
    padded = [func.coalesce(func.sum(s), 0) for s in sums] + [zero] * (3 - len(sums))
    return [
        literal_column(str(n)).label("part"),
        func.count().label("rows"),
        func.max(updated).label("updated"),
        *(column.label(f"sum_{i}") for i, column in enumerate(padded)),
    ]


@functools.cache
def version_statement(scope: FeedScope) -> CompoundSelect[Any]:
    """The version query of a scope, built once with bound parameters (``:venue``, ``:space``,
    ``:program``, ``:owner``, ``:start``, ``:end``): building and hashing the statement for every poll
    cost more than running it."""
    part = _version_part
    start: BindParameter[datetime] = bindparam("start", type_=DateTimeUTC(timezone=True))
    end: BindParameter[datetime] = bindparam("end", type_=DateTimeUTC(timezone=True))
    if scope == FeedScope.ME:
        mine = and_(
            Booking.user_id == bindparam("owner", type_=Integer), Booking.starts_at < end, Booking.ends_at > start
        )
        return union_all(
            select(*part(1, Booking.updated_at, Booking.sequence, Booking.party_size)).where(mine),
            select(*part(2, Venue.updated_at))
            .select_from(Booking)
            .join(Venue, Venue.id == Booking.venue_id)
            .where(mine),
            select(*part(3, Space.updated_at))
            .select_from(Booking)
            .join(Space, Space.id == Booking.space_id)
            .where(mine),
            select(*part(4, Program.updated_at))
            .select_from(Booking)
            .join(ProgramSession, ProgramSession.slot_id == Booking.slot_id)
            .join(Program, Program.id == ProgramSession.program_id)
            .where(mine),
        )
    venue: BindParameter[int] = bindparam("venue", type_=Integer)
    if scope == FeedScope.PROGRAM:
        # A programme's sessions, all of them (a few dozen): no window needed to bound the work.
        program: BindParameter[int] = bindparam("program", type_=Integer)
        sessions = ProgramSession.program_id == program
        return union_all(
            select(*part(1, ProgramSession.updated_at, ProgramSession.sequence)).where(sessions),
            select(*part(2, Slot.updated_at, Slot.sequence, Slot.taken, Slot.capacity))
            .select_from(ProgramSession)
            .join(Slot, Slot.id == ProgramSession.slot_id)
            .where(sessions),
            select(*part(3, Booking.updated_at, Booking.sequence, Booking.party_size))
            .select_from(ProgramSession)
            .join(Booking, Booking.slot_id == ProgramSession.slot_id)
            .where(sessions),
            select(*part(4, Program.updated_at)).where(Program.id == program),
            select(*part(5, Venue.updated_at)).where(Venue.id == venue),
            select(*part(6, Space.updated_at))
            .select_from(Program)
            .join(Space, Space.id == Program.space_id)
            .where(Program.id == program),
            # The roster shows the participants' names (masked): a renamed account must show.
            select(*part(7, User.updated_at))
            .select_from(ProgramSession)
            .join(Booking, Booking.slot_id == ProgramSession.slot_id)
            .join(User, User.id == Booking.user_id)
            .where(sessions),
        )
    if scope == FeedScope.SPACE:
        space: BindParameter[int] = bindparam("space", type_=Integer)
        slots, bookings = Slot.space_id == space, Booking.space_id == space
        programs, spaces = Program.space_id == space, Space.id == space
    else:
        slots, bookings = Slot.venue_id == venue, Booking.venue_id == venue
        programs, spaces = Program.venue_id == venue, Space.venue_id == venue
    return union_all(
        select(*part(1, Slot.updated_at, Slot.sequence, Slot.taken, Slot.capacity)).where(
            slots, Slot.starts_at < end, Slot.ends_at > start, shown_slot()
        ),
        # Every booking in the window, whatever its status: a place taken or given back shows in the
        # counts of the slots, and its updated_at is what Last-Modified can rely on.
        select(*part(2, Booking.updated_at, Booking.sequence, Booking.party_size)).where(
            bookings, Booking.starts_at < end, Booking.ends_at > start
        ),
        select(*part(3, Program.updated_at)).where(programs),
        select(*part(4, Space.updated_at)).where(spaces),
        select(*part(5, Venue.updated_at)).where(Venue.id == venue),
        # A closure closes slots with a Core UPDATE (sequence bumped, updated_at not): its own row dates it.
        select(*part(6, Closure.updated_at)).where(Closure.venue_id == venue),
        # A stay shows its holder's name (masked): a renamed account must show.
        select(*part(7, User.updated_at))
        .select_from(Booking)
        .join(User, User.id == Booking.user_id)
        .where(bookings, Booking.check_in.is_not(None), Booking.starts_at < end, Booking.ends_at > start),
    )


async def feed_version(session: AsyncSession, resolved: ResolvedFeed, window: FeedWindow, base_url: str) -> FeedVersion:
    """The feed's validators from one aggregate query over the rows it shows.

    Each part gives (count, latest updated_at, three sums). A change of any shown row moves at least
    one of them: a new or cancelled booking moves a count and a ``sequence`` sum, a place taken moves
    ``taken``, an edited venue, space or programme (its name, its address) or a renamed account its
    ``updated_at``. Sums are there because the booking engine
    changes ``slot.taken`` with guarded Core UPDATEs that do not touch ``updated_at``; a cancelled booking
    always bumps its ``sequence``.
    """
    target = resolved.target
    params: dict[str, Any] = {"start": window.start, "end": window.end}
    if target.scope == FeedScope.ME:
        params["owner"] = resolved.owner.id
    else:
        assert target.venue is not None
        params["venue"] = target.venue.id
        if target.space is not None:
            params["space"] = target.space.id
        if target.program is not None:
            params["program"] = target.program.id
    rows = (await session.execute(version_statement(target.scope), params)).all()
    facts = sorted((int(r[0]), int(r[1] or 0), r[2], int(r[3] or 0), int(r[4] or 0), int(r[5] or 0)) for r in rows)
    updated = [r[2] for r in facts if r[2] is not None]
    # Not before today's midnight in Seoul: the window moves by a day then, and an app that only
    # sends If-Modified-Since must fetch the moved window.
    last_modified = max([*updated, resolved.feed.created_at, window.today_start]).replace(microsecond=0)
    owner_part = resolved.owner.id if target.scope == FeedScope.ME else ""
    material = "|".join(
        [
            RENDER_VERSION,
            base_url,
            target.scope.value,
            str(target.target_id or ""),
            str(owner_part),
            window.today.isoformat(),
            *(f"{p}:{n}:{u.isoformat() if u else '-'}:{a}:{b}:{c}" for p, n, u, a, b, c in facts),
        ]
    )
    digest = hashlib.sha256(material.encode()).hexdigest()[:32]
    return FeedVersion(etag=f'W/"{digest}"', last_modified=last_modified, key=digest)
