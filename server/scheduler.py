"""Scheduled work: an APScheduler 3 ``AsyncIOScheduler`` started with the app.

The jobs of every domain are listed in ``job_specs``. Every job opens its own unit of work and must be idempotent: with
several server processes each runs its own scheduler, so a job may run twice at the same moment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import KST
from core.database import unit_of_work
from core.settings import Settings

log = logging.getLogger(__name__)

JobFunc = Callable[[AsyncEngine, Settings, datetime | None], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    func: JobFunc
    trigger: Any  # an APScheduler trigger
    run_at_start: bool = False


async def purge_expired_tokens(engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
    from accounts.services import AccountService

    async with unit_of_work(engine) as session:
        return await AccountService(session, settings).purge_expired_tokens(now=now)


def job_specs() -> list[JobSpec]:
    from booking import jobs as booking_jobs
    from booking.reminders import send_reminders
    from notifications import jobs as notification_jobs

    return [
        JobSpec("purge-expired-tokens", purge_expired_tokens, CronTrigger(hour=4, minute=17, timezone=KST)),
        JobSpec(
            "extend-slot-horizon",
            booking_jobs.extend_slot_horizon,
            CronTrigger(hour=0, minute=30, timezone=KST),
            run_at_start=True,
        ),
        JobSpec("expire-offers", booking_jobs.expire_offers, IntervalTrigger(minutes=1)),
        JobSpec("mark-no-shows", booking_jobs.mark_no_shows, IntervalTrigger(minutes=5)),
        JobSpec("draw-lotteries", booking_jobs.draw_lotteries, IntervalTrigger(minutes=1)),
        JobSpec("promote-waitlists", booking_jobs.promote_waitlists, IntervalTrigger(minutes=2)),
        JobSpec("deliver-notifications", notification_jobs.deliver_notifications, IntervalTrigger(seconds=30)),
        JobSpec("send-reminders", send_reminders, CronTrigger(hour=18, minute=0, timezone=KST)),
        JobSpec("end-suspensions", notification_jobs.end_suspensions, IntervalTrigger(minutes=10)),
    ]


class Scheduler(AsyncIOScheduler):  # type: ignore[misc]  # APScheduler 3 has no type hints
    """APScheduler's asyncio scheduler, with a stop that lets the runs under way finish."""

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


async def _run(spec: JobSpec, engine: AsyncEngine, settings: Settings, runs: set[asyncio.Task[None]]) -> None:
    task = asyncio.current_task()
    if task is not None:
        task.set_name(spec.id)
        runs.add(task)
    try:
        result = await spec.func(engine, settings, None)
        log.info("job %s done: %s", spec.id, result)
    except Exception:
        log.exception("job %s failed", spec.id)
    finally:
        if task is not None:
            runs.discard(task)


def build_scheduler(engine: AsyncEngine, settings: Settings) -> Scheduler:
    scheduler = Scheduler()
    for spec in job_specs():
        extra: dict[str, Any] = {"next_run_time": datetime.now(KST)} if spec.run_at_start else {}
        scheduler.add_job(
            _run,
            spec.trigger,
            args=(spec, engine, settings, scheduler.runs),
            id=spec.id,
            name=spec.id,
            replace_existing=True,
            **extra,
        )
    return scheduler
