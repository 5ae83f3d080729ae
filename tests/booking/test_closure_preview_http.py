"""A closure's preview through HTTP: before a manager saves a closure, which bookings and programme sessions
it would cancel. Saving it then cancels exactly the bookings the preview listed (one query for both)."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from sqlalchemy import select

from core.database import unit_of_work
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client, book
from tests.conftest import Database, MakeSlot, MakeSpace, MakeUser, MakeVenue, in_days
from tests.programs.conftest import (
    MakeProgram,
    make_program,  # noqa: F401 - the fixture
)
from venues.models import Closure


def closure_body(day: date, last: date | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "start_date": day.isoformat(),
        "end_date": (last or day).isoformat(),
        "reason": "전기 안전 점검",
        "reason_en": "Electrical safety check",
        **extra,
    }


async def statuses(client: Client, bookings: dict[str, tuple[int, dict[str, str]]]) -> dict[str, str]:
    out = {}
    for name, (booking_id, headers) in bookings.items():
        out[name] = (await client.get(f"/api/bookings/{booking_id}", headers=headers)).json()["status"]
    return out


async def test_the_preview_lists_exactly_the_bookings_that_saving_then_cancels(
    client: Client,
    db: Database,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_slot: MakeSlot,
    make_user: MakeUser,
    make_program: MakeProgram,  # noqa: F811
) -> None:
    venue = await make_venue()
    lab, studio, hall = await make_space(venue), await make_space(venue), await make_space(venue, capacity=10)
    on_day = await make_slot(lab, start=in_days(3))
    other_space = await make_slot(studio, start=in_days(3, time(15)))
    next_day = await make_slot(lab, start=in_days(4))
    manager = await make_user(role="manager", venues=[venue])
    people = {name: await make_user(name=f"{surname}민수") for name, surname in zip("abcde", "김이박최정", strict=True)}
    bookings: dict[str, tuple[int, dict[str, str]]] = {}
    for name, slot in (("a", on_day), ("b", other_space), ("c", next_day), ("d", on_day)):
        answer = await book(client, people[name].headers, slot_id=slot.id)
        assert answer.status_code == 201, answer.text
        bookings[name] = (answer.json()["id"], people[name].headers)
    cancelled = await client.post(f"/api/bookings/{bookings['d'][0]}/cancel", headers=people["d"].headers)
    assert cancelled.status_code == 200
    program = await make_program(venue.id, hall.id, first_start=in_days(3, time(10)), rrule="FREQ=WEEKLY;COUNT=2")
    detail = (await client.get(f"/api/programs/{program.id}")).json()
    first = detail["sessions"][0]
    day = date.fromisoformat(first["start"][:10])
    session_booking = await book(client, people["e"].headers, slot_id=first["slot_id"])
    assert session_booking.status_code == 201, session_booking.text
    bookings["e"] = (session_booking.json()["id"], people["e"].headers)
    closing_day = in_days(3).date()
    same_day_session = day == closing_day

    # The lab alone: only its booking of that day.
    path = f"/api/venues/{venue.id}/closures"
    lab_only = await client.post(
        f"{path}/preview", json=closure_body(closing_day, space_id=lab.id), headers=manager.headers
    )
    assert lab_only.status_code == 200, lab_only.text
    assert [b["id"] for b in lab_only.json()["bookings"]] == [bookings["a"][0]]
    assert lab_only.json()["sessions"] == []

    # The whole venue that day: the lab's and the studio's bookings and, with it, the session's.
    preview = await client.post(
        f"/api/venues/{venue.id}/closures/preview", json=closure_body(closing_day), headers=manager.headers
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    expected = {"a", "b"} | ({"e"} if same_day_session else set())
    assert {b["id"] for b in body["bookings"]} == {bookings[n][0] for n in expected}
    first_listed = next(b for b in body["bookings"] if b["id"] == bookings["a"][0])
    assert first_listed["holder"] == "김*수"  # masked, as at the door
    assert first_listed["party_size"] == 1
    assert first_listed["status"] == "confirmed"
    assert first_listed["space_id"] == lab.id
    assert first_listed["slot_id"] == on_day.id
    assert first_listed["start"].endswith("+09:00")
    assert (body["start_date"], body["end_date"], body["space_id"]) == (closing_day.isoformat(),) * 2 + (None,)
    if same_day_session:
        assert [(s["program_id"], s["slot_id"]) for s in body["sessions"]] == [(program.id, first["slot_id"])]

    # Nothing was written: no closure, every booking as it was.
    assert await statuses(client, bookings) == {
        "a": "confirmed",
        "b": "confirmed",
        "c": "confirmed",
        "d": "cancelled",
        "e": "confirmed",
    }
    async with unit_of_work(db.engine) as s:
        assert (await s.scalars(select(Closure))).all() == []

    saved = await client.post(path, json=closure_body(closing_day), headers=manager.headers)
    assert saved.status_code == 201, saved.text
    after = await statuses(client, bookings)
    newly_cancelled = {n for n, status in after.items() if status == "cancelled"} - {"d"}
    assert {bookings[n][0] for n in newly_cancelled} == {b["id"] for b in body["bookings"]}
    assert after["c"] == "confirmed"
    if same_day_session:
        sessions = (await client.get(f"/api/programs/{program.id}")).json()["sessions"]
        assert next(s for s in sessions if s["slot_id"] == first["slot_id"])["status"] == "cancelled"

    # Once saved, a preview of the same closure finds nothing left to cancel.
    again = await client.post(
        f"/api/venues/{venue.id}/closures/preview", json=closure_body(closing_day), headers=manager.headers
    )
    assert again.json()["bookings"] == []
    assert again.json()["sessions"] == []


async def test_only_the_venues_managers_and_admins_may_preview(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue, elsewhere = await make_venue(), await make_venue()
    foreign_space = await make_space(elsewhere)
    body = closure_body(in_days(5).date())
    path = f"/api/venues/{venue.id}/closures/preview"
    assert_problem(await client.post(path, json=body), 401, "unauthenticated")
    for account in (
        await make_user(role="manager", venues=[elsewhere]),
        await make_user(role="staff", venues=[venue]),
        await make_user(),
    ):
        assert_problem(await client.post(path, json=body, headers=account.headers), 403, "forbidden")
    admin = await make_user(role="admin")
    assert (await client.post(path, json=body, headers=admin.headers)).status_code == 200
    manager = await make_user(role="manager", venues=[venue])
    assert (await client.post(path, json=body, headers=manager.headers)).json()["bookings"] == []
    # The same checks as saving: dates in order, a space of this venue, a venue that exists.
    backwards = closure_body(in_days(5).date(), in_days(4).date())
    problem = assert_problem(await client.post(path, json=backwards, headers=manager.headers), 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["end_date"]
    other = closure_body(in_days(5).date(), space_id=foreign_space.id)
    problem = assert_problem(await client.post(path, json=other, headers=manager.headers), 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["space_id"]
    missing = await client.post("/api/venues/987654/closures/preview", json=body, headers=admin.headers)
    assert_problem(missing, 404, "not_found")
