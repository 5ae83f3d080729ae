"""The scheduler's stop at shutdown: no new runs, the runs under way finish within the grace (and their
occurrence is recorded ``ok``), and one that outlasts it is cancelled (APScheduler's own shutdown would
cancel them at once). On both databases: a run claims its occurrence in ``job_run`` first."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.date import DateTrigger
from sqlalchemy import select

from core.clock import KST
from core.database import unit_of_work
from core.settings import Settings
from server.job_runs import JobRun
from server.lease import Leader
from server.scheduler import JobSpec, Scheduler, _tick
from tests.conftest import Database


async def _scheduler_with(db: Database, seconds: float, events: list[str]) -> Scheduler:
    async def job(engine: Any, settings: Settings, now: datetime | None) -> str:
        events.append("started")
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("finished")
        return "done"

    leader = Leader(db.engine, db.settings, holder="this-process")
    assert await leader.try_take()
    scheduler = Scheduler()
    spec = JobSpec("slow-job", job, every=timedelta(hours=1))
    scheduler.add_job(
        _tick,
        DateTrigger(datetime.now(KST) + timedelta(milliseconds=50)),
        args=(spec, db.engine, db.settings, leader, scheduler.runs),
    )
    return scheduler


async def _outcomes(db: Database) -> list[str]:
    async with unit_of_work(db.engine) as session:
        return list((await session.scalars(select(JobRun.outcome))).all())


async def _started(scheduler: Scheduler, events: list[str]) -> None:
    scheduler.start()
    for _ in range(100):
        if events:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the job did not start")


async def test_stop_lets_a_run_under_way_finish(db: Database) -> None:
    events: list[str] = []
    scheduler = await _scheduler_with(db, 0.5, events)
    await _started(scheduler, events)
    await scheduler.stop(grace_seconds=10)
    assert events == ["started", "finished"]
    assert not scheduler.running
    assert not scheduler.runs
    assert await _outcomes(db) == ["ok"]


async def test_stop_cancels_a_run_that_outlasts_the_grace(db: Database) -> None:
    events: list[str] = []
    scheduler = await _scheduler_with(db, 30, events)
    await _started(scheduler, events)
    started = asyncio.get_running_loop().time()
    await scheduler.stop(grace_seconds=0.3)
    await asyncio.sleep(0.05)  # the cancellation reaches the task
    assert asyncio.get_running_loop().time() - started < 2
    assert events == ["started", "cancelled"]
    assert not scheduler.running
