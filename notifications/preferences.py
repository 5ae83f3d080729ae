"""Which channels carry a person's notices: e-mail by default (every account has an address), SMS when
they chose it and their account has a phone number. ``/api/me/notices`` shows every notice whatever
they chose."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from core.database import insert_ignoring_conflicts
from core.errors import ValidationFailed, field_error
from notifications.models import ChannelName, NotificationPreference
from notifications.schemas import PreferencesRead, PreferencesUpdate


async def chosen(session: AsyncSession, user_id: int, *, has_email: bool) -> PreferencesRead:
    row = (
        await session.execute(
            select(NotificationPreference.email, NotificationPreference.sms).where(
                NotificationPreference.user_id == user_id
            )
        )
    ).first()
    if row is None:
        return PreferencesRead(email=has_email, sms=False)
    return PreferencesRead(email=bool(row.email), sms=bool(row.sms))


async def preferences_of(session: AsyncSession, user: User) -> PreferencesRead:
    choice = await chosen(session, user.id, has_email=bool(user.email))
    return PreferencesRead(email=choice.email and bool(user.email), sms=choice.sms and bool(user.phone))


async def set_preferences(session: AsyncSession, user: User, data: PreferencesUpdate, now: datetime) -> PreferencesRead:
    if data.sms and not user.phone:
        raise ValidationFailed("validation.sms_needs_phone", errors=[field_error("sms", "field.needs_phone")])
    # Insert-or-update that holds when the same person saves twice at once (one row per person).
    await insert_ignoring_conflicts(
        session,
        NotificationPreference.__table__,
        [{"user_id": user.id, "email": data.email, "sms": data.sms, "created_at": now, "updated_at": now}],
    )
    await session.execute(
        update(NotificationPreference)
        .where(NotificationPreference.user_id == user.id)
        .values(email=data.email, sms=data.sms, updated_at=now)
    )
    return await preferences_of(session, user)


_ADDRESSES: Final = (
    select(
        User.name,
        User.email,
        User.phone,
        User.is_active,
        NotificationPreference.email.label("wants_email"),
        NotificationPreference.sms.label("wants_sms"),
    )
    .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
    .where(User.id == bindparam("user_id"))
)


async def addresses(session: AsyncSession, user_id: int) -> tuple[str, list[tuple[str, str]]]:
    """The person's name, and each channel they chose with the address it goes to (one query: it runs
    inside the booking's transaction, after the slot's lock was taken)."""
    row = (await session.execute(_ADDRESSES, {"user_id": user_id})).first()
    if row is None or not row.is_active:
        return "", []
    wants_email = row.wants_email if row.wants_email is not None else True
    found: list[tuple[str, str]] = []
    if wants_email and row.email:
        found.append((ChannelName.EMAIL, row.email))
    if row.wants_sms and row.phone:
        found.append((ChannelName.SMS, row.phone))
    return row.name, found
