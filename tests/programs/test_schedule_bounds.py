"""Recurrence rules that would keep dateutil walking for seconds are refused without holding up the
server: rules that never occur, frequencies finer than a day; and the bounded expansion gives exactly
what dateutil gives on its own for rules that end."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime

import httpx
import pytest
import uvicorn
from dateutil.rrule import rrulestr

from core.clock import KST
from core.database import create_engine
from core.errors import ValidationFailed
from core.i18n import translate
from programs.schedule import MAX_OCCURRENCES, MAX_SPAN, occurrences
from server.app import create_app
from tests.accounts.test_auth_http import assert_problem
from tests.booking.conftest import Client
from tests.conftest import Database, MakeSpace, MakeUser, MakeVenue
from tests.programs.test_programs_http import programme

NEVER = [
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=1",  # the 30th of February
    "FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31;COUNT=3",  # the 31st of April
    "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30,31;UNTIL=20991231",
    "FREQ=DAILY;BYMONTH=6;BYMONTHDAY=31;BYHOUR=9,14;UNTIL=20301231T120000Z",
]
TOO_FINE = [
    "FREQ=MINUTELY;COUNT=400",
    "FREQ=HOURLY;INTERVAL=2;COUNT=10",
    "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30;COUNT=1",
]

RULES = NEVER + TOO_FINE


@pytest.fixture
async def live_server(db: Database) -> AsyncIterator[str]:
    """The app served by uvicorn on a free port of 127.0.0.1, as in production: its own event loop (in a
    thread) and a pool of connections, so that the test's requests really run at once (the test client
    serves them one by one) and /health costs what it costs in production."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    settings = replace(db.settings, db_pool_size=4)
    engine = create_engine(settings, schema=db.schema)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), log_level="warning"))

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            await engine.dispose()  # in the loop its pooled connections belong to

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


async def test_rules_that_never_occur_or_repeat_within_a_day_are_refused_while_health_answers(
    live_server: str, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    manager = await make_user(role="manager", venues=[venue])
    waits: list[float] = []
    async with httpx.AsyncClient(base_url=live_server, timeout=120) as http:
        assert (await http.get("/health")).status_code == 200
        refusing = asyncio.Event()

        async def poll() -> None:
            # /health while the rules are being refused; each answer timed from its request.
            while not refusing.is_set():
                asked = time.perf_counter()
                response = await http.get("/health")
                waits.append(time.perf_counter() - asked)
                assert response.status_code == 200
                await asyncio.sleep(0.01)

        poller = asyncio.create_task(poll())
        await asyncio.sleep(0.05)
        try:
            # One at a time: several requests at once would make /health wait for their ordinary work (a
            # connection each, the account, the venue); alone, only the rule's expansion could hold it up.
            answers = [
                await http.post(
                    "/api/programs", json=programme(venue.id, space.id, rrule=rule), headers=manager.headers
                )
                for rule in RULES
            ]
        finally:
            refusing.set()
            await poller
    assert len(waits) >= 3
    assert max(waits) < 0.5, f"/health waited {max(waits):.2f} s behind the rules"
    for rule, response in zip(RULES, answers, strict=True):
        problem = assert_problem(response, 400, "validation_error")
        assert [e["field"] for e in problem["errors"]] == ["rrule"], (rule, problem)
        if rule in NEVER:
            assert problem["detail"] == translate("schedule.no_sessions", "ko", days=MAX_SPAN.days), rule
        else:
            freq = rule.split(";")[0].removeprefix("FREQ=")
            assert problem["detail"] == translate("schedule.frequency_too_fine", "ko", freq=freq), rule


async def test_each_refusal_says_what_is_wrong_with_the_rule(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    manager = await make_user(role="manager", venues=[venue])

    async def refusal(rule: str) -> dict[str, str]:
        body = programme(venue.id, space.id, rrule=rule)
        response = await client.post("/api/programs", json=body, headers={**manager.headers, "Accept-Language": "en"})
        problem = assert_problem(response, 400, "validation_error")
        assert [e["field"] for e in problem["errors"]] == ["rrule"]
        return {"detail": problem["detail"], "field": problem["errors"][0]["message"]}

    assert await refusal("FREQ=MINUTELY;COUNT=5") == {
        "detail": "Programme sessions cannot repeat MINUTELY; use DAILY, WEEKLY, MONTHLY or YEARLY",
        "field": "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY",
    }
    assert (await refusal("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=1"))["detail"] == (
        f"The RRULE gives no session within {MAX_SPAN.days} days of the first start"
    )
    assert "BYEASTER" in (await refusal("FREQ=YEARLY;BYEASTER=0;COUNT=2"))["detail"]
    assert "at most 24" in (await refusal("FREQ=DAILY;BYMINUTE=0,5,10,15,20,25,30;BYHOUR=9,10,11,12;COUNT=3"))["field"]
    # A second rule on a line of its own is refused at the field already: an RRULE is one line.
    await refusal("FREQ=DAILY;COUNT=2\nRRULE:FREQ=WEEKLY;COUNT=9")
    # Editing a programme's rule is refused the same way, and the programme keeps its sessions.
    created = await client.post("/api/programs", json=programme(venue.id, space.id), headers=manager.headers)
    assert created.status_code == 201, created.text
    program = created.json()
    edit = await client.patch(
        f"/api/programs/{program['id']}", json={"rrule": "FREQ=HOURLY;COUNT=3"}, headers=manager.headers
    )
    assert_problem(edit, 400, "validation_error")
    assert (await client.get(f"/api/programs/{program['id']}")).json()["sessions"] == program["sessions"]


def _plain_dateutil(rule: str, first_start: datetime) -> list[datetime]:
    """What dateutil gives from the real first start, cut at our horizon (only for rules that end soon)."""
    start = first_start.astimezone(KST).replace(tzinfo=None)
    out: list[datetime] = []
    for naive in rrulestr(rule, dtstart=start):
        if naive - start > MAX_SPAN or len(out) >= MAX_OCCURRENCES:
            break
        out.append(naive.replace(tzinfo=KST))
    return out


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;WKST=SU;COUNT=30",
        "FREQ=DAILY;INTERVAL=3;COUNT=50",
        "FREQ=MONTHLY;BYDAY=-1FR;COUNT=20",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=12",
        "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=10",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=2",
        "FREQ=YEARLY;BYWEEKNO=1,53;BYDAY=MO;COUNT=6",
        "FREQ=YEARLY;BYYEARDAY=1,60,-1;COUNT=9",
        "FREQ=DAILY;BYHOUR=10,15;BYMINUTE=0,30;COUNT=40",
        "FREQ=WEEKLY;BYDAY=SA;UNTIL=20291231T235900",
        "FREQ=DAILY;COUNT=400",
    ],
)
@pytest.mark.parametrize("first", [datetime(2027, 1, 1, 10, tzinfo=KST), datetime(2028, 12, 28, 19, tzinfo=KST)])
def test_the_bounded_expansion_gives_what_dateutil_gives(rule: str, first: datetime) -> None:
    expected = _plain_dateutil(rule, first)
    if not expected:
        with pytest.raises(ValidationFailed):
            occurrences(rule, first, [])
        return
    assert occurrences(rule, first, []) == expected


def test_a_date_until_keeps_that_days_session_and_exdates_drop_days_and_times() -> None:
    first = datetime(2027, 3, 2, 10, tzinfo=KST)
    days = [o.day for o in occurrences("FREQ=DAILY;UNTIL=20270306", first, ["2027-03-03", "2027-03-05T10:00"])]
    assert days == [2, 4, 6]
    # An UNTIL in UTC is read back into Seoul time: 2027-03-05T01:00Z is 10:00 in Seoul, that session included.
    assert len(occurrences("FREQ=DAILY;UNTIL=20270305T010000Z", first, [])) == 4


def test_a_first_start_whose_calendar_cannot_be_bounded_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        occurrences("FREQ=DAILY;COUNT=2", datetime(2099, 6, 1, 10, tzinfo=KST), [])
    assert refused.value.errors is not None
    assert refused.value.errors[0]["field"] == "first_start"
    assert occurrences("FREQ=DAILY;COUNT=2", datetime(2026, 12, 31, 23, tzinfo=KST), [])[-1].day == 1
