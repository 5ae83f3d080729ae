"""A person's notices: what happened to their bookings (a closure, a waitlist place, a moved session)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from core.clock import to_kst
from core.errors import NotFound
from core.pagination import Page, count
from notifications.models import Notice
from notifications.schemas import NoticeRead


def notice_read(notice: Notice) -> NoticeRead:
    return NoticeRead(
        id=notice.id,
        kind=notice.kind,
        title=notice.title,
        title_en=notice.title_en,
        body=notice.body,
        body_en=notice.body_en,
        booking_id=notice.booking_id,
        created_at=to_kst(notice.created_at),
        read_at=to_kst(notice.read_at) if notice.read_at else None,
    )


async def notices_of(session: AsyncSession, user: User, *, unread: bool, limit: int, offset: int) -> Page[NoticeRead]:
    query = select(Notice).where(Notice.user_id == user.id)
    if unread:
        query = query.where(Notice.read_at.is_(None))
    total = await count(session, query)
    rows = (await session.scalars(query.order_by(Notice.id.desc()).limit(limit).offset(offset))).all()
    return Page(items=[notice_read(n) for n in rows], total=total, limit=limit, offset=offset)


async def mark_read(session: AsyncSession, user: User, notice_id: int, now: datetime) -> None:
    result = await session.execute(
        update(Notice)
        .where(Notice.id == notice_id, Notice.user_id == user.id, Notice.read_at.is_(None))
        .values(read_at=now)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        exists = await session.scalar(select(Notice.id).where(Notice.id == notice_id, Notice.user_id == user.id))
        if exists is None:
            raise NotFound("not_found.notice", notice_id=notice_id)
