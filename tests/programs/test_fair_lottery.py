"""Fair by design, through HTTP: a lottery commits to its seed before registration opens, publishes
everything needed to re-run it (checked by the reference script in docs/, which shares no code with
the service), tells every applicant the result, and freezes what the draw was made for; citizens see
the rules that apply to them before they book."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from booking import jobs
from booking.lottery import allocate
from core.clock import to_kst, utcnow
from core.database import unit_of_work
from notifications.models import Notice
from programs.models import Program
from programs.schemas import DrawEntry, DrawPlaces, DrawRoom
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client, book
from tests.conftest import Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.programs.test_programs_http import programme

RERUN = Path(__file__).resolve().parents[2] / "docs" / "lottery_rerun.py"


def rerun(tmp_path: Path, draw: dict[str, Any], program: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "draw.json").write_text(json.dumps(draw), encoding="utf-8")
    (tmp_path / "program.json").write_text(json.dumps(program), encoding="utf-8")
    return subprocess.run(  # noqa: S603 - our own script, on files we wrote
        [sys.executable, str(RERUN), str(tmp_path / "draw.json"), str(tmp_path / "program.json")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def _close_registration(db: Database, program_id: int) -> None:
    """Registration closed a minute ago (the draw job then takes it)."""
    async with unit_of_work(db.engine) as session:
        await session.execute(
            update(Program)
            .where(Program.id == program_id)
            .values(registration_closes_at=utcnow() - timedelta(minutes=1))
        )


async def test_a_lottery_commits_to_its_seed_before_registration_and_anyone_can_rerun_it(
    client: Client, db: Database, tmp_path: Path, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, capacity=30)
    admin = await make_user(role="admin")
    now = utcnow()
    body = programme(
        venue.id, space.id, allocation="lottery", enrolment="course", min_age=None, capacity=6, max_party=4,
        registration_opens_at=(now + timedelta(days=1)).isoformat(),
        registration_closes_at=(now + timedelta(days=2)).isoformat(),
    )  # fmt: skip
    created = await client.post("/api/programs", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    program = created.json()
    # Before registration opens: the commitment is public, the seed is not.
    promised = program["draw_commitment"]
    assert len(promised) == 64
    assert int(promised, 16) >= 0
    assert "seed" not in json.dumps(program)
    assert_problem(await client.get(f"/api/programs/{program['id']}/draw"), 404, "not_found")
    async with unit_of_work(db.engine) as session:  # registration opens
        await session.execute(
            update(Program).where(Program.id == program["id"]).values(registration_opens_at=now - timedelta(hours=1))
        )
    parties = [4, 3, 3, 2, 1, 1, 4, 2]
    applicants = [await make_user() for _ in parties]
    for citizen, party in zip(applicants, parties, strict=True):
        applied = await client.post(
            f"/api/programs/{program['id']}/applications", json={"party_size": party}, headers=citizen.headers
        )
        assert applied.status_code == 201, applied.text
    await _close_registration(db, program["id"])
    assert await jobs.draw_lotteries(db.engine, db.settings) == 1
    draw = (await client.get(f"/api/programs/{program['id']}/draw")).json()
    # The revealed seed is the one promised; every entry is there, without names, with the places.
    assert hashlib.sha256(draw["seed"].encode()).hexdigest() == promised == draw["commitment"]
    assert sorted(e["party_size"] for e in draw["entries"]) == sorted(parties)
    assert "name" not in json.dumps(draw["entries"])
    assert [p["per"] for p in draw["places"]] == ["person"] * len(program["sessions"])
    assert {p["places"] for p in draw["places"]} == {6}
    checked = rerun(tmp_path, draw, (await client.get(f"/api/programs/{program['id']}")).json())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "winners matches" in checked.stdout
    taken = sum(e["party_size"] for e in draw["entries"] if e["id"] in draw["winners"])
    assert taken <= 6
    # A draw tampered with is caught by the script.
    forged = {**draw, "winners": list(reversed(draw["order"]))[: len(draw["winners"])]}
    if forged["winners"] != draw["winners"]:
        assert rerun(tmp_path, forged, program).returncode == 1
    # Every applicant hears the result.
    for citizen in applicants:
        application = (
            await client.get(f"/api/programs/{program['id']}/applications/mine", headers=citizen.headers)
        ).json()
        [notice] = (await client.get("/api/me/notices", headers=citizen.headers)).json()["items"]
        if application["status"] == "won":
            assert notice["kind"] == "lottery_won"
            assert str(len(program["sessions"])) in notice["body"]
        else:
            place = draw["waitlisted"].index(application["id"]) + 1
            assert notice["kind"] == "lottery_waitlisted"
            assert f"{place}번" in notice["body"]
            assert f"number {place}" in notice["body_en"]
    # What the draw was made for cannot change now.
    later = {"registration_closes_at": (now + timedelta(days=3)).isoformat()}
    refused = await client.patch(f"/api/programs/{program['id']}", json=later, headers=admin.headers)
    assert_problem(refused, 409, "invalid_transition")
    assert_problem(
        await client.patch(
            f"/api/programs/{program['id']}", json={"rrule": "FREQ=DAILY;COUNT=9"}, headers=admin.headers
        ),
        409,
        "invalid_transition",
    )
    assert (
        await client.patch(f"/api/programs/{program['id']}", json={"title": "추첨반 (마감)"}, headers=admin.headers)
    ).status_code == 200


async def test_a_camp_lottery_gives_rooms_by_the_published_rule(
    client: Client, db: Database, tmp_path: Path, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    town = await make_venue(
        kind="vitality_town", opens_on_holidays=True, hours=[(d, "09:00", "21:00") for d in range(7)]
    )
    hall = await make_space(town, kind="hall", shape="exclusive", capacity=80, max_party=80, slot_minutes=180)
    rooms = [
        await make_space(town, kind="lodging_room", shape="stay", capacity=c, max_party=c, slot_minutes=None)
        for c in (2, 4)
    ]
    admin = await make_user(role="admin")
    camp = await client.post(
        "/api/programs",
        json=programme(
            town.id, hall.id, kind="camp", title="가족 캠프", title_en="Family camp", capacity=6, max_party=4,
            min_age=None, allocation="lottery", enrolment="course", rooms=[r.id for r in rooms], nights=1,
            rrule="FREQ=DAILY;COUNT=1", first_start=in_days(10, time(15)).isoformat(), duration_minutes=20 * 60,
        ),
        headers=admin.headers,
    )  # fmt: skip
    assert camp.status_code == 201, camp.text
    parties = [4, 4, 2, 3]
    for party in parties:
        family = await make_user()
        applied = await client.post(
            f"/api/programs/{camp.json()['id']}/applications", json={"party_size": party}, headers=family.headers
        )
        assert applied.status_code == 201, applied.text
    await _close_registration(db, camp.json()["id"])
    assert await jobs.draw_lotteries(db.engine, db.settings) == 1
    draw = (await client.get(f"/api/programs/{camp.json()['id']}/draw")).json()
    [places] = draw["places"]
    assert places["per"] == "room"
    assert sorted(r["max_party"] for r in places["rooms"]) == [2, 4]
    assert rerun(tmp_path, draw, camp.json()).returncode == 0
    # Two rooms: at most one family of three or four (the room for four), and a pair in the small room.
    sizes = {e["id"]: e["party_size"] for e in draw["entries"]}
    assert sum(1 for w in draw["winners"] if sizes[w] > 2) <= 1
    assert len(draw["winners"]) <= 2


def test_a_party_that_does_not_fit_is_skipped_and_a_later_smaller_one_wins() -> None:
    entries = [DrawEntry(1, 4), DrawEntry(2, 3), DrawEntry(3, 1), DrawEntry(4, 2)]
    seats = [DrawPlaces(slot_id=10, per="person", places=5), DrawPlaces(slot_id=11, per="person", places=6)]
    assert allocate([1, 2, 3, 4], entries, seats) == ([1, 3], [2, 4])
    rooms = [DrawPlaces(slot_id=20, per="room", places=2, rooms=[DrawRoom(8, 4), DrawRoom(7, 2)])]
    assert allocate([4, 1, 2, 3], entries, rooms) == ([4, 1], [2, 3])  # the pair takes the small room
    parties = [DrawPlaces(slot_id=30, per="party", places=2)]
    assert allocate([2, 1, 3], entries, parties) == ([2, 1], [3])
    assert allocate([1], entries, []) == ([], [1])  # no session left: nobody wins


async def test_the_lottery_is_drawn_exactly_once_by_competing_processes(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue(hours=[(d, "09:00", "22:00") for d in range(7)])
    space = await make_space(venue, capacity=30)
    admin = await make_user(role="admin")
    body = programme(venue.id, space.id, allocation="lottery", enrolment="course", min_age=None, capacity=2)
    program = (await client.post("/api/programs", json=body, headers=admin.headers)).json()
    for _ in range(5):
        citizen = await make_user()
        await client.post(
            f"/api/programs/{program['id']}/applications", json={"party_size": 1}, headers=citizen.headers
        )
    await _close_registration(db, program["id"])
    # Two engines stand for two server processes, each with its own connections, running the job at once.
    engines = [db.new_engine(), db.new_engine()]
    try:
        drawn = await asyncio.gather(*(jobs.draw_lotteries(e, db.settings) for e in engines for _ in range(2)))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sum(drawn) == 1
    detail = (await client.get(f"/api/programs/{program['id']}")).json()
    assert [s["remaining"] for s in detail["sessions"]] == [0] * len(detail["sessions"])
    async with unit_of_work(db.engine) as session:
        notices = int(await session.scalar(select(func.count()).select_from(Notice)) or 0)
    assert notices == 5  # one per applicant, not two


async def test_citizens_see_the_rules_that_apply_before_booking(
    client: Client, db: Database, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(rules={"weekly_quota": 2})
    space = await make_space(venue, capacity=10)
    today = to_kst(utcnow()).date()
    monday = today + timedelta(days=7 - today.weekday())
    slots = [await make_slot(space, start=in_days((monday - today).days + d, time(14))) for d in range(3)]
    citizen = await make_user()
    booked = [(await book(client, citizen.headers, slot_id=s.id)).json()["id"] for s in slots[:2]]
    standing = await client.get("/api/me/standing", params={"slot_id": slots[2].id}, headers=citizen.headers)
    assert standing.status_code == 200, standing.text
    [quota] = standing.json()["quotas"]
    assert (quota["limit"], quota["used"], quota["week_of"]) == (2, 2, monday.isoformat())
    assert [b["id"] for b in quota["bookings"]] == booked
    cancellation = standing.json()["cancellation"]
    assert cancellation["deadline"] == to_kst(slots[2].starts_at - timedelta(hours=24)).isoformat()
    no_shows = standing.json()["no_shows"]
    assert (no_shows["count"], no_shows["limit"], no_shows["window_days"]) == (0, 3, 90)
    # The engine refuses by the same figures, naming the same bookings.
    refused = assert_problem(await book(client, citizen.headers, slot_id=slots[2].id), 409, "quota_exceeded")
    assert (refused["weekly_quota"], refused["counted"]) == (quota["limit"], booked)


async def test_a_popular_space_can_be_used_once_a_month(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_slot: MakeSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(kind="vitality_town", opens_on_holidays=True)
    room = await make_space(
        venue, kind="meditation_room", shape="exclusive", capacity=4, max_party=4, rules={"monthly_limit": 1}
    )
    first_day = in_days(3).date()
    same_month = [d for d in range(4, 28) if in_days(d).month == in_days(3).month]
    citizen = await make_user()
    first = await make_slot(room, start=in_days(3))
    assert (await book(client, citizen.headers, slot_id=first.id)).status_code == 201
    standing = (await client.get("/api/me/standing", params={"slot_id": first.id}, headers=citizen.headers)).json()
    assert (standing["monthly"]["limit"], standing["monthly"]["used"]) == (1, 1)
    if same_month:
        again = await make_slot(room, start=in_days(same_month[0]))
        problem = assert_problem(await book(client, citizen.headers, slot_id=again.id), 409, "quota_exceeded")
        assert problem["month"] == first_day.strftime("%Y-%m")
    # Another space of the same venue is not limited by it.
    other = await make_space(venue, kind="meditation_room", shape="exclusive", capacity=4, max_party=4)
    assert (
        await book(client, citizen.headers, slot_id=(await make_slot(other, start=in_days(5))).id)
    ).status_code == 201
