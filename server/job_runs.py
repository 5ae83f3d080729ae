"""One row per occurrence of a scheduled job: the record of what ran, and the guard that it ran once.

An occurrence is the job's scheduled instant on its grid (``occurrence_of``: the time truncated to the
job's period, counted from midnight in Seoul on 2000-01-01), so every process computes the same one for
the same tick. Before a job runs, its row is inserted and committed; ``UNIQUE (job, occurrence)`` lets
one insert win. Only the leader runs jobs (``server.lease``), so two inserts for one occurrence happen
only around a hand-over (a stalled leader, a new one that took over meanwhile): the loser does nothing.

``outcome`` is ``running`` until the job ends (``ok`` with the number of items it did, or ``failed``);
a row still ``running`` long after its start belongs to a process that died in the middle of the job.
The job's own work is idempotent, so the next occurrence finishes what it left.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from advanced_alchemy.base import IdentityBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, Integer, String, UniqueConstraint, delete, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import KST, utcnow
from core.database import insert_ignoring_conflicts, unit_of_work

# The origin of every job's grid: a Seoul midnight, so that a daily job's occurrence is its Seoul day.
GRID_ORIGIN = datetime(2000, 1, 1, tzinfo=KST)
# How long the record is kept (a run every 30 s is 2,880 rows a day).
KEEP = timedelta(days=14)


class JobOutcome(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


class JobRun(IdentityBase):
    __tablename__ = "job_run"
    __table_args__ = (
        # The guard: one row, hence one run, per job and occurrence, whichever process inserts it.
        UniqueConstraint("job", "occurrence", name="uq_job_run_occurrence"),
        CheckConstraint("outcome IN ('running', 'ok', 'failed')", name="outcome_valid"),
    )

    job: Mapped[str] = mapped_column(String(64))
    occurrence: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    holder: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16), default=JobOutcome.RUNNING)
    items: Mapped[int | None] = mapped_column(Integer)


def occurrence_of(now: datetime, period: timedelta) -> datetime:
    """The start of the period ``now`` falls in, on the grid of ``GRID_ORIGIN`` (aware UTC)."""
    return (GRID_ORIGIN + ((now - GRID_ORIGIN) // period) * period).astimezone(now.tzinfo)


async def claim(
    engine: AsyncEngine, job: str, occurrence: datetime, holder: str, *, now: datetime | None = None
) -> bool:
    """Insert the occurrence's row and commit it; False when another process's row is there already.

    ``INSERT ... ON CONFLICT DO NOTHING`` rather than catching the IntegrityError of a plain INSERT:
    the same unique constraint decides, without an error in PostgreSQL's log at every hand-over."""
    row = {
        "job": job,
        "occurrence": occurrence,
        "started_at": now or utcnow(),
        "holder": holder,
        "outcome": JobOutcome.RUNNING.value,
    }
    async with unit_of_work(engine) as session:
        return await insert_ignoring_conflicts(session, JobRun.__table__, [row]) == 1


async def finish(engine: AsyncEngine, job: str, occurrence: datetime, outcome: JobOutcome, items: int | None) -> None:
    async with unit_of_work(engine) as session:
        await session.execute(
            update(JobRun)
            .where(JobRun.job == job, JobRun.occurrence == occurrence)
            .values(outcome=outcome.value, items=items, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )


async def purge_job_runs(engine: AsyncEngine, now: datetime | None = None) -> int:
    async with unit_of_work(engine) as session:
        result = await session.execute(
            delete(JobRun)
            .where(JobRun.started_at < (now or utcnow()) - KEEP)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
