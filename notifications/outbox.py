"""The one way a notice is written: ``notify`` adds the notice (shown at ``/api/me/notices``) and one outbox
row per channel the person chose, in the caller's transaction, so that the change that causes a notice
and its messages commit together or not at all. Nothing is sent here: ``notifications.delivery`` does
that after the commit, outside any lock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.i18n import Message
from notifications.models import ONCE_PER_BOOKING, DeliveryStatus, Notice, OutboxMessage
from notifications.preferences import addresses
from notifications.templates import About


async def _insert_once(session: AsyncSession, values: dict[str, object]) -> Notice | None:
    """The notice unless one of its kind exists for its booking (``uq_notice_once_per_booking``): two runs
    of a job racing to write it both get through, and the second writes nothing."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    notice_id = await session.scalar(insert(Notice).values(**values).on_conflict_do_nothing().returning(Notice.id))
    return None if notice_id is None else await session.get(Notice, notice_id)


async def notify(
    session: AsyncSession,
    user_id: int | None,
    kind: str,
    title: Message,
    body: Message | None = None,
    *,
    about: About | None = None,
    now: datetime | None = None,
) -> Notice | None:
    """A notice in both languages (people read it in the language of their page) and its messages.

    Walk-in guests have no account and get nothing: staff tell them at the door. A kind that goes once
    per booking (``ONCE_PER_BOOKING``) is not written a second time: None then."""
    if user_id is None:
        return None
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
    if kind in ONCE_PER_BOOKING and about is not None:
        notice = await _insert_once(session, values)
        if notice is None:
            return None
    else:
        # Not flushed here: the notice and its rows go with the caller's next flush or its commit, so that
        # a booking adds no round trip between taking its slot's lock and committing but this one query.
        notice = Notice(**values)
        session.add(notice)
    name, channels = await addresses(session, user_id)
    facts = {"name": name, "about": about.to_facts() if about is not None else None}
    for channel, address in channels:
        session.add(
            OutboxMessage(
                notice=notice,
                user_id=user_id,
                channel=channel,
                address=address,
                facts=facts,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=at,
                last_error="",
            )
        )
    return notice
