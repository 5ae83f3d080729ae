"""Many servers, one system: two real ``seoulrun serve`` processes on one database.

Both run a scheduler with every job every 2 s and a lease of 4 s (renewed every second). Through
several periods, then after ``kill -9`` of the leader:

- ``/health`` of the two, sampled all along, never shows two leaders;
- ``job_run`` has each (job, occurrence) once, from one holder at a time, and the jobs' own log lines
  (one per run actually done, in both servers' logs) match those rows one for one: nothing ran that
  is not recorded, nothing twice;
- the survivor leads within the lease (plus a renewal) of the kill and the occurrences go on.

Also: ``/metrics`` adds up the workers of one server (prometheus_client's multiprocess mode), and a
real server's JSON log never holds a feed's secret.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from core.clock import utcnow
from core.database import create_engine, unit_of_work
from core.settings import Settings
from server.job_runs import JobRun
from tests.realserver import RealServer, real_server, scratch_database

PERIOD = 2
LEASE = 4
RENEW = 1
FAST = {
    "SEOULRUN_SCHEDULER": "1",
    "SEOULRUN_SCHEDULER_PERIODS": f"*={PERIOD}",
    "SEOULRUN_SCHEDULER_LEASE_SECONDS": str(LEASE),
    "SEOULRUN_SCHEDULER_RENEW_SECONDS": str(RENEW),
    "SEOULRUN_LOG_FORMAT": "json",
}


@dataclass(frozen=True)
class Run:
    job: str
    occurrence: datetime
    holder: str
    started_at: datetime
    outcome: str


def _job_runs(settings: Settings) -> list[Run]:
    async def read() -> list[Run]:
        engine = create_engine(settings)
        try:
            async with unit_of_work(engine) as session:
                rows = (await session.scalars(select(JobRun).order_by(JobRun.started_at, JobRun.id))).all()
                return [Run(r.job, r.occurrence, r.holder, r.started_at, r.outcome) for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _health(server: RealServer) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{server.base_url}/health", timeout=2)
    except httpx.HTTPError:
        return None  # killed
    body: dict[str, Any] = response.json()
    return body


def _leaders(servers: list[RealServer]) -> set[str]:
    """The processes that say they lead, now."""
    leading = set()
    for server in servers:
        body = _health(server)
        if body is not None and body["scheduler"]["this_process_leads"]:
            leading.add(body["scheduler"]["this_process"])
    return leading


def _watch(servers: list[RealServer], seconds: float) -> list[set[str]]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(_leaders(servers))
        time.sleep(0.25)
    return samples


def _logged_runs(server: RealServer) -> list[tuple[str, str, str]]:
    """(job, occurrence, holder) of every job run a server's log says it finished."""
    done = []
    for line in server.log().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("logger") == "server.scheduler" and entry.get("outcome") in {"ok", "failed"}:
            done.append((entry["job"], entry["occurrence"], entry["holder"]))
    return done


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_servers_run_each_job_once_per_occurrence_and_the_survivor_takes_over(backend: str, tmp_path: Path) -> None:
    with scratch_database(backend, tmp_path) as settings:
        with (
            real_server(settings, tmp_path, workers=1, env=FAST) as one,
            real_server(settings, tmp_path, workers=1, env=FAST) as two,
        ):
            servers = [one, two]
            before = _watch(servers, 5 * PERIOD)
            assert all(len(seen) <= 1 for seen in before), before
            [leader_name] = before[-1]
            schedulers = [(_health(s) or {})["scheduler"] for s in servers]
            leader, survivor = (one, two) if schedulers[0]["this_process"] == leader_name else (two, one)
            [follower] = [s for s in schedulers if s["this_process"] != leader_name]
            survivor_name = follower["this_process"]
            # The follower sees who leads, from the lease row.
            assert follower["leader"] == leader_name
            assert not follower["this_process_leads"]

            os.killpg(leader.process.pid, signal.SIGKILL)  # its own process group: one process (1 worker)
            leader.process.wait(timeout=10)
            killed_at, killed_clock = utcnow(), time.monotonic()
            while not _leaders([survivor]):
                assert time.monotonic() - killed_clock < LEASE + 3 * RENEW + 5, "the survivor never took over"
                time.sleep(0.1)
            took_over = time.monotonic() - killed_clock
            after = _watch([survivor], 4 * PERIOD)
            assert all(seen == {survivor_name} for seen in after), after
        # Read once the survivor has stopped (letting its runs under way finish): a run logs "done" just
        # before its row says so.
        runs = _job_runs(settings)
        logged = _logged_runs(one) + _logged_runs(two)

    print(f"{backend}: took over {took_over:.1f} s after kill -9; {len(runs)} job runs")
    # A dead leader is replaced once its lease has run out, at the survivor's next renewal.
    # (With room for a loaded machine: the bound in production is 30 + 10 s.)
    assert took_over <= LEASE + RENEW + 3

    # Each occurrence once (the table says so by its constraint; the runs' own log lines say so too).
    keys = Counter((r.job, r.occurrence) for r in runs)
    assert max(keys.values()) == 1
    finished = sorted((r.job, r.occurrence.isoformat(), r.holder) for r in runs if r.outcome != "running")
    assert sorted(logged) == finished, "a job ran without its row, or twice"
    # At most the one the leader was running when it was killed is left unfinished.
    assert sum(r.outcome == "running" for r in runs) <= 1
    assert all(r.outcome != "failed" for r in runs)

    # One holder at a time: the dead leader's runs, then the survivor's, never interleaved.
    holders = [r.holder for r in runs]
    assert set(holders) == {leader_name, survivor_name}
    switch = holders.index(survivor_name)
    assert holders[:switch] == [leader_name] * switch
    assert holders[switch:] == [survivor_name] * (len(holders) - switch)
    assert all(r.started_at < killed_at for r in runs if r.holder == leader_name)

    period = timedelta(seconds=PERIOD)
    for job in {r.job for r in runs}:
        mine = [r.occurrence for r in runs if r.job == job]
        assert all(o.timestamp() % PERIOD == 0 for o in mine), f"{job}: off the grid {mine}"
        # Before the kill: the leader ran every period. After: the survivor goes on from where the lease
        # ran out, every period again.
        for name in (leader_name, survivor_name):
            stretch = [r.occurrence for r in runs if r.job == job and r.holder == name]
            assert len(stretch) >= 3, (job, name, stretch)
            gaps = [b - a for a, b in itertools.pairwise(stretch)]
            # A tick may come too late on a loaded machine (then it is skipped, not run twice): one or two.
            assert sum(gap != period for gap in gaps) <= 2, f"{job} by {name}: occurrences missed {stretch}"
        first_after = min(r.occurrence for r in runs if r.job == job and r.holder == survivor_name)
        assert first_after - killed_at <= timedelta(seconds=LEASE + RENEW + PERIOD + 3)


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.mark.slow
def test_metrics_add_up_every_worker_and_the_log_holds_no_feed_secret(tmp_path: Path) -> None:
    env = {"SEOULRUN_METRICS_TOKEN": "scrape-me", "SEOULRUN_LOG_FORMAT": "json"}
    with (
        scratch_database("sqlite", tmp_path) as settings,
        real_server(settings, tmp_path, workers=2, env=env) as server,
    ):
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            for _ in range(40):  # new connections, spread over both workers
                with httpx.Client(base_url=server.base_url, timeout=10) as fresh:
                    assert fresh.get("/api/venues").status_code == 200
            secret = "SeCrEt-feed-token-4050"
            assert http.get(f"/ical/{secret}.ics?key={secret}").status_code == 404
            assert http.get("/metrics").status_code == 401
            scraped = http.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        requests = _samples(scraped.text, "seoulrun_http_requests_total")
        assert requests[(("method", "GET"), ("route", "/api/venues"), ("status", "200"))] == 40
        assert requests[(("method", "GET"), ("route", "/ical/{filename}"), ("status", "404"))] == 1
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        venues = [entry for entry in lines if entry["logger"] == "seoulrun.request" and entry["route"] == "/api/venues"]
        # Both workers answered some: the count of 40 is their sum, not one process's.
        assert len(venues) == 40
        assert len({entry["pid"] for entry in venues}) == 2
        assert secret not in server.log()
