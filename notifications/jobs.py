"""Scheduled work of notifications: deliver the outbox, and tell people when their suspension has ended.
Each job takes one item per transaction and is idempotent: run twice, or in two processes at once, it
sends nothing twice and writes no second notice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.models import User
from core.clock import to_kst, utcnow
from core.database import unit_of_work
from core.i18n import msg
from core.settings import Settings
from notifications.delivery import Delivery
from notifications.outbox import notify


async def deliver_notifications(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    return await Delivery(engine, settings, now=now).run()


async def end_suspensions(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    """Suspensions whose end has passed are lifted and the person told, once: the conditional UPDATE
    that clears ``suspended_until`` is won by one run only, and only the winner writes the notice."""
    at = now or utcnow()
    async with unit_of_work(engine) as session:
        user_ids = list(
            (
                await session.scalars(
                    select(User.id)
                    .where(User.suspended_until.is_not(None), User.suspended_until <= at)
                    .order_by(User.id)
                )
            ).all()
        )
    ended = 0
    for user_id in user_ids:
        async with unit_of_work(engine) as session:
            until = await session.scalar(select(User.suspended_until).where(User.id == user_id))
            result = await session.execute(
                update(User)
                .where(User.id == user_id, User.suspended_until.is_not(None), User.suspended_until <= at)
                .values(suspended_until=None)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1 or until is None:  # type: ignore[attr-defined]
                continue  # another run lifted it, or a new suspension began meanwhile
            await notify(
                session,
                user_id,
                "suspension_ended",
                msg("notice.suspension_ended.title"),
                msg("notice.suspension_ended.body", ended_at=to_kst(until)),
                now=at,
            )
            ended += 1
    return ended
