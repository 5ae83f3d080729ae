"""What the feeds say, read back with icalendar and with vobject (an independent parser): times in Seoul
and in UTC, stable UIDs, SEQUENCE and STATUS as bookings and sessions change, Korean text, masking,
escaping and folding."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import update

from booking.models import Booking
from core.clock import KST
from core.database import unit_of_work
from tests.calendar_feeds.conftest import AddProgram, AddSlot, Client, Fetched, fetch, subscribe
from tests.conftest import Account, Database, MakeSpace, MakeUser, MakeVenue, in_days


async def book(client: Client, account: Account, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/bookings", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_well_formed(fetched: Fetched) -> None:
    """RFC 5545 §3.1: CRLF line endings, lines of at most 75 octets, folds that split no UTF-8 character."""
    raw = fetched.raw
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n")
    assert raw.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    for line in raw.split(b"\r\n"):
        assert len(line) <= 75, line
        line.decode("utf-8")  # a fold in the middle of a Korean character would fail here


async def test_my_feed_has_my_booking_at_the_right_time_in_seoul_and_in_utc(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    venue = await make_venue(address="서울특별시 강북구 삼양로 1", lat=37.64, lon=127.01, opens_on_holidays=True)
    space = await make_space(venue, name="드론 정비 실습실", name_en="Drone lab", capacity=10, max_party=2)
    slot = await add_slot(space, in_days(3, time(14, 0)))
    citizen = await make_user(name="김민수")
    booking = await book(client, citizen, slot_id=slot.id, party_size=2)
    feed = await subscribe(client, citizen, "me")

    fetched = await fetch(client, feed)
    assert_well_formed(fetched)
    calendar = fetched.calendar
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["X-WR-TIMEZONE"]) == "Asia/Seoul"
    assert "내 예약" in str(calendar["X-WR-CALNAME"])
    assert "My bookings" in str(calendar["X-WR-CALNAME"])
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in fetched.raw
    assert b"\r\nX-PUBLISHED-TTL:PT1H\r\n" in fetched.raw
    [timezone] = calendar.walk("VTIMEZONE")
    assert str(timezone["TZID"]) == "Asia/Seoul"
    assert {s.decoded("TZOFFSETTO") for s in timezone.walk("STANDARD")} == {timedelta(hours=9)}
    assert not timezone.walk("DAYLIGHT")  # Seoul has kept +09:00 all year since 1988

    uid = f"booking-{booking['id']}@testserver"
    event = fetched.events()[uid]
    day = (datetime.now(UTC).astimezone(KST).date() + timedelta(days=3)).strftime("%Y%m%d")
    assert f"\r\nDTSTART;TZID=Asia/Seoul:{day}T140000\r\n".encode() in fetched.raw
    start = event.decoded("DTSTART")
    assert start == slot.starts_at
    assert (start.astimezone(KST).hour, start.astimezone(UTC).hour) == (14, 5)
    assert event.decoded("DTEND") - start == timedelta(hours=1)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert int(event["SEQUENCE"]) == 0
    assert str(event["SUMMARY"]) == "드론 정비 실습실 예약 (Drone lab booking)"
    assert "인원: 2명" in str(event["DESCRIPTION"])
    assert "Party: 2" in str(event["DESCRIPTION"])
    assert str(event["LOCATION"]).endswith("서울특별시 강북구 삼양로 1")
    assert (event["GEO"].latitude, event["GEO"].longitude) == (37.64, 127.01)
    assert str(event["URL"]) == f"http://testserver/api/bookings/{booking['id']}"
    assert event.decoded("DTSTAMP").tzinfo is not None
    assert event.decoded("LAST-MODIFIED").tzinfo is not None

    # The second, independent parser reads the same event at the same instant.
    vevent = fetched.vevents()[uid]
    assert vevent.dtstart.value.astimezone(UTC) == slot.starts_at
    assert vevent.dtstart.value.utcoffset() == timedelta(hours=9)
    assert vevent.dtend.value.astimezone(UTC) == slot.ends_at
    assert vevent.summary.value == "드론 정비 실습실 예약 (Drone lab booking)"
    assert vevent.status.value == "CONFIRMED"
    assert vevent.location.value == str(event["LOCATION"])
    assert fetched.vcalendar.vtimezone.tzid.value == "Asia/Seoul"


async def test_a_cancelled_booking_stays_as_cancelled_with_a_higher_sequence(
    client: Client, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    slot = await add_slot(await make_space(capacity=10))
    citizen = await make_user()
    booking = await book(client, citizen, slot_id=slot.id)
    feed = await subscribe(client, citizen, "me")
    uid = f"booking-{booking['id']}@testserver"
    before = await fetch(client, feed)
    first = before.events()[uid]
    assert str(first["STATUS"]) == "CONFIRMED"

    response = await client.post(f"/api/bookings/{booking['id']}/cancel", headers=citizen.headers)
    assert response.status_code == 200, response.text

    after = await fetch(client, feed, **{"If-None-Match": before.headers["etag"]})
    assert after.headers["etag"] != before.headers["etag"]
    event = after.events()[uid]
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) > int(first["SEQUENCE"])
    assert str(event["SUMMARY"]).startswith("[취소 Cancelled] ")
    vevent = after.vevents()[uid]
    assert vevent.status.value == "CANCELLED"
    assert int(vevent.sequence.value) == int(event["SEQUENCE"])


async def test_a_waitlisted_booking_is_tentative(
    client: Client, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    slot = await add_slot(await make_space(capacity=1))
    first, second = await make_user(), await make_user()
    await book(client, first, slot_id=slot.id)
    waiting = await book(client, second, slot_id=slot.id, join_waitlist=True)
    assert waiting["status"] == "waitlisted"
    fetched = await fetch(client, await subscribe(client, second, "me"))
    event = fetched.events()[f"booking-{waiting['id']}@testserver"]
    assert str(event["STATUS"]) == "TENTATIVE"
    assert str(event["SUMMARY"]).startswith("[대기 Waitlist] ")
    assert fetched.vevents()[f"booking-{waiting['id']}@testserver"].status.value == "TENTATIVE"


async def test_cancellations_older_than_thirty_days_leave_the_feed(
    client: Client, db: Database, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    space = await make_space(capacity=10)
    citizen = await make_user()
    recent = await book(client, citizen, slot_id=(await add_slot(space, in_days(3))).id)
    old = await book(client, citizen, slot_id=(await add_slot(space, in_days(4))).id)
    for booking in (recent, old):
        assert (await client.post(f"/api/bookings/{booking['id']}/cancel", headers=citizen.headers)).status_code == 200
    async with unit_of_work(db.engine) as s:
        await s.execute(
            update(Booking)
            .where(Booking.id == old["id"])
            .values(updated_at=datetime.now(UTC) - timedelta(days=31))
            .execution_options(synchronize_session=False)
        )
    uids = set((await fetch(client, await subscribe(client, citizen, "me"))).events())
    assert f"booking-{recent['id']}@testserver" in uids
    assert f"booking-{old['id']}@testserver" not in uids


async def test_the_feed_window_is_thirty_days_back_to_a_hundred_and_eighty_ahead(
    client: Client, db: Database, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    space = await make_space()
    inside = [await add_slot(space, in_days(d)) for d in (-29, 0, 179)]
    outside = [await add_slot(space, in_days(d)) for d in (-32, 182)]
    admin = await make_user(role="admin")
    uids = set((await fetch(client, await subscribe(client, admin, "space", space.id))).events())
    assert {f"slot-{s.id}@testserver" for s in inside} <= uids
    assert not {f"slot-{s.id}@testserver" for s in outside} & uids


async def test_a_venue_feed_shows_counts_and_masked_stay_holders_but_no_personal_data(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    town = await make_venue(kind="vitality_town", opens_on_holidays=True, name="활력+행복타운", name_en="Vitality Town")
    lab = await make_space(town, name="드론 정비 실습실", name_en="Drone lab", capacity=20, max_party=4)
    room = await make_space(
        town,
        kind="lodging_room",
        shape="stay",
        capacity=4,
        max_party=4,
        slot_minutes=None,
        name="가족실 1",
        name_en="Family room 1",
    )
    extra = await add_slot(lab, in_days(3), note="특강; 장비 점검, 안전 교육")
    booked_hour = await add_slot(lab, in_days(4), origin="generated")
    empty_hour = await add_slot(lab, in_days(5), origin="generated")
    people = [await make_user(name=name, phone="010-1234-5678") for name in ("김민수", "이영희", "박철수", "최지우")]
    for person in people[:3]:
        await book(client, person, slot_id=extra.id, party_size=4)
    await book(client, people[3], slot_id=booked_hour.id)
    check_in = in_days(6).astimezone(KST).date()
    stay = await book(
        client,
        people[0],
        space_id=room.id,
        check_in=check_in.isoformat(),
        check_out=(check_in + timedelta(days=2)).isoformat(),
        party_size=3,
    )
    staff = await make_user(role="staff", venues=[town])
    fetched = await fetch(client, await subscribe(client, staff, "venue", town.id))
    assert_well_formed(fetched)
    events = fetched.events()
    assert set(events) == {
        f"slot-{extra.id}@testserver",
        f"slot-{booked_hour.id}@testserver",
        f"booking-{stay['id']}@testserver",
    }
    assert f"slot-{empty_hour.id}@testserver" not in events
    assert str(events[f"slot-{extra.id}@testserver"]["SUMMARY"]) == (
        "드론 정비 실습실 · 12/20명 (Drone lab · 12/20 booked)"
    )
    assert str(events[f"slot-{booked_hour.id}@testserver"]["SUMMARY"]).endswith("· 1/20명 (Drone lab · 1/20 booked)")
    description = str(events[f"slot-{extra.id}@testserver"]["DESCRIPTION"])
    assert "메모: 특강; 장비 점검, 안전 교육" in description
    assert "Booked: 12 of 20 people · 8 left" in description
    assert b"\\;" in fetched.raw
    assert b"\\," in fetched.raw

    stay_event = events[f"booking-{stay['id']}@testserver"]
    assert str(stay_event["SUMMARY"]) == "가족실 1 숙박 · 김*수 3명 (Family room 1 stay · 김*수, party of 3)"
    start, end = stay_event.decoded("DTSTART"), stay_event.decoded("DTEND")
    assert (start.astimezone(KST).date(), start.astimezone(KST).time()) == (check_in, time(15, 0))
    assert (end.astimezone(KST).date(), end.astimezone(KST).time()) == (check_in + timedelta(days=2), time(11, 0))
    assert (start.astimezone(UTC).hour, end.astimezone(UTC).hour) == (6, 2)
    vstay = fetched.vevents()[f"booking-{stay['id']}@testserver"]
    assert vstay.dtstart.value.astimezone(UTC) == start.astimezone(UTC)
    assert vstay.summary.value == str(stay_event["SUMMARY"])

    text = fetched.raw.decode()
    unfolded = text.replace("\r\n ", "")
    for person in people:
        assert person.user.name not in unfolded
        assert person.user.email not in unfolded
    assert "010-1234-5678" not in unfolded


async def test_a_space_feed_shows_that_space_only(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, add_slot: AddSlot, make_user: MakeUser
) -> None:
    venue = await make_venue()
    one, two = await make_space(venue), await make_space(venue)
    mine, theirs = await add_slot(one), await add_slot(two)
    staff = await make_user(role="manager", venues=[venue])
    uids = set((await fetch(client, await subscribe(client, staff, "space", one.id))).events())
    assert uids == {f"slot-{mine.id}@testserver"}
    assert f"slot-{theirs.id}@testserver" not in uids


async def test_a_programme_feed_keeps_a_moved_session_uid_and_shows_cancelled_ones_and_a_masked_roster(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser, add_program: AddProgram
) -> None:
    venue = await make_venue(opens_on_holidays=True)
    space = await make_space(venue, name="드론 정비 실습실", name_en="Drone lab")
    instructor = await make_user(role="instructor")
    manager = await make_user(role="manager", venues=[venue])
    program = await add_program(venue.id, space.id, instructor_ids=[instructor.id])
    detail = (await client.get(f"/api/programs/{program.id}")).json()
    first, second = detail["sessions"][0], detail["sessions"][1]
    citizen = await make_user(name="김민수")
    await book(client, citizen, slot_id=first["slot_id"])
    feed = await subscribe(client, instructor, "program", program.id)

    before = await fetch(client, feed)
    uid = f"session-{first['id']}@testserver"
    assert set(before.events()) == {f"session-{s['id']}@testserver" for s in detail["sessions"]}
    old = before.events()[uid]
    assert str(old["SUMMARY"]) == "드론 정비 실습 · 1/10명 (Drone maintenance practice · 1/10 booked)"
    assert "1. 김*수 · 1명 · 확정" in str(old["DESCRIPTION"])
    assert "김민수" not in before.raw.decode().replace("\r\n ", "")
    assert str(old["URL"]) == f"http://testserver/api/programs/{program.id}"

    new_start = datetime.fromisoformat(first["start"]) + timedelta(days=1, hours=1)
    moved = await client.post(
        f"/api/programs/{program.id}/sessions/{first['id']}/move",
        json={"start": new_start.isoformat(), "end": (new_start + timedelta(hours=2)).isoformat()},
        headers=manager.headers,
    )
    assert moved.status_code == 200, moved.text
    cancelled = await client.post(f"/api/programs/{program.id}/sessions/{second['id']}/cancel", headers=manager.headers)
    assert cancelled.status_code == 200, cancelled.text

    after = await fetch(client, feed)
    event = after.events()[uid]
    assert event.decoded("DTSTART") == new_start
    assert event.decoded("DTSTART").astimezone(KST).time() == new_start.astimezone(KST).time()
    assert int(event["SEQUENCE"]) > int(old["SEQUENCE"])
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "일정 변경됨" in str(event["DESCRIPTION"])
    gone = after.events()[f"session-{second['id']}@testserver"]
    assert str(gone["STATUS"]) == "CANCELLED"
    assert int(gone["SEQUENCE"]) >= 1
    vevent = after.vevents()[uid]
    assert vevent.dtstart.value.astimezone(UTC) == new_start.astimezone(UTC)
    assert after.vevents()[f"session-{second['id']}@testserver"].status.value == "CANCELLED"

    # The citizen's own feed follows the move with the same UID and a higher SEQUENCE.
    mine = await fetch(client, await subscribe(client, citizen, "me"))
    [(booking_uid, booking_event)] = mine.events().items()
    assert booking_uid.startswith("booking-")
    assert booking_event.decoded("DTSTART") == new_start
    assert int(booking_event["SEQUENCE"]) >= 1
    assert str(booking_event["SUMMARY"]) == "드론 정비 실습 (Drone maintenance practice)"


async def test_korean_text_long_descriptions_and_special_characters_survive_folding(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser, add_program: AddProgram
) -> None:
    address = "서울특별시 강북구 삼양로 173; 수유동, 옛 영어마을 본관 2층 (구 서울영어마을 수유캠프)"
    venue = await make_venue(address=address, opens_on_holidays=True)
    space = await make_space(venue, capacity=30, max_party=1)
    title = "중장년 디지털 역량 강화: 생성형 AI, 스마트폰 사진 편집; 온라인 금융 안전까지 한 번에 배우는 실습 과정"
    instructor = await make_user(role="instructor")
    program = await add_program(
        venue.id,
        space.id,
        title=title,
        title_en="Digital skills, AI; photos",
        capacity=30,
        instructor_ids=[instructor.id],
    )
    session = (await client.get(f"/api/programs/{program.id}")).json()["sessions"][0]
    names = [
        "김민수",
        "이영희",
        "박철수",
        "최지우",
        "정하늘",
        "강바다",
        "조은별",
        "윤서연",
        "장도윤",
        "임하준",
        "한지민",
        "오세훈",
    ]
    for name in names:
        await book(client, await make_user(name=name), slot_id=session["slot_id"])
    fetched = await fetch(client, await subscribe(client, instructor, "program", program.id))
    assert_well_formed(fetched)
    event = fetched.events()[f"session-{session['id']}@testserver"]
    description = str(event["DESCRIPTION"])
    assert len(description.encode()) > 400  # long enough to need several folds
    assert str(event["LOCATION"]).endswith(address)
    assert str(event["SUMMARY"]).startswith(title)
    for n, name in enumerate(names, start=1):
        masked = name[0] + "*" + name[-1]
        assert f"{n}. {masked} · 1명 · 확정" in description
    vevent = fetched.vevents()[f"session-{session['id']}@testserver"]
    assert vevent.description.value == description
    assert vevent.location.value == str(event["LOCATION"])
    assert vevent.summary.value == str(event["SUMMARY"])
    assert (
        b"\xec\x82\xbc\xec\x96\x91\xeb\xa1\x9c 173\\; \xec\x88\x98\xec\x9c\xa0\xeb\x8f\x99\\,"
        in fetched.raw.replace(b"\r\n ", b"")
    )
    assert title in fetched.raw.decode().replace("\r\n ", "").replace("\\,", ",").replace("\\;", ";")
