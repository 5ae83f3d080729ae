"""What a closure does to bookings: added, it closes the slots of its days, cancels the programme
sessions on them, cancels every booking it hits and tells each person; removed, it reopens what it
closed (its cancelled bookings stay cancelled: their people were told). Wired to the venue catalogue's
``ClosureHooks`` by ``server.wiring``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.privacy import mask_name
from booking.history import History
from booking.holding import Holding
from booking.locks import lock_booking
from booking.models import ACTIVE, Booking, BookingStatus
from booking.reads import holder_name
from booking.schemas import ClosurePreview, ClosurePreviewBooking, ClosurePreviewSession
from booking.waitlist import Waitlist
from core.clock import day_bounds_utc, to_kst, utcnow
from core.i18n import msg
from programs.services import ProgramService
from venues.models import Closure, Slot, SlotStatus, Space, StayNight


def _slots_of(closure: Closure) -> Select[tuple[int]]:
    start, _ = day_bounds_utc(closure.start_date)
    _, end = day_bounds_utc(closure.end_date)
    query = select(Slot.id).where(Slot.venue_id == closure.venue_id, Slot.starts_at < end, Slot.ends_at > start)
    if closure.space_id is not None:
        query = query.where(Slot.space_id == closure.space_id)
    return query


def _closable(closure: Closure) -> tuple[ColumnElement[bool], ...]:
    """The slots a closure closes: the open ones of its days (blocked and closed ones stay as they are)."""
    return (Slot.id.in_(_slots_of(closure)), Slot.status == SlotStatus.OPEN)


def _hit(closure: Closure) -> Select[tuple[int]]:
    """The bookings a closure cancels: active ones on its slots or holding one of its nights. Saving a
    closure cancels exactly these; a preview lists them before it is saved (one query for both)."""
    nights = select(StayNight.booking_id).where(
        StayNight.night >= closure.start_date,
        StayNight.night <= closure.end_date,
        StayNight.booking_id.is_not(None),
    )
    if closure.space_id is not None:
        nights = nights.where(StayNight.space_id == closure.space_id)
    return (
        select(Booking.id)
        .where(
            Booking.venue_id == closure.venue_id,
            Booking.status.in_(ACTIVE),
            or_(Booking.slot_id.in_(_slots_of(closure)), Booking.id.in_(nights)),
        )
        .order_by(Booking.id)
    )


class Closures:
    def __init__(self, session: AsyncSession, now: datetime | None = None) -> None:
        self.session = session
        self.now = now or utcnow()
        self.history = History(session, self.now)
        self.holding = Holding(session, self.now)

    async def added(self, closure: Closure) -> int:
        # Bookings first (each locked before its slot, the engine's lock order), then the slots close so
        # that nothing new can take them, then whatever got in between the two.
        cancelled = await self._cancel_hit(closure)
        closed = list(
            (
                await self.session.scalars(
                    update(Slot)
                    .where(*_closable(closure))
                    .values(
                        status=SlotStatus.CLOSED,
                        closure_id=closure.id,
                        note=closure.reason[:300],
                        sequence=Slot.sequence + 1,
                    )
                    .returning(Slot.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        )
        await ProgramService(self.session, now=self.now).close_sessions(closed)
        return cancelled + await self._cancel_hit(closure)

    async def preview(self, closure: Closure) -> ClosurePreview:
        """What saving ``closure`` (checked, not saved) would do: the bookings it would cancel, with
        masked names, and the programme sessions it would cancel. Nothing is written."""
        rows = (
            await self.session.execute(
                select(Booking, User, Space)
                .outerjoin(User, User.id == Booking.user_id)
                .join(Space, Space.id == Booking.space_id)
                .where(Booking.id.in_(_hit(closure)))
                .order_by(Booking.starts_at, Booking.id)
            )
        ).all()
        closing = select(Slot.id).where(*_closable(closure))
        sessions = await ProgramService(self.session, now=self.now).sessions_on(closing)
        return ClosurePreview(
            venue_id=closure.venue_id,
            space_id=closure.space_id,
            start_date=closure.start_date,
            end_date=closure.end_date,
            bookings=[
                ClosurePreviewBooking(
                    id=booking.id,
                    status=booking.status,
                    party_size=booking.party_size,
                    start=to_kst(booking.starts_at),
                    end=to_kst(booking.ends_at),
                    space_id=space.id,
                    space_name=space.name,
                    space_name_en=space.name_en,
                    slot_id=booking.slot_id,
                    holder=mask_name(holder_name(booking, user)),
                )
                for booking, user, space in rows
            ],
            sessions=[
                ClosurePreviewSession(
                    program_id=program.id,
                    title=program.title,
                    title_en=program.title_en,
                    session_id=session.id,
                    slot_id=slot.id,
                    start=to_kst(slot.starts_at),
                    end=to_kst(slot.ends_at),
                    status=session.status,
                )
                for program, session, slot in sessions
            ],
        )

    async def _cancel_hit(self, closure: Closure) -> int:
        hit = (await self.session.scalars(_hit(closure))).all()
        cancelled = 0
        for booking_id in hit:
            booking = await lock_booking(self.session, booking_id)
            previous = booking.status
            if previous not in ACTIVE:
                continue
            note = f"{closure.reason} / {closure.reason_en}"
            if not await self.history.transition(
                booking, ACTIVE, BookingStatus.CANCELLED, "closure", closure.created_by_id, note
            ):
                continue
            await self.holding.release(booking, previous)
            await self.history.notify(
                booking.user_id,
                "closure_cancelled",
                msg("notice.closure_cancelled.title"),
                msg(
                    "notice.closure_cancelled.body",
                    starts_at=to_kst(booking.starts_at),
                    reason=closure.reason,
                    reason_en=closure.reason_en or closure.reason,
                ),
                booking=booking,
            )
            cancelled += 1
        return cancelled

    async def removed(self, closure: Closure) -> int:
        """Reopen the slots this closure closed, unless another closure still covers them; their
        programme sessions are scheduled again and their freed places offered to any queue."""
        slots = (await self.session.scalars(select(Slot).where(Slot.closure_id == closure.id))).all()
        others = (
            await self.session.scalars(
                select(Closure).where(
                    Closure.venue_id == closure.venue_id,
                    Closure.id != closure.id,
                    Closure.start_date <= closure.end_date,
                    Closure.end_date >= closure.start_date,
                )
            )
        ).all()
        reopened: list[int] = []
        for slot in slots:
            day = to_kst(slot.starts_at).date()
            still = next(
                (
                    c
                    for c in others
                    if c.start_date <= day <= c.end_date and (c.space_id is None or c.space_id == slot.space_id)
                ),
                None,
            )
            if still is not None:
                slot.closure_id = still.id
                continue
            slot.status = SlotStatus.OPEN
            slot.closure_id = None
            slot.note = ""
            slot.sequence += 1
            reopened.append(slot.id)
        await self.session.flush()
        await ProgramService(self.session, now=self.now).reopen_sessions(reopened)
        waitlist = Waitlist(self.session, self.now)
        for slot_id in reopened:
            waitlist.promote_later(slot_id)
        return len(reopened)


async def on_closure_added(session: AsyncSession, closure: Closure) -> None:
    await Closures(session).added(closure)


async def on_closure_removed(session: AsyncSession, closure: Closure) -> None:
    await Closures(session).removed(closure)
