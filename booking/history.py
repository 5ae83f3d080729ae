"""A booking's life as it is written down: every change of status through one conditional UPDATE that
records who made it and why, and the notices that tell people about it.

A change is ``UPDATE booking SET status = :to WHERE id = :id AND status IN (:expected)``: of two
processes changing the same booking at once, exactly one wins, and only the winner records the change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, BookingEvent, Notice
from core.i18n import Message


class History:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now

    def record(
        self,
        booking: Booking,
        from_status: str | None,
        to_status: str,
        reason: str,
        actor_id: int | None,
        note: str = "",
    ) -> None:
        self.session.add(
            BookingEvent(
                booking_id=booking.id,
                at=self.now,
                from_status=from_status,
                to_status=to_status,
                actor_id=actor_id,
                reason=reason,
                note=note[:500],
            )
        )

    async def transition(
        self,
        booking: Booking,
        expected: Iterable[str],
        to_status: str,
        reason: str,
        actor_id: int | None,
        note: str = "",
        **values: Any,
    ) -> bool:
        """Move ``booking`` to ``to_status`` if it is still in one of ``expected``, and record it.
        False if another change got there first (the booking is then refreshed)."""
        result = await self.session.execute(
            update(Booking)
            .where(Booking.id == booking.id, Booking.status.in_(tuple(expected)))
            .values(status=to_status, sequence=Booking.sequence + 1, updated_at=self.now, **values)
            .execution_options(synchronize_session=False)
        )
        from_status = booking.status
        await self.session.refresh(booking)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self.record(booking, from_status, to_status, reason, actor_id, note)
        return True

    def notify(
        self,
        user_id: int | None,
        kind: str,
        title: Message,
        body: Message | None = None,
        *,
        booking: Booking | None = None,
    ) -> None:
        """A notice in both languages (people read it in the language of their page). Walk-in guests
        have no account and no notices: staff tell them at the door."""
        if user_id is None:
            return
        title_ko, title_en = title.both()
        body_ko, body_en = body.both() if body is not None else ("", "")
        self.session.add(
            Notice(
                user_id=user_id,
                booking_id=booking.id if booking is not None else None,
                kind=kind,
                title=title_ko[:200],
                title_en=title_en[:200],
                body=body_ko,
                body_en=body_en,
            )
        )
