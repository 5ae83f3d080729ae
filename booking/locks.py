"""Locks, taken in one order everywhere so that two transactions never wait for each other in a circle:
the citizen's account row, then the booking's row, then the slot's row (taken by the guarded UPDATE of
``venues.places``), then stay nights. Work that would need a second citizen after a slot (a freed place
offered to the next in line) runs after the commit (``core.database.after_commit``).

SQLite has no row locks: its writers take the database's write lock at BEGIN (``core.database``), which
serialises them, so these are no-ops there.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from accounts.models import User
from accounts.services import locked_accounts, note_locked
from booking.models import Booking
from core.errors import NotFound

_LOCK_CITIZEN: Final = select(User.suspended_until).where(User.id == bindparam("user_id")).with_for_update()


async def lock_citizen(session: AsyncSession, user_id: int) -> User:
    """The citizen's account, locked: one citizen's bookings (overlap, quota, idempotency, suspension)
    are decided one at a time across processes; other citizens are not held up. An account the
    transaction locked already (``accounts.services.locked_accounts``: the booking route's
    authentication locks it) is not asked for again."""
    if user_id in locked_accounts(session):
        locked = await session.get(User, user_id)  # read under the lock, in the session since
        if locked is not None:
            return locked
    row = (await session.execute(_LOCK_CITIZEN, {"user_id": user_id})).first()
    if row is None:
        raise NotFound("not_found.account")
    note_locked(session, user_id)
    user = await session.get(User, user_id)  # in the session already when it made the request
    assert user is not None
    set_committed_value(user, "suspended_until", row[0])  # as it is now, under the lock
    return user


async def lock_booking(session: AsyncSession, booking_id: int) -> Booking:
    booking = await session.scalar(
        select(Booking).where(Booking.id == booking_id).with_for_update().execution_options(populate_existing=True)
    )
    if booking is None:
        raise NotFound("not_found.booking", booking_id=booking_id)
    return booking
