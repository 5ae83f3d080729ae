"""Schemathesis over the whole OpenAPI document: no request, however malformed, gets a 5xx.

``schemathesis run`` (its command line, the interface it keeps stable) calls every operation of
``/schema/openapi.json`` on a real server (``seoulrun serve``), with requests it derives from the
document: the boundary values of every constraint (the coverage phase: one past each
bound, wrong types, missing fields) and random valid and invalid ones. It calls the citizens' operations
with a citizen's token and those of staff, managers and administrators with an administrator's (see
``ADMIN_OPERATIONS``; the run fails if any operation answers only 401 or 403), on SQLite and PostgreSQL,
over a small catalogue made through the API so that small ids name real venues, spaces, slots,
programmes and bookings. Checks: ``not_a_server_error``, and for the answers the document describes,
that the body conforms to its schema.

Seeded and bounded (``FUZZ_EXAMPLES`` per operation); ``SEOULRUN_FUZZ_EXAMPLES`` and
``SEOULRUN_FUZZ_SEED`` make a run longer or different.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import server.models  # noqa: F401 - every table on the metadata
from accounts import passwords
from accounts.models import User
from accounts.services import AccountService
from core.database import create_engine, unit_of_work
from core.settings import Settings
from tests.conftest import in_days
from tests.realserver import NO_RATE_LIMITS, RealServer, real_server, scratch_database

FUZZ_EXAMPLES = int(os.environ.get("SEOULRUN_FUZZ_EXAMPLES", "5"))
FUZZ_SEED = int(os.environ.get("SEOULRUN_FUZZ_SEED", "4050"))
# The run's own accounts sit far above the ids the fuzzer tries (it favours small ones and the
# bounds), so that a PATCH /api/users/{id} it sends does not demote or lock out the caller midway.
ACCOUNTS = {"admin": 900_001, "citizen": 900_002}
# Logging out would revoke the run's own token, and every later request would be a mere 401.
SKIPPED_OPERATIONS = ["logout"]
# Called with the administrator's token; every other operation with the citizen's.
ADMIN_OPERATIONS = {
    "listUsers", "createUser", "getUser", "updateUser",
    "createVenue", "updateVenue", "setOpeningHours", "createSpace", "updateSpace", "createClosure",
    "deleteClosure", "venueTeam",
    "venueBookings", "createSlot", "blockSlot", "unblockSlot",
    "createProgram", "updateProgram", "moveSession", "cancelSession", "sessionRoster", "mySessions",
    "scan", "checkinManifest", "checkinSync", "walkIn", "checkOut", "undoCheckIn",
    "metrics",
    "listAuditEntries", "bookingReport",
}  # fmt: skip


@dataclass
class Fuzzed:
    server: RealServer
    headers: dict[str, dict[str, str]]
    editable_user_id: int


async def _accounts(settings: Settings) -> dict[str, str]:
    engine = create_engine(settings)
    tokens: dict[str, str] = {}
    try:
        async with unit_of_work(engine) as session:
            for role, user_id in ACCOUNTS.items():
                user = User(
                    id=user_id,
                    email=f"fuzz-{role}@example.com",
                    name=f"퍼즈 {role}",
                    birth_year=1972,
                    role=role,
                    password_hash=await passwords.hash_password("fuzz-4050", time_cost=1, memory_kib=1024),
                    assignments=[],
                )
                session.add(user)
                await session.flush()
                tokens[role] = (await AccountService(session, settings).issue_token(user))[0]
    finally:
        await engine.dispose()
    return tokens


def _seed(base_url: str, admin: dict[str, str], citizen: dict[str, str]) -> int:
    """A catalogue made through the API: two venues, three spaces, slots, two programmes, bookings."""
    with httpx.Client(base_url=base_url, timeout=30) as client:

        def post(path: str, body: Any, headers: dict[str, str] = admin) -> Any:
            response = client.post(path, json=body, headers=headers)
            assert response.status_code in (200, 201), (path, response.text)
            return response.json()

        hours = [{"weekday": d, "opens": "09:00", "closes": "20:00"} for d in range(7)]
        venue = {"district": "jongno", "address": "서울특별시 종로구 종로 1", "opening_hours": hours}
        site = post("/api/venues", {**venue, "slug": "fuzz-site", "kind": "practice_site", "name": "퍼즈 실습장",
                                    "name_en": "Fuzz site"})  # fmt: skip
        town = post("/api/venues", {**venue, "slug": "fuzz-town", "kind": "vitality_town", "name": "퍼즈 타운",
                                    "name_en": "Fuzz town", "opens_on_holidays": True})  # fmt: skip
        space = {"name": "공간", "name_en": "Space"}
        lab = post(f"/api/venues/{site['id']}/spaces", {**space, "slug": "lab", "kind": "lab", "shape": "shared",
                                                         "capacity": 12, "max_party": 4,
                                                         "slot_minutes": 60})  # fmt: skip
        room = post(f"/api/venues/{site['id']}/spaces", {**space, "slug": "room", "kind": "meeting_room",
                                                          "shape": "exclusive", "capacity": 6, "max_party": 6,
                                                          "slot_minutes": 60})  # fmt: skip
        post(f"/api/venues/{town['id']}/spaces", {**space, "slug": "lodge", "kind": "lodging_room", "shape": "stay",
                                                  "capacity": 4, "max_party": 4})  # fmt: skip
        slots = []
        for hall in (lab, room):
            for day in (1, 2, 3):
                start = in_days(day, at=time(10 + day))
                body = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
                slots.append(post(f"/api/spaces/{hall['id']}/slots", body))
        for hour, (kind, enrolment) in enumerate((("course", "course"), ("class", "drop_in"))):
            post(
                "/api/programs",
                {
                    "venue_id": site["id"],
                    "space_id": lab["id"],
                    "title": f"퍼즈 {kind}",
                    "title_en": f"Fuzz {kind}",
                    "kind": kind,
                    "enrolment": enrolment,
                    "capacity": 8,
                    "registration_opens_at": in_days(-1).isoformat(),
                    "registration_closes_at": in_days(20).isoformat(),
                    "rrule": "FREQ=WEEKLY;COUNT=3",
                    # Two programmes in one lab, at different hours: a room holds one session at a time.
                    "first_start": in_days(4, at=time(13 + 2 * hour)).isoformat(),
                    "duration_minutes": 90,
                },
            )
        for slot in slots[:2]:
            post("/api/bookings", {"slot_id": slot["id"]}, headers=citizen)
        post("/api/feeds", {"scope": "me"}, headers=citizen)
        editable = post(
            "/api/users",
            {"email": "fuzz-staff@example.com", "password": "fuzz-4050-staff!", "name": "퍼즈 직원", "role": "staff",
             "venue_ids": [site["id"]]},
        )  # fmt: skip
        return int(editable["id"])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    place = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with scratch_database(request.param, place) as settings:
        tokens = asyncio.run(_accounts(settings))
        headers = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
        # The fuzzer registers, logs in and books far more often than a person could; the limits have their
        # own tests (tests/server/test_rate_limits.py).
        with real_server(settings, place, workers=1, env=NO_RATE_LIMITS) as server:
            editable = _seed(server.base_url, headers["admin"], headers["citizen"])
            yield Fuzzed(server, headers, editable)


def _config(fuzzed: Fuzzed, path: Path) -> Path:
    """schemathesis.toml: the citizen's token everywhere, the administrator's on the operations of staff,
    managers and administrators (an administrator may do what each of them does)."""
    admin_operations = ", ".join(f'"{op}"' for op in sorted(ADMIN_OPERATIONS))
    path.write_text(
        f"""
seed = {FUZZ_SEED}
# One thread: CPython 3.11 before 3.11.9 keeps ast.parse's recursion depth per process, and
# Hypothesis parses lambdas while it builds strategies, so two threads raised SystemError now and then.
# The two databases' runs go in parallel instead (pytest-xdist).
workers = 1
request-timeout = 30
suppress-health-check = ["all"]
headers = {{ Authorization = "{fuzzed.headers["citizen"]["Authorization"]}" }}

[generation]
mode = "all"
max-examples = {FUZZ_EXAMPLES}
database = "none"
with-security-parameters = false

[checks]
enabled = false
not_a_server_error.enabled = true
response_schema_conformance.enabled = true

[phases]
# The examples phase has little to use (the document has few examples) and trips over a CPython 3.11
# ast.parse SystemError inside Hypothesis while describing a strategy for VenueCreate.
examples.enabled = false
stateful.enabled = false

[[operations]]
include-operation-id = [{", ".join(f'"{op}"' for op in SKIPPED_OPERATIONS)}]
enabled = false

[[operations]]
include-operation-id = [{admin_operations}]
headers = {{ Authorization = "{fuzzed.headers["admin"]["Authorization"]}" }}

# The run's own accounts are found in answers (GET /api/users) and fed back: an edit of them could
# lock the run out (a new password revokes tokens). Edits go to an account of their own.
[[operations]]
include-operation-id = "updateUser"
parameters = {{ "path.user_id" = {fuzzed.editable_user_id} }}
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_no_request_to_any_operation_gets_a_server_error(fuzzed: Fuzzed, tmp_path: Path) -> None:
    config = _config(fuzzed, tmp_path / "schemathesis.toml")
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", f"{fuzzed.server.base_url}/schema/openapi.json",
    ]  # fmt: skip
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    report = run.stdout + run.stderr
    (tmp_path / "schemathesis.txt").write_text(report, encoding="utf-8")
    assert run.returncode == 0, f"schemathesis found failures ({tmp_path / 'schemathesis.txt'}):\n{_problems(report)}"
    # An operation answered only 401 or 403: its token is wrong (see ADMIN_OPERATIONS), or the run lost it.
    assert "Authentication failed" not in report, report[report.index("Authentication failed") :][:3000]


def _problems(report: str) -> str:
    """The report's failures and errors, without the progress lines."""
    start = min((report.find(h) for h in ("=== ERRORS", "=== FAILURES", "=== WARNINGS") if h in report), default=0)
    return report[start:][:30000]
