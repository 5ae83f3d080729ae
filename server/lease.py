"""Which process runs the scheduled jobs: the one that holds the lease row ``scheduler_lease``.

Every process with a scheduler tries, every ``scheduler_renew_seconds``, one guarded UPDATE::

    UPDATE scheduler_lease SET holder = :me, expires_at = :now + ttl
    WHERE name = 'scheduler' AND (holder = :me OR expires_at <= :now)

and, when no row is there yet, an INSERT that ignores a conflict. The process whose statement changed
the row leads until the ``expires_at`` it wrote; the leader renews long before then, everyone else's
UPDATE matches nothing until the lease has run out. A leader that dies (kill -9, a lost machine) is
replaced by the first renewal after its lease expired: within ``lease + renew`` seconds (40 s by default).

Why a lease row rather than a PostgreSQL advisory lock: it works the same on SQLite (the laptop and the
tests run the very code production runs); it needs no connection held open for as long as a process
leads (a session-level advisory lock is lost silently with its connection, and does not survive a
transaction-pooling proxy such as PgBouncer); and whoever leads, until when, is a row that ``/health``
and a person can read. What it asks in return: the clocks of the servers agree to within a few seconds
(NTP), since each compares the expiry with its own clock. Should they not, or should a leader stall for
longer than its lease, two processes may both believe they lead for a moment; the ``job_run`` row that
each occurrence inserts before it runs (``server.job_runs``) still lets only one of them run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import String, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.database import insert_ignoring_conflicts, unit_of_work
from core.settings import Settings

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"


class SchedulerLease(DefaultBase):
    """One row per lease: who holds it and until when (aware UTC)."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


def process_name() -> str:
    """This process among all servers: host, pid and a random tail (pids repeat across restarts)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class LeaseView:
    holder: str | None
    expires_at: datetime | None


# The scheduler's lease as one plain query, for ``core.catalogue_version.VersionReader.fetch_row`` (the
# cheap read that ``/health`` makes): a primary-key lookup, its holder and expiry.
LEASE_QUERY: Final = f"SELECT holder, expires_at FROM scheduler_lease WHERE name = '{SCHEDULER}'"  # noqa: S608


def lease_of_row(row: tuple[Any, ...] | None) -> LeaseView:
    """A row of ``LEASE_QUERY``: PostgreSQL's driver gives an aware datetime, SQLite's the stored text."""
    if row is None:
        return LeaseView(None, None)
    holder, expires = row
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires)
    if isinstance(expires, datetime) and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return LeaseView(holder, expires)


class Leader:
    """This process's part in the lease: take or renew it now and then, and say whether it leads."""

    def __init__(self, engine: AsyncEngine, settings: Settings, *, holder: str | None = None, name: str = SCHEDULER):
        self.engine = engine
        self.name = name
        self.holder = holder or process_name()
        self.ttl = timedelta(seconds=settings.scheduler_lease_seconds)
        self.renew_every = settings.scheduler_renew_seconds
        # The end of the lease this process last wrote: it leads until then, without asking again.
        self._until: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def leads(self, now: datetime | None = None) -> bool:
        return self._until is not None and (now or utcnow()) < self._until

    @property
    def until(self) -> datetime | None:
        return self._until

    async def try_take(self, now: datetime | None = None) -> bool:
        """Renew the lease if this process holds it, take it if it has run out; True if this process
        leads afterwards. The guarded UPDATE is the guard: of two processes that race for an expired
        lease, the second one's UPDATE finds the first one's row, not expired, and changes nothing."""
        now = now or utcnow()
        until = now + self.ttl
        was_leading = self.leads(now)
        async with unit_of_work(self.engine) as session:
            result = await session.execute(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == self.name,
                    or_(SchedulerLease.holder == self.holder, SchedulerLease.expires_at <= now),
                )
                .values(holder=self.holder, expires_at=until)
                .execution_options(synchronize_session=False)
            )
            taken: bool = result.rowcount == 1  # type: ignore[attr-defined]
            if not taken:  # the very first lease: one of the racing INSERTs makes the row
                row = {"name": self.name, "holder": self.holder, "expires_at": until}
                taken = await insert_ignoring_conflicts(session, SchedulerLease.__table__, [row]) == 1
        self._until = until if taken else None
        if taken and not was_leading:
            log.info("scheduler: %s leads until %s", self.holder, until.isoformat())
        elif was_leading and not taken:
            log.warning("scheduler: %s no longer leads", self.holder)
        return taken

    async def release(self) -> None:
        """Give the lease up (at shutdown), so that another process takes over at its next renewal
        instead of after the lease has run out."""
        if self._until is None:
            return
        self._until = None
        async with unit_of_work(self.engine) as session:
            await session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                .values(expires_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        log.info("scheduler: %s released the lease", self.holder)

    async def _keep(self) -> None:
        while True:
            try:
                await self.try_take()
            except Exception:  # a database away for a moment: lead on until the lease written ends
                log.warning("scheduler: could not renew the lease", exc_info=True)
            await asyncio.sleep(self.renew_every)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep(), name="scheduler-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.release()
        except Exception:  # the lease then runs out by itself
            log.warning("scheduler: could not release the lease", exc_info=True)
