"""The programme pages through HTTP: finding programmes by age, kind and date (a wrong filter said at its
field), a programme's sessions with places left in numbers, who may join and how places are given, and a
lottery's commitment before the draw and its published draw after it, with how to check it."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from accounts.models import User
from booking import jobs
from booking.lottery import Lottery
from core.clock import utcnow
from core.database import unit_of_work
from tests.conftest import Database, MakeSpace, MakeUser, MakeVenue
from tests.programs.conftest import MakeProgram
from tests.web.conftest import HTML, Client, text_of
from web.auth import SESSION_COOKIE


def program_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'href="/programs/(\d+)"', html)}


async def test_programmes_are_found_by_age_kind_and_date(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=30)
    now = utcnow()
    forties = await make_program(
        venue.id, space.id, min_age=40, max_age=49, rrule="FREQ=DAILY;COUNT=1", first_start=now + timedelta(days=3)
    )
    fifties = await make_program(
        venue.id, space.id, kind="class", min_age=50, title="스마트폰 강좌", first_start=now + timedelta(days=20)
    )
    assert program_ids((await client.get("/programs", headers=HTML)).text) >= {forties.id, fifties.id}
    assert program_ids((await client.get("/programs?age=45", headers=HTML)).text) == {forties.id}
    assert program_ids((await client.get("/programs?age=55", headers=HTML)).text) == {fifties.id}
    assert program_ids((await client.get("/programs?kind=class", headers=HTML)).text) == {fifties.id}
    late = (now + timedelta(days=15)).date().isoformat()
    assert program_ids((await client.get(f"/programs?from={late}", headers=HTML)).text) == {fifties.id}
    page = await client.get("/programs?q=스마트폰&lang=en", headers=HTML)
    assert program_ids(page.text) == {fifties.id}
    assert "Programmes found: 1" in text_of(page.text)
    # An HTMX request gets the list alone.
    fragment = await client.get("/programs?age=45", headers={**HTML, "HX-Request": "true"})
    assert "<html" not in fragment.text
    assert program_ids(fragment.text) == {forties.id}


async def test_a_wrong_filter_is_said_at_its_field(client: Client) -> None:
    response = await client.get("/programs?age=abc&from=2026-13-40", headers=HTML)
    assert response.status_code == 422
    html = response.text
    assert 'href="#f-age"' in html
    assert 'href="#f-from"' in html
    assert re.search(r'<input[^>]*id="f-age"[^>]*aria-invalid="true"', html)
    assert "나이는 0~120 사이의 숫자로 입력해 주세요" in html


async def test_the_list_is_paginated(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=30)
    now = utcnow()
    made = [
        await make_program(venue.id, space.id, rrule="FREQ=DAILY;COUNT=1", first_start=now + timedelta(days=2 + i))
        for i in range(3)
    ]
    first = await client.get("/programs?limit=2", headers=HTML)
    second = await client.get("/programs?limit=2&offset=2", headers=HTML)
    assert 'rel="next"' in first.text
    assert program_ids(first.text) | program_ids(second.text) == {p.id for p in made}
    assert not program_ids(first.text) & program_ids(second.text)


async def test_a_programme_shows_places_left_who_may_join_and_how_places_are_given(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_program: MakeProgram
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=30)
    program = await make_program(venue.id, space.id, capacity=12, min_age=40, max_age=64, rrule="FREQ=WEEKLY;COUNT=3")
    page = text_of((await client.get(f"/programs/{program.id}", headers=HTML)).text)
    assert page.count("12/12석 남음") == 3  # places left in numbers, per session
    assert "40~64세" in page
    assert "선착순" in page
    assert "회차별" in page
    assert "신청 중" in page
    html = (await client.get(f"/programs/{program.id}", headers=HTML)).text
    assert len(re.findall(r'href="/book/slot/\d+"', html)) == 3  # each drop-in session is booked on its own
    english = text_of((await client.get(f"/programs/{program.id}?lang=en", headers=HTML)).text)
    assert "Ages 40 to 64" in english
    assert "First come" in english
    missing = await client.get("/programs/987654", headers=HTML)
    assert missing.status_code == 404


async def test_a_lottery_shows_its_commitment_then_its_draw_and_how_to_check_it(
    client: Client,
    db: Database,
    make_venue: MakeVenue,
    make_space: MakeSpace,
    make_program: MakeProgram,
    make_user: MakeUser,
) -> None:
    venue = await make_venue()
    space = await make_space(venue, capacity=30)
    now = utcnow()
    program = await make_program(
        venue.id,
        space.id,
        capacity=2,
        allocation="lottery",
        enrolment="course",
        rrule="FREQ=WEEKLY;COUNT=2",
        registration_closes_at=now + timedelta(hours=2),
        first_start=now + timedelta(days=3),
    )
    page = text_of((await client.get(f"/programs/{program.id}", headers=HTML)).text)
    assert "추첨" in page
    assert "빨리 신청한다고 유리하지 않습니다" in page
    assert program.draw_seed is not None
    commitment = hashlib.sha256(program.draw_seed.encode()).hexdigest()
    assert commitment in page
    assert program.draw_seed not in page  # the seed itself stays secret until the draw
    assert (await client.get(f"/programs/{program.id}/draw", headers=HTML)).status_code == 404

    applicants = [await make_user() for _ in range(3)]
    for account in applicants:
        async with unit_of_work(db.engine) as session:
            user = await session.get(User, account.id)
            assert user is not None
            await Lottery(session, now).apply(user, program.id, 1)
    assert await jobs.draw_lotteries(db.engine, db.settings, now + timedelta(hours=3)) == 1

    client.cookies.set(SESSION_COOKIE, applicants[0].token)
    draw_page = await client.get(f"/programs/{program.id}/draw", headers=HTML)
    assert draw_page.status_code == 200
    text = text_of(draw_page.text)
    assert program.draw_seed in text
    assert commitment in text
    assert "docs/lottery_rerun.py" in text
    assert "당첨" in text
    assert "대기 1번" in text  # two places, three applicants: one on the waitlist
    assert "(내 신청)" in text
    draw = (await client.get(f"/api/programs/{program.id}/draw")).json()
    ranks = re.findall(r"<td>#(\d+)", draw_page.text)
    assert [int(r) for r in ranks] == draw["order"]
    english = text_of((await client.get(f"/programs/{program.id}/draw?lang=en", headers=HTML)).text)
    assert "How to check it yourself" in english
    assert "Waitlist 1" in english
    detail = text_of((await client.get(f"/programs/{program.id}?lang=ko", headers=HTML)).text)
    assert "추첨 결과와 확인 방법" in detail
