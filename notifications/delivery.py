"""Delivery of the outbox: claim a due row, commit, send it, record what happened.

Each message goes through three short transactions, and the network is never inside one:

1. **claim**: ``UPDATE outbox_message SET status = 'sending', claimed_by = :worker, claimed_until = now +
   LEASE, attempts = attempts + 1 WHERE id = (SELECT id ... WHERE status = 'pending' AND
   next_attempt_at <= now ... LIMIT 1 FOR UPDATE SKIP LOCKED) AND status = 'pending'``, committed. On
   PostgreSQL two workers skip each other's candidates instead of waiting; on SQLite the write lock
   taken at ``BEGIN`` (``core.database``) serialises the claims. Either way the conditional UPDATE lets
   one worker, and only one, move a row from ``pending`` to ``sending``. The candidate is a scalar
   subquery (``id = (...)``), evaluated once: PostgreSQL may run ``id IN (... LIMIT 1 ...)`` as a join
   that claims more rows than the limit, rows that this worker would then never send.
2. **send** through the row's channel, with no transaction open.
3. **record**, by the worker that holds the claim: ``sent``; or ``pending`` again after a backoff that
   doubles with each try (``failed`` after ``notify_max_attempts``, or at once when the channel says
   the failure is permanent).

What is guaranteed. A row is sent only by the worker that claimed it, and claimed again only after a
failure was recorded, so a message is sent once however many workers run, in however many processes.
Two windows remain, and each is closed on the side of *no duplicate*:

- A worker stops (crash, kill, power) between handing the message over and recording ``sent``: the row
  stays ``sending``. It is never claimed again by itself; once its lease has run out (``LEASE``, longer
  than the SMTP timeout, so a live worker always records first) it is marked ``failed`` with the reason
  ``interrupted``, for an administrator to check in the mail log and send again if it never left
  (``POST /api/notifications/outbox/{id}/retry``). At most once across crashes, and never silently lost.
- The SMTP server accepts the message but the connection breaks before its ``250`` reaches us: that is
  indistinguishable from a failure and is tried again, so the message can arrive twice. Every try of a
  row carries the same ``Message-ID`` (and SMS gateways the same client reference), which lets mail
  stores, clients and gateways that deduplicate drop the copy. At least once for lost acknowledgements.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import utcnow
from core.database import unit_of_work
from core.settings import Settings
from notifications.channels import Channel, DeliveryFailed, Outgoing, channels_from
from notifications.models import ChannelName, DeliveryStatus, Notice, OutboxMessage
from notifications.templates import compose

log = logging.getLogger(__name__)

# How long a claim keeps other workers off a row. Longer than any send may take (the SMTP timeout is
# 20 s by default), so that a row still ``sending`` after it was held by a worker that is gone.
LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(hours=1)
INTERRUPTED = "interrupted while sending: it may or may not have left; check the mail log before retrying"


def worker_name() -> str:
    """Who holds a claim: host, process and run, so that two runs in one process are told apart."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try: base, 2 x base, 4 x base ... at most an hour."""
    seconds = settings.notify_backoff_seconds * 2 ** max(attempts - 1, 0)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def message_key(settings: Settings, row_id: int, notice_id: int, channel: str) -> str:
    """The same on every try of one row: the e-mail's Message-ID (RFC 5322), an SMS reference."""
    _, address = parseaddr(settings.smtp_from)
    domain = address.rpartition("@")[2] or "seoulrun4050.example"
    if channel == ChannelName.EMAIL:
        return f"<outbox.{row_id}.notice.{notice_id}@{domain}>"
    return f"seoulrun-outbox-{row_id}"


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    notice_id: int
    channel: str
    address: str
    facts: dict[str, Any]
    attempts: int
    notice: Notice | None  # read in the claim's transaction (None only if it is gone)


class Delivery:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        channels: dict[str, Channel] | None = None,
        *,
        worker: str | None = None,
        now: datetime | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.channels = channels if channels is not None else channels_from(settings)
        self.worker = worker or worker_name()
        self._now = now

    def now(self) -> datetime:
        return self._now or utcnow()

    async def run(self, limit: int = 500) -> int:
        """Send what is due, one row at a time, until nothing is due or ``limit`` rows were tried;
        returns how many were sent."""
        await self.mark_interrupted()
        sent = 0
        for _ in range(limit):
            claim = await self.claim()
            if claim is None:
                break
            sent += await self.deliver(claim)
        return sent

    async def mark_interrupted(self) -> int:
        """Rows left ``sending`` by a worker that is gone (its lease ran out): failed, never re-sent by
        themselves (see the module's docstring)."""
        at = self.now()
        async with unit_of_work(self.engine) as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == DeliveryStatus.SENDING, OutboxMessage.claimed_until < at)
                .values(status=DeliveryStatus.FAILED, last_error=INTERRUPTED, updated_at=at)
                .execution_options(synchronize_session=False)
            )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            log.warning("outbox: %d message(s) interrupted while sending, marked failed", count)
        return count

    async def claim(self) -> Claim | None:
        at = self.now()
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == DeliveryStatus.PENDING, OutboxMessage.next_attempt_at <= at)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        async with unit_of_work(self.engine) as session:
            row = (
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == due.scalar_subquery(), OutboxMessage.status == DeliveryStatus.PENDING)
                    .values(
                        status=DeliveryStatus.SENDING,
                        claimed_by=self.worker,
                        claimed_until=at + LEASE,
                        attempts=OutboxMessage.attempts + 1,
                        updated_at=at,
                    )
                    .returning(
                        OutboxMessage.id,
                        OutboxMessage.notice_id,
                        OutboxMessage.channel,
                        OutboxMessage.address,
                        OutboxMessage.facts,
                        OutboxMessage.attempts,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).first()
            notice = await session.get(Notice, row.notice_id) if row is not None else None
        if row is None:
            return None
        return Claim(row.id, row.notice_id, row.channel, row.address, dict(row.facts or {}), row.attempts, notice)

    def _outgoing(self, claim: Claim) -> Outgoing:
        if claim.notice is None:  # cannot happen while the foreign key cascades; permanent if it does
            raise DeliveryFailed("the notice is gone", permanent=True)
        words = compose(claim.channel, claim.notice, claim.facts, self.settings.base_url)
        return Outgoing(
            channel=claim.channel,
            to=claim.address,
            subject=words.subject,
            text=words.text,
            key=message_key(self.settings, claim.id, claim.notice_id, claim.channel),
        )

    async def deliver(self, claim: Claim) -> int:
        """Send one claimed row and record the outcome; 1 if it was sent."""
        try:
            message = self._outgoing(claim)
            channel = self.channels.get(claim.channel)
            if channel is None:
                raise DeliveryFailed(f"no channel {claim.channel!r} is configured")
            await channel.send(message)
        except Exception as exc:  # every failure is recorded; only the permanent ones end the tries
            permanent = isinstance(exc, DeliveryFailed) and exc.permanent
            await self._failed(claim, f"{type(exc).__name__}: {exc}", permanent=permanent)
            return 0
        await self._sent(claim)
        return 1

    async def _sent(self, claim: Claim) -> None:
        at = self.now()
        async with unit_of_work(self.engine) as session:
            result = await session.execute(
                update(OutboxMessage)
                # ``failed`` too: the lease ran out during a slow send that did succeed in the end.
                .where(
                    OutboxMessage.id == claim.id,
                    OutboxMessage.claimed_by == self.worker,
                    OutboxMessage.status.in_((DeliveryStatus.SENDING, DeliveryStatus.FAILED)),
                )
                .values(status=DeliveryStatus.SENT, sent_at=at, claimed_until=None, last_error="", updated_at=at)
                .execution_options(synchronize_session=False)
            )
        if not result.rowcount:  # type: ignore[attr-defined]
            log.warning("outbox: message %d was sent but its claim had been taken over", claim.id)

    async def _failed(self, claim: Claim, error: str, *, permanent: bool) -> None:
        at = self.now()
        give_up = permanent or claim.attempts >= self.settings.notify_max_attempts
        values: dict[str, Any] = {
            "claimed_by": None,
            "claimed_until": None,
            "last_error": error[:500],
            "updated_at": at,
        }
        if give_up:
            values["status"] = DeliveryStatus.FAILED
        else:
            values.update(status=DeliveryStatus.PENDING, next_attempt_at=at + backoff(self.settings, claim.attempts))
        async with unit_of_work(self.engine) as session:
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == claim.id,
                    OutboxMessage.claimed_by == self.worker,
                    OutboxMessage.status == DeliveryStatus.SENDING,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        log.warning(
            "outbox: message %d (%s, try %d) %s: %s",
            claim.id,
            claim.channel,
            claim.attempts,
            "failed for good" if give_up else "will be tried again",
            error,
        )
