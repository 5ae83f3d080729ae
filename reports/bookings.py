"""The booking report: figures per venue kind, venue, programme or week, counted by the database.

Two ``GROUP BY`` queries over the period's bookings and slots (by start, in Seoul dates), merged by group
key. What each figure means is stated in API.md ("Reports"); in short:

- ``bookings``: every booking starting in the period, in any status;
- ``confirmed``, ``cancelled``, ``no_shows``: those in that status now; ``attended``: checked in or out;
- ``cancellation_rate`` = cancelled / bookings; ``no_show_rate`` = no_shows / (attended + no_shows);
- ``places_offered``: the capacity of the open slots starting in the period (blocked and closed slots
  offer nothing; stays have nights, not slots, and are left out of the share);
- ``places_used``: the places (units) those slots' confirmed, checked-in and checked-out bookings take;
- ``share_used`` = places_used / places_offered. A rate whose denominator is 0 is null.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Date, Select, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, BookingStatus
from core.clock import day_bounds_utc
from programs.models import Program, ProgramSession
from venues.models import Slot, SlotStatus, Venue

USED = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.CHECKED_OUT)
ATTENDED = (BookingStatus.CHECKED_IN, BookingStatus.CHECKED_OUT)


class Group(StrEnum):
    VENUE_KIND = "venue_kind"
    VENUE = "venue"
    PROGRAM = "program"
    WEEK = "week"


class ReportRow(msgspec.Struct):
    key: str  # the venue kind, the venue's or programme's id, or the Monday of the week (Seoul)
    label: str  # the venue's or programme's name; the kind or the week for the others
    bookings: int
    confirmed: int
    cancelled: int
    attended: int
    no_shows: int
    cancellation_rate: float | None
    no_show_rate: float | None
    places_offered: int
    places_used: int
    share_used: float | None


class BookingReport(msgspec.Struct):
    group: Group
    from_: date = msgspec.field(name="from")
    to: date = msgspec.field(name="to")
    venue_id: int | None = None
    rows: list[ReportRow] = msgspec.field(default_factory=list)


CSV_COLUMNS = tuple(f.encode_name for f in msgspec.structs.fields(ReportRow))


def _week(column: Any, dialect: str) -> ColumnElement[Any]:
    """The Monday (Seoul) of the week an instant falls in."""
    # Literals, not bound parameters: PostgreSQL must see the GROUP BY expression as the selected one.
    if dialect == "postgresql":
        seoul = func.timezone(literal_column("'Asia/Seoul'"), column)
        return cast(func.date_trunc(literal_column("'week'"), seoul), Date)
    # SQLite keeps UTC text: shift to Seoul, go to the week's Sunday, then back to its Monday.
    return func.date(column, literal_column("'+9 hours'"), literal_column("'weekday 0'"), literal_column("'-6 days'"))


def _keyed(
    group: Group, query: Select[Any], starts_at: Any, venue_col: Any, slot_col: Any, dialect: str
) -> Select[Any]:
    """The query with its group key and label as the first two columns, grouped by them."""
    if group == Group.VENUE_KIND:
        query = query.add_columns(Venue.kind.label("key"), Venue.kind.label("label")).join(Venue, Venue.id == venue_col)
        return query.group_by(Venue.kind)
    if group == Group.VENUE:
        query = query.add_columns(Venue.id.label("key"), Venue.name.label("label")).join(Venue, Venue.id == venue_col)
        return query.group_by(Venue.id, Venue.name)
    if group == Group.PROGRAM:
        query = (
            query.add_columns(Program.id.label("key"), Program.title.label("label"))
            .join(ProgramSession, ProgramSession.slot_id == slot_col)
            .join(Program, Program.id == ProgramSession.program_id)
        )
        return query.group_by(Program.id, Program.title)
    week = _week(starts_at, dialect)
    return query.add_columns(week.label("key"), week.label("label")).group_by(week)


def _count(*statuses: str) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((Booking.status.in_(statuses), 1), else_=0)), 0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def booking_report(
    session: AsyncSession,
    group: Group,
    start: date,
    end: date,
    *,
    venue_id: int | None,
    venues: Collection[int] | None,
) -> BookingReport:
    """``venues``: the venues the reader may see (None: all)."""
    dialect = session.get_bind().dialect.name
    since, until = day_bounds_utc(start)[0], day_bounds_utc(end)[1]

    figures = select().select_from(Booking).where(Booking.starts_at >= since, Booking.starts_at < until)
    figures = _keyed(group, figures, Booking.starts_at, Booking.venue_id, Booking.slot_id, dialect).add_columns(
        func.count(Booking.id),
        _count(BookingStatus.CONFIRMED),
        _count(BookingStatus.CANCELLED),
        _count(*ATTENDED),
        _count(BookingStatus.NO_SHOW),
    )
    # The places taken in each slot by its bookings that use them, one row per slot, then summed by group.
    taken = (
        select(Booking.slot_id.label("slot_id"), func.sum(Booking.units).label("units"))
        .where(Booking.slot_id.is_not(None), Booking.status.in_(USED))
        .group_by(Booking.slot_id)
        .subquery()
    )
    offered = (
        select()
        .select_from(Slot)
        .outerjoin(taken, taken.c.slot_id == Slot.id)
        .where(Slot.starts_at >= since, Slot.starts_at < until, Slot.status == SlotStatus.OPEN)
    )
    offered = _keyed(group, offered, Slot.starts_at, Slot.venue_id, Slot.id, dialect).add_columns(
        func.coalesce(func.sum(Slot.capacity), 0), func.coalesce(func.sum(taken.c.units), 0)
    )
    if venue_id is not None:
        figures = figures.where(Booking.venue_id == venue_id)
        offered = offered.where(Slot.venue_id == venue_id)
    if venues is not None:
        figures = figures.where(Booking.venue_id.in_(sorted(venues)))
        offered = offered.where(Slot.venue_id.in_(sorted(venues)))

    rows: dict[str, dict[str, Any]] = {}
    for key, label, total, confirmed, cancelled, attended, no_shows in (await session.execute(figures)).all():
        rows[str(key)] = {
            "key": str(key),
            "label": str(label),
            "bookings": int(total),
            "confirmed": int(confirmed),
            "cancelled": int(cancelled),
            "attended": int(attended),
            "no_shows": int(no_shows),
        }
    for key, label, capacity, used in (await session.execute(offered)).all():
        row = rows.setdefault(str(key), {"key": str(key), "label": str(label)})
        row["places_offered"], row["places_used"] = int(capacity), int(used)

    def read(row: dict[str, Any]) -> ReportRow:
        counts = {k: row.get(k, 0) for k in ("bookings", "confirmed", "cancelled", "attended", "no_shows")}
        offered_, used_ = row.get("places_offered", 0), row.get("places_used", 0)
        return ReportRow(
            key=row["key"],
            label=row["label"],
            **counts,
            cancellation_rate=_rate(counts["cancelled"], counts["bookings"]),
            no_show_rate=_rate(counts["no_shows"], counts["attended"] + counts["no_shows"]),
            places_offered=offered_,
            places_used=used_,
            share_used=_rate(used_, offered_),
        )

    ordered = sorted(rows.values(), key=lambda r: (int(r["key"]) if r["key"].isdigit() else 0, r["key"]))
    return BookingReport(group=group, from_=start, to=end, venue_id=venue_id, rows=[read(r) for r in ordered])


__all__ = ["CSV_COLUMNS", "BookingReport", "Group", "ReportRow", "booking_report"]
