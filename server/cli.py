"""The ``seoulrun`` command: serve, migrate, load the demo catalogue, manage accounts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from core.settings import Settings

T = TypeVar("T")


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    settings = Settings.from_env()
    return asyncio.run(work(settings))


@click.group(help="서울런 4050 장소 예약·운영 시스템 (venue booking and operations)")
def main() -> None:
    pass


SERVERS = ("uvicorn", "granian")


@main.command(help="Serve the HTTP API (uvicorn, or granian).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
@click.option(
    "--server",
    "server_name",
    type=click.Choice(SERVERS),
    default=lambda: os.environ.get("SEOULRUN_SERVER", "granian"),
    show_default="granian, or SEOULRUN_SERVER",
    help="The ASGI server: granian answered 1.3-5.7x the requests of uvicorn in the same bench (bench/README.md).",
)
def serve(host: str, port: int, workers: int, reload: bool, server_name: str) -> None:
    if server_name == "granian" and not reload:  # reloading on code changes: uvicorn's watcher
        with _metrics_dir():
            _serve_granian(host, port, workers)
        return
    import uvicorn

    from server.logs import logging_config

    settings = Settings.from_env()
    with _metrics_dir():
        uvicorn.run(
            "server.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers if not reload else None,
            reload=reload,
            # The app reads X-Forwarded-For itself, and only from SEOULRUN_TRUSTED_PROXIES (core.clients):
            # uvicorn's own handling would trust any local peer (127.0.0.1) by default.
            proxy_headers=False,
            # On SIGTERM: stop accepting, let the requests in flight finish (at most this long), then stop
            # the scheduler (server.scheduler.stop) and close the database pool.
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
            # Longer than a load balancer's usual 60 s idle timeout: uvicorn's 5 s default closes connections
            # that a client or proxy may be sending on at that very moment (a request with no answer).
            timeout_keep_alive=65,
            log_level="info",
            log_config=logging_config(settings.log_format),
            # One line per request is ours (server.observability): with its route template, not the path.
            access_log=False,
        )


@contextlib.contextmanager
def _metrics_dir() -> Iterator[None]:
    """prometheus_client's multiprocess mode, so that /metrics adds up every worker's counts: each process
    writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``, which must be set before any of them
    imports prometheus_client and be empty at start. Given one, its old files are removed; otherwise a
    new folder is made for this server and removed when it stops."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield
        return
    folder = tempfile.mkdtemp(prefix="seoulrun-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(folder, ignore_errors=True)


def _serve_granian(host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    from server.logs import logging_config

    # The app logs uvicorn's "Application startup complete" line itself under granian (server.app), so
    # that whatever waits for every worker to start (tests, the bench) reads one log either way.
    os.environ["SEOULRUN_SERVED_BY"] = "granian"
    settings = Settings.from_env()
    Granian(
        "server.app:app_from_env",
        factory=True,
        address=host,
        port=port,
        workers=workers,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(keep_alive=True),
        # One line per request is ours (server.observability): with its route template, not the path.
        log_access=False,
        log_dictconfig=logging_config(settings.log_format),
        # On SIGTERM a worker stops accepting and finishes the requests in flight, at most this long
        # (then the scheduler stops and the pool closes), as uvicorn's timeout_graceful_shutdown.
        workers_kill_timeout=settings.shutdown_timeout_seconds,
    ).serve()


@main.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply the migrations to SEOULRUN_DATABASE_URL.")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    from server.migrate import upgrade

    settings = Settings.from_env()
    upgrade(settings.database_url, revision)
    click.echo(f"database at revision {revision}: {_safe_url(settings.database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group(help="Demo catalogue.")
def demo() -> None:
    pass


@demo.command("load", help="Load the demo venues and accounts (idempotent); prints the demo passwords.")
def demo_load() -> None:
    from core.database import create_engine, unit_of_work
    from server.demo import DemoResult, load_demo

    async def work(settings: Settings) -> DemoResult:
        engine = create_engine(settings)
        try:
            async with unit_of_work(engine) as session:
                return await load_demo(session, settings)
        finally:
            await engine.dispose()

    result = _run(work)
    click.echo(
        f"venues: {result.venues_total} ({result.venues_created} new); slots: {result.slots_created} new; "
        f"programmes: {result.programs_created} new"
    )
    click.echo("demo accounts (이메일 / 비밀번호 / 역할):")
    for account in result.accounts:
        venues = f"  venues: {', '.join(account.get('venues', []))}" if account.get("venues") else ""
        click.echo(f"  {account['email']:<42} {account['password']:<24} {account['role']}{venues}")


@main.group(help="Scheduled jobs (the server runs them itself; these run one now).")
def jobs() -> None:
    pass


@jobs.command("list", help="The scheduled jobs and when they run.")
def jobs_list() -> None:
    from server.scheduler import job_specs

    settings = Settings.from_env()
    for spec in job_specs():
        click.echo(f"{spec.id:<24} {spec.describe(settings)}")


@jobs.command("run", help="Run one job now (each job is idempotent: running it twice changes nothing).")
@click.argument("job_id")
def jobs_run(job_id: str) -> None:
    import server.models  # noqa: F401 - every table on the metadata
    from core.database import create_engine
    from server.scheduler import job_specs

    specs = {spec.id: spec for spec in job_specs()}
    if job_id not in specs:
        click.echo(f"unknown job {job_id!r}; one of: {', '.join(specs)}", err=True)
        sys.exit(2)

    async def work(settings: Settings) -> object:
        engine = create_engine(settings)
        try:
            return await specs[job_id].func(engine, settings, None)
        finally:
            await engine.dispose()

    click.echo(f"{job_id}: {_run(work)}")


@main.group(help="QR signing keys of check-in.")
def keys() -> None:
    pass


@keys.command(
    "rotate",
    help="Start a new signing key; the old one is retired and still verifies the codes it signed for "
    "60 days. (After a change of SEOULRUN_SECRET_KEY the server re-seals the key by itself with "
    "SEOULRUN_SECRET_KEY_PREVIOUS, or replaces it if no secret given opens it.)",
)
def keys_rotate() -> None:
    import server.models  # noqa: F401 - every table on the metadata
    from checkin.keys import RETIRED_KEY_GRACE, rotate
    from core.clock import to_kst, utcnow
    from core.database import create_engine, unit_of_work

    now = utcnow()

    async def work(settings: Settings) -> int:
        engine = create_engine(settings)
        try:
            async with unit_of_work(engine) as session:
                return await rotate(session, settings.secret_key, now=now)
        finally:
            await engine.dispose()

    key_id = _run(work)
    until = to_kst(now + RETIRED_KEY_GRACE).strftime("%Y-%m-%d %H:%M")
    click.echo(f"signing key {key_id}; codes of the keys before it stay valid until {until} KST")


@main.group(help="Accounts.")
def users() -> None:
    pass


@users.command("create", help="Create an account, or update the role, password and venues of an existing one.")
@click.argument("email")
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(["citizen", "staff", "manager", "instructor", "admin"]))
@click.option("--venue", "venues", multiple=True, help="Venue slug (staff and managers); repeat for several.")
@click.option("--name", default=None)
def users_create(email: str, password: str, role: str, venues: tuple[str, ...], name: str | None) -> None:
    from core.database import create_engine, unit_of_work
    from core.errors import DomainError

    async def work(settings: Settings) -> tuple[int, bool]:
        from accounts.services import AccountService
        from venues.directory import CatalogueDirectory

        engine = create_engine(settings)
        try:
            async with unit_of_work(engine) as session:
                user, created = await AccountService(session, settings, CatalogueDirectory(session)).upsert(
                    email, password, role, list(venues), name=name
                )
                return user.id, created
        finally:
            await engine.dispose()

    try:
        user_id, created = _run(work)
    except DomainError as exc:
        click.echo(f"error ({exc.code}): {exc.detail}", err=True)
        sys.exit(2)
    click.echo(f"{'created' if created else 'updated'} account {user_id}: {email} ({role})")


if __name__ == "__main__":
    main()
