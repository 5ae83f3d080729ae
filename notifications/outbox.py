"""The one way a notice is written: ``notify`` writes the notice (shown at ``/api/me/notices``) and one outbox
row per channel the person chose, in the caller's transaction, so that the change that causes a notice
and its messages commit together or not at all. Nothing is sent here: ``notifications.delivery`` does
that after the commit, outside any lock."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.database import insert_row, write_at_commit
from core.i18n import Message
from notifications.models import ONCE_PER_BOOKING, DeliveryStatus, Notice, OutboxMessage
from notifications.preferences import addresses
from notifications.templates import About

# Written by one INSERT each (no objects: the unit of work's flush of them cost more than the
# statements, in every booking's transaction), with the commit (``core.database.write_at_commit``).
_NOTICE: Final = insert_row(Notice)
_OUTBOX: Final = insert_row(OutboxMessage)


async def _insert_once(session: AsyncSession, values: dict[str, object]) -> int | None:
    """The notice unless one of its kind exists for its booking (``uq_notice_once_per_booking``): two runs
    of a job racing to write it both get through, and the second writes nothing."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    notice_id = await session.scalar(upsert(Notice).values(**values).on_conflict_do_nothing().returning(Notice.id))
    return None if notice_id is None else int(notice_id)


async def notify(
    session: AsyncSession,
    user_id: int | None,
    kind: str,
    title: Message,
    body: Message | None = None,
    *,
    about: About | None = None,
    now: datetime | None = None,
) -> bool:
    """A notice in both languages (people read it in the language of their page) and its messages, one
    per channel the person chose, written with the commit; whether the person is told.

    Walk-in guests have no account and get nothing: staff tell them at the door. A kind that goes once
    per booking (``ONCE_PER_BOOKING``) is written at once, and not a second time: False then."""
    if user_id is None:
        return False
    at = now or utcnow()
    title_ko, title_en = title.both()
    body_ko, body_en = body.both() if body is not None else ("", "")
    values: dict[str, object] = {
        "user_id": user_id,
        "booking_id": about.booking_id if about is not None else None,
        "kind": kind,
        "title": title_ko[:200],
        "title_en": title_en[:200],
        "body": body_ko,
        "body_en": body_en,
        "created_at": at,
        "updated_at": at,
    }
    once = kind in ONCE_PER_BOOKING and about is not None
    notice_id = await _insert_once(session, values) if once else None
    if once and notice_id is None:
        return False
    name, channels = await addresses(session, user_id)
    facts = {"name": name, "about": about.to_facts() if about is not None else None}
    messages = [
        {
            "user_id": user_id,
            "channel": channel,
            "address": address,
            "facts": facts,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": at,
            "last_error": "",
            "created_at": at,
            "updated_at": at,
        }
        for channel, address in channels
    ]
    if notice_id is not None:
        if messages:
            await session.execute(_OUTBOX, [{**m, "notice_id": notice_id} for m in messages])
        return True
    await write_at_commit(session, _NOTICE, values, followers=[(_OUTBOX, m, "notice_id") for m in messages])
    return True
