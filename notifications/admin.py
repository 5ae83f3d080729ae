"""The outbox as administrators see it: what was sent, what waits, what failed and why; a failed message
sent again on request (after checking, for one ``interrupted`` while sending, that it never left)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import to_kst
from core.errors import InvalidTransition, NotFound
from core.pagination import Page, count
from notifications.models import DeliveryStatus, Notice, OutboxMessage
from notifications.schemas import OutboxMessageRead


def outbox_read(row: OutboxMessage, kind: str) -> OutboxMessageRead:
    return OutboxMessageRead(
        id=row.id,
        notice_id=row.notice_id,
        user_id=row.user_id,
        kind=kind,
        channel=row.channel,
        address=row.address,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=to_kst(row.next_attempt_at),
        sent_at=to_kst(row.sent_at) if row.sent_at else None,
        last_error=row.last_error,
        created_at=to_kst(row.created_at),
    )


async def outbox_page(
    session: AsyncSession, *, status: str | None, user_id: int | None, limit: int, offset: int
) -> Page[OutboxMessageRead]:
    query = select(OutboxMessage, Notice.kind).join(Notice, Notice.id == OutboxMessage.notice_id)
    if status:
        query = query.where(OutboxMessage.status == status)
    if user_id is not None:
        query = query.where(OutboxMessage.user_id == user_id)
    total = await count(session, query)
    rows = (await session.execute(query.order_by(OutboxMessage.id.desc()).limit(limit).offset(offset))).all()
    return Page(items=[outbox_read(r, k) for r, k in rows], total=total, limit=limit, offset=offset)


async def retry(session: AsyncSession, message_id: int, now: datetime) -> OutboxMessageRead:
    """A failed message back in the queue with a fresh count of tries; any other state is refused."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == DeliveryStatus.FAILED)
        .values(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    found = (
        await session.execute(
            select(OutboxMessage, Notice.kind)
            .join(Notice, Notice.id == OutboxMessage.notice_id)
            .where(OutboxMessage.id == message_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    if found is None:
        raise NotFound("not_found.outbox_message", message_id=message_id)
    row, kind = found
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("invalid_transition.not_failed", delivery_status=row.status)
    return outbox_read(row, kind)


async def outbox_depth(session: AsyncSession) -> dict[str, int]:
    """How many messages wait (``pending``), are being sent, or have failed: one grouped count on the
    outbox's (status, next_attempt_at) index, read when /metrics is scraped."""
    waiting = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED)
    rows = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.status.in_(waiting))
        .group_by(OutboxMessage.status)
    )
    counted = {str(status): int(n) for status, n in rows.all()}
    return {str(status): counted.get(str(status), 0) for status in waiting}
