"""Scheduled work: an APScheduler 3 ``AsyncIOScheduler`` started with the app, in every server process,
and the jobs run by one of them.

The jobs of every domain are listed in ``job_specs``. Each has a period: an interval, or a day for the
jobs that run at a Seoul time of day. With several processes (workers, servers) on one database:

- only the process that holds the scheduler lease runs jobs (``server.lease``); the others' schedulers
  tick and do nothing, ready to take over within a lease when the leader dies;
- each occurrence (the tick's instant on the job's grid, ``server.job_runs.occurrence_of``) is claimed by
  inserting its ``job_run`` row before the job runs, so that even at a hand-over it runs at most once.

Intervals are anchored on that grid (not on each process's start), so every process ticks at the same
instants. Every job is idempotent anyway: a job that died halfway is finished by its next occurrence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import KST, utcnow
from core.database import unit_of_work
from core.metrics import JOB_RUNS
from core.settings import Settings
from server.job_runs import GRID_ORIGIN, JobOutcome, claim, finish, occurrence_of, purge_job_runs
from server.lease import Leader

log = logging.getLogger(__name__)

JobFunc = Callable[[AsyncEngine, Settings, datetime | None], Awaitable[Any]]
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    func: JobFunc
    every: timedelta = DAY
    # A daily job's Seoul time of day; None for an interval job.
    at: time | None = None
    run_at_start: bool = False

    def period(self, settings: Settings) -> timedelta:
        """``every``, unless ``SEOULRUN_SCHEDULER_PERIODS`` names this job (or ``*``)."""
        periods = dict(settings.scheduler_periods)
        seconds = periods.get(self.id, periods.get("*"))
        return timedelta(seconds=seconds) if seconds else self.every

    def trigger(self, settings: Settings) -> Any:
        period = self.period(settings)
        if self.at is not None and period == self.every:
            return CronTrigger(hour=self.at.hour, minute=self.at.minute, timezone=KST)
        return IntervalTrigger(seconds=period.total_seconds(), start_date=GRID_ORIGIN, timezone=KST)

    def describe(self, settings: Settings) -> str:
        period = self.period(settings)
        if self.at is not None and period == self.every:
            return f"daily at {self.at:%H:%M} KST"
        return f"every {int(period.total_seconds())} s"


async def purge_expired_tokens(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    from accounts.services import AccountService

    async with unit_of_work(engine) as session:
        return await AccountService(session, settings).purge_expired_tokens(now=now)


async def purge_old_job_runs(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    return await purge_job_runs(engine, now)


def job_specs() -> list[JobSpec]:
    from booking import jobs as booking_jobs
    from booking.reminders import send_reminders
    from notifications import jobs as notification_jobs

    minute = timedelta(minutes=1)
    return [
        JobSpec("purge-expired-tokens", purge_expired_tokens, at=time(4, 17)),
        JobSpec("purge-job-runs", purge_old_job_runs, at=time(4, 27)),
        JobSpec("extend-slot-horizon", booking_jobs.extend_slot_horizon, at=time(0, 30), run_at_start=True),
        JobSpec("expire-offers", booking_jobs.expire_offers, every=minute),
        JobSpec("mark-no-shows", booking_jobs.mark_no_shows, every=5 * minute),
        JobSpec("draw-lotteries", booking_jobs.draw_lotteries, every=minute),
        JobSpec("promote-waitlists", booking_jobs.promote_waitlists, every=2 * minute),
        JobSpec("deliver-notifications", notification_jobs.deliver_notifications, every=timedelta(seconds=30)),
        JobSpec("send-reminders", send_reminders, at=time(18, 0)),
        JobSpec("end-suspensions", notification_jobs.end_suspensions, every=10 * minute),
    ]


async def run_occurrence(
    spec: JobSpec, engine: AsyncEngine, settings: Settings, holder: str, *, now: datetime | None = None
) -> bool:
    """Claim this tick's occurrence of the job and run it; False if another process had claimed it."""
    occurrence = occurrence_of(now or utcnow(), spec.period(settings))
    fields: dict[str, Any] = {"job": spec.id, "occurrence": occurrence.isoformat(), "holder": holder}
    if not await claim(engine, spec.id, occurrence, holder):
        JOB_RUNS.labels(job=spec.id, outcome="skipped").inc()
        log.info(
            "job %s %s: already run by another process",
            spec.id,
            fields["occurrence"],
            extra={"fields": {**fields, "outcome": "skipped"}},
        )
        return False
    outcome, items = JobOutcome.OK, None
    try:
        result = await spec.func(engine, settings, None)
        items = result if isinstance(result, int) and not isinstance(result, bool) else None
        log.info(
            "job %s %s done: %s",
            spec.id,
            fields["occurrence"],
            result,
            extra={"fields": {**fields, "outcome": outcome.value, "items": items}},
        )
    except Exception:
        outcome = JobOutcome.FAILED
        log.exception(
            "job %s %s failed", spec.id, fields["occurrence"], extra={"fields": {**fields, "outcome": outcome.value}}
        )
    await finish(engine, spec.id, occurrence, outcome, items)
    JOB_RUNS.labels(job=spec.id, outcome=outcome.value).inc()
    return True


class Scheduler(AsyncIOScheduler):  # type: ignore[misc]  # APScheduler 3 has no type hints
    """APScheduler's asyncio scheduler, with a stop that lets the runs under way finish (a run cancelled
    halfway would leave its occurrence ``running`` for good, and its work to the next occurrence)."""

    def __init__(self) -> None:
        super().__init__(timezone=KST, job_defaults={"coalesce": True, "max_instances": 1})
        self.runs: set[asyncio.Task[None]] = set()

    async def stop(self, grace_seconds: float) -> None:
        """No new runs; those under way finish (at most ``grace_seconds``, then they are cancelled, which
        rolls back their unit of work), then the scheduler ends. APScheduler's own ``shutdown`` would
        cancel them at once."""
        self.pause()
        late: set[asyncio.Task[None]] = set()
        running = [run for run in self.runs if not run.done()]
        if running:
            log.info("waiting for %d job run(s) to finish", len(running))
            _, late = await asyncio.wait(running, timeout=grace_seconds)
            for run in late:
                log.warning("job run cancelled at shutdown: %s", run.get_name())
        self.shutdown(wait=False)  # done on the loop's next turn: it cancels what is still running
        await asyncio.sleep(0)
        if late:  # their units of work roll back before the database pool closes
            await asyncio.gather(*late, return_exceptions=True)


async def _tick(
    spec: JobSpec, engine: AsyncEngine, settings: Settings, leader: Leader, runs: set[asyncio.Task[None]]
) -> None:
    if not leader.leads():
        return
    task = asyncio.current_task()
    if task is not None:
        task.set_name(spec.id)
        runs.add(task)
    try:
        await run_occurrence(spec, engine, settings, leader.holder)
    except Exception:  # the claim or the record could not be written: the next tick tries again
        log.exception("job %s: could not record its run", spec.id)
    finally:
        if task is not None:
            runs.discard(task)


def build_scheduler(engine: AsyncEngine, settings: Settings, leader: Leader) -> Scheduler:
    scheduler = Scheduler()
    for spec in job_specs():
        period = spec.period(settings).total_seconds()
        extra: dict[str, Any] = {"next_run_time": datetime.now(KST)} if spec.run_at_start else {}
        scheduler.add_job(
            _tick,
            spec.trigger(settings),
            args=(spec, engine, settings, leader, scheduler.runs),
            id=spec.id,
            name=spec.id,
            replace_existing=True,
            # A tick that comes late (a busy loop) still runs within half a period, which keeps it
            # inside the same occurrence.
            misfire_grace_time=max(1, int(period // 2)),
            **extra,
        )
    return scheduler
