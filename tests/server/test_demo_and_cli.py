"""The demo catalogue (idempotent, the whole programme) and the ``seoulrun`` command line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from accounts.models import User
from core.database import unit_of_work
from server.cli import main
from server.demo import load_demo
from server.demo_data import demo_accounts, demo_venues
from tests.conftest import Database
from venues.districts import BY_CODE
from venues.models import Space, Venue

Client = AsyncTestClient[Litestar]


def test_demo_data_covers_the_whole_programme() -> None:
    venues = demo_venues()
    kinds = Counter(v["kind"] for v in venues)
    assert kinds == {"practice_site": 108, "digital_plaza": 6, "startup_academy": 6, "vitality_town": 1}
    practice_districts = Counter(v["district"] for v in venues if v["kind"] == "practice_site")
    assert set(practice_districts) == set(BY_CODE)  # all 25 districts
    assert len({v["slug"] for v in venues}) == len(venues)
    named = {v["slug"] for v in venues if not v["is_sample"]}
    assert {"sttei-central", "gaepo-robot-academy", "sba-dmc"} <= named
    for venue in venues:
        if venue["is_sample"]:
            assert "sample data" in venue["description_en"].lower()
    roles = Counter(a["role"] for a in demo_accounts([v["slug"] for v in venues]))
    assert roles["admin"] == 1
    assert roles["citizen"] >= 3
    assert roles["staff"] >= 2


async def test_demo_load_is_idempotent_and_served(db: Database, client: Client) -> None:
    async with unit_of_work(db.engine) as session:
        first = await load_demo(session, db.settings)
    async with unit_of_work(db.engine) as session:
        second = await load_demo(session, db.settings)
    assert first.venues_created == 121
    assert second.venues_created == 0
    async with unit_of_work(db.engine) as session:
        assert await session.scalar(select(func.count()).select_from(Venue)) == 121
        spaces = await session.scalar(select(func.count()).select_from(Space))
        users = await session.scalar(select(func.count()).select_from(User))
    assert spaces == sum(len(v["spaces"]) for v in demo_venues())
    assert users == len(first.accounts)

    for kind, total in [
        ("practice_site", 108),
        ("startup_academy", 6),
        ("digital_plaza", 6),
        ("vitality_town", 1),
    ]:
        body = (await client.get("/api/venues", params={"kind": kind})).json()
        assert body["total"] == total, kind
    town_id = (await client.get("/api/venues", params={"kind": "vitality_town"})).json()["items"][0]["id"]
    town = (await client.get(f"/api/venues/{town_id}")).json()
    space_kinds = Counter(s["kind"] for s in town["spaces"])
    assert space_kinds["lodging_room"] >= 4
    assert space_kinds["meditation_room"] >= 1
    assert space_kinds["trail"] >= 1
    assert space_kinds["hall"] >= 1
    assert town["district"] == "gangbuk"

    programmes = (await client.get("/api/programs", params={"limit": 100})).json()["items"]
    assert len(programmes) == first.programs_created >= 10
    assert second.programs_created == 0
    assert {p["allocation"] for p in programmes} == {"first_come", "lottery"}
    assert {"camp", "course", "class", "walk"} <= {p["kind"] for p in programmes}
    camp = next(p for p in programmes if p["kind"] == "camp")
    sessions = (await client.get(f"/api/programs/{camp['id']}")).json()["sessions"]
    assert sessions
    assert all(s["check_in"] for s in sessions)

    # The printed demo passwords work.
    admin = next(a for a in first.accounts if a["role"] == "admin")
    login = await client.post("/api/auth/login", json={"email": admin["email"], "password": admin["password"]})
    assert login.status_code == 200, login.text


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("SEOULRUN_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("SEOULRUN_SECRET_KEY", "cli-test")
    monkeypatch.setenv("SEOULRUN_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("SEOULRUN_ARGON2_MEMORY_KIB", "1024")
    return path


def test_cli_migrates_loads_demo_and_manages_users(cli_env: Path) -> None:
    runner = CliRunner()
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert cli_env.exists()

    loaded = runner.invoke(main, ["demo", "load"])
    assert loaded.exit_code == 0, loaded.output
    assert "venues: 121 (121 new)" in loaded.output
    assert "demo-citizen-4050" in loaded.output
    again = runner.invoke(main, ["demo", "load"])
    assert "venues: 121 (0 new)" in again.output

    made = runner.invoke(
        main,
        [
            "users",
            "create",
            "door@example.com",
            "--password",
            "front-gate-scan-1",
            "--role",
            "staff",
            "--venue",
            "vitality-town",
        ],
    )
    assert made.exit_code == 0, made.output
    assert made.output.startswith("created account")
    updated = runner.invoke(
        main,
        [
            "users",
            "create",
            "door@example.com",
            "--password",
            "front-gate-scan-2",
            "--role",
            "manager",
            "--venue",
            "sba-dmc",
        ],
    )
    assert updated.exit_code == 0, updated.output
    assert updated.output.startswith("updated account")

    unknown_venue = runner.invoke(
        main,
        [
            "users",
            "create",
            "x@example.com",
            "--password",
            "front-gate-scan-1",
            "--role",
            "staff",
            "--venue",
            "nowhere",
        ],
    )
    assert unknown_venue.exit_code == 2
    assert "validation_error" in unknown_venue.output
    weak = runner.invoke(main, ["users", "create", "y@example.com", "--password", "short", "--role", "citizen"])
    assert weak.exit_code == 2

    listed = runner.invoke(main, ["jobs", "list"])
    assert "mark-no-shows" in listed.output
    ran = runner.invoke(main, ["jobs", "run", "extend-slot-horizon"])
    assert ran.exit_code == 0, ran.output
    assert ran.output.strip() == "extend-slot-horizon: 0"  # demo load made the horizon already
    assert runner.invoke(main, ["jobs", "run", "no-such-job"]).exit_code == 2


def test_cli_users_create_on_an_existing_account_ends_its_sessions(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litestar.testing import TestClient

    from core.settings import Settings
    from server.app import create_app

    monkeypatch.setenv("SEOULRUN_SCHEDULER", "0")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    account = ["users", "create", "door@example.com", "--role", "staff"]
    assert runner.invoke(main, [*account, "--password", "front-gate-scan-1"]).exit_code == 0

    def log_in(client: TestClient[Litestar], password: str) -> dict[str, str]:
        response = client.post("/api/auth/login", json={"email": "door@example.com", "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    with TestClient(create_app(Settings.from_env())) as client:
        before = log_in(client, "front-gate-scan-1")
        assert client.get("/api/me", headers=before).status_code == 200
        reset = runner.invoke(main, [*account, "--password", "front-gate-scan-2"])
        assert reset.exit_code == 0, reset.output
        assert reset.output.startswith("updated account")
        assert client.get("/api/me", headers=before).status_code == 401
        assert client.get("/api/me", headers=log_in(client, "front-gate-scan-2")).status_code == 200


def test_cli_keys_rotate_retires_the_signing_key_and_starts_another(cli_env: Path) -> None:
    import sqlite3

    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(main, ["keys", "rotate"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["keys", "rotate"])
    assert second.exit_code == 0, second.output
    assert second.output.startswith("signing key 2;")
    assert "stay valid until" in second.output
    with sqlite3.connect(cli_env) as conn:
        rows = conn.execute("SELECT id, retired_at IS NOT NULL, expires_at IS NOT NULL FROM checkin_key ORDER BY id")
        assert rows.fetchall() == [(1, 1, 1), (2, 0, 0)]
