"""Demo programmes on the demo catalogue: courses, drop-in classes, lotteries, walks and camps.

Dates are relative to the day of the load, so a fresh demo always has open registrations; a programme
already there (same venue and title) is left as it is, so loading again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from core.clock import kst, today_kst, utcnow
from programs.models import Program
from programs.schemas import ProgramCreate
from programs.services import ProgramService
from server.wiring import SESSION_HOOKS
from venues.models import Space, Venue


@dataclass(frozen=True)
class DemoProgram:
    venue: str
    space: str
    title: str
    title_en: str
    kind: str
    capacity: int
    rrule: str
    starts_in_days: int
    at: time
    duration_minutes: int
    description: str = ""
    description_en: str = ""
    min_age: int | None = None
    max_age: int | None = None
    max_party: int = 1
    allocation: str = "first_come"
    enrolment: str = "drop_in"
    closes_in_days: int = 10
    rooms: tuple[str, ...] = ()
    nights: int = 0
    instructors: tuple[str, ...] = field(default_factory=tuple)


DRONE = "instructor.drone@seoulrun4050.example"
DIGITAL = "instructor.digital@seoulrun4050.example"

DEMO_PROGRAMS: tuple[DemoProgram, ...] = (
    DemoProgram(
        "gaepo-robot-academy", "robot-lab", "로봇 정비 실무 과정", "Robot maintenance, hands-on course",
        "course", 16, "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8", 7, time(19), 150,
        "온라인 로봇공학 과정을 마친 분을 위한 8회 현장 실습입니다.",
        "Eight evening practice sessions after the online robotics course.",
        min_age=40, max_age=64, enrolment="course", instructors=(DRONE,),
    ),
    DemoProgram(
        "gaepo-robot-academy", "drone-lab", "드론 정비사 실습 (추첨)", "Drone technician practice (lottery)",
        "course", 12, "FREQ=WEEKLY;BYDAY=SA;COUNT=6", 12, time(10), 180,
        "드론지도사 온라인 과정 수료자 대상, 신청이 많아 추첨으로 선정합니다.",
        "For graduates of the online drone instructor course; places are drawn by lottery.",
        min_age=40, max_age=64, allocation="lottery", enrolment="course", closes_in_days=5, instructors=(DRONE,),
    ),
    DemoProgram(
        "sttei-central", "coding-classroom", "파이썬 코딩 기초 실습", "Python coding basics, practice",
        "course", 24, "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10", 6, time(14), 120,
        "프로그래밍 온라인 강좌와 함께 듣는 실습 과정입니다.",
        "Practice sessions alongside the online programming course.",
        min_age=40, max_age=64, enrolment="course",
    ),
    DemoProgram(
        "sba-dmc", "media-editing-room", "영상 편집 드롭인 실습", "Video editing drop-in practice",
        "class", 20, "FREQ=WEEKLY;BYDAY=FR;COUNT=8", 3, time(10), 120,
        "원하는 회차만 골라 예약하세요.", "Book just the sessions you want.",
    ),
    DemoProgram(
        "digital-plaza-central", "digital-classroom",
        "스마트폰으로 가게 홍보하기", "Promote your shop with a smartphone",
        "class", 16, "FREQ=WEEKLY;BYDAY=WE;COUNT=8", 2, time(14), 90,
        "인스타그램 사진, 스마트스토어, 배달앱 주문받기까지.", "Instagram photos, a smart store, delivery-app orders.",
        min_age=50, instructors=(DIGITAL,),
    ),
    DemoProgram(
        "startup-academy-seongsu", "meeting-room-2", "중장년 창업 코호트 (추첨)", "Founders' cohort 40+ (lottery)",
        "cohort", 8, "FREQ=WEEKLY;BYDAY=MO;COUNT=10", 14, time(19), 120,
        "컨설팅부터 투자 연계까지 10주 과정입니다.", "Ten weeks, from consulting to investor introductions.",
        min_age=40, max_age=64, allocation="lottery", enrolment="course", closes_in_days=7,
    ),
    DemoProgram(
        "vitality-town", "healing-trail-a", "북한산 치유숲길 함께 걷기", "Guided Bukhansan healing-trail walk",
        "walk", 20, "FREQ=WEEKLY;BYDAY=SA,SU;COUNT=12", 2, time(10), 120,
        "숲 해설가와 함께 걷는 두 시간.", "Two hours on the trail with a forest guide.", max_party=4,
    ),
    DemoProgram(
        "vitality-town", "meditation-room-1", "아침 명상", "Morning meditation",
        "meditation", 6, "FREQ=DAILY;COUNT=20", 2, time(9, 30), 50,
        "하루를 여는 50분 명상.", "Fifty minutes to open the day.",
    ),
    DemoProgram(
        "vitality-town", "main-hall", "부부 관계 회복 1박2일 캠프", "Couples' camp, one night and two days",
        "camp", 8, "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA;COUNT=4", 9, time(15), 20 * 60,
        "부부가 함께하는 대화 프로그램과 숲 산책.", "Talks for couples and a forest walk.",
        max_party=2, rooms=("couple-room-1", "couple-room-2", "couple-room-3"), nights=1,
    ),
    DemoProgram(
        "vitality-town", "main-hall", "가족 캠프 (추첨)", "Family camp (lottery)",
        "camp", 16, "FREQ=MONTHLY;BYDAY=+2SU;COUNT=2", 20, time(15), 20 * 60,
        "가족이 함께하는 1박2일, 객실당 4명까지.", "One night for families, up to four per room.",
        max_party=4, allocation="lottery", enrolment="course", closes_in_days=8,
        rooms=("family-room-1", "family-room-2", "family-room-3"), nights=1,
    ),
)  # fmt: skip


def _first_start(program: DemoProgram, today: date) -> datetime:
    return kst(today + timedelta(days=program.starts_in_days), program.at)


async def load_demo_programs(session: AsyncSession, *, now: datetime | None = None) -> int:
    now = now or utcnow()
    today = today_kst(now)
    venues = {v.slug: v for v in (await session.scalars(select(Venue))).all()}
    instructor_rows = await session.scalars(select(User).where(User.role == "instructor"))
    instructors = {u.email: u.id for u in instructor_rows.all()}
    created = 0
    for spec in DEMO_PROGRAMS:
        venue = venues.get(spec.venue)
        if venue is None:
            continue
        existing = await session.scalar(
            select(Program.id).where(Program.venue_id == venue.id, Program.title == spec.title)
        )
        if existing is not None:
            continue
        spaces = {s.slug: s.id for s in (await session.scalars(select(Space).where(Space.venue_id == venue.id))).all()}
        first_start = _first_start(spec, today)
        await ProgramService(session, now=now, session_hooks=SESSION_HOOKS).create(
            ProgramCreate(
                venue_id=venue.id,
                space_id=spaces[spec.space],
                title=spec.title,
                title_en=spec.title_en,
                description=spec.description,
                description_en=spec.description_en,
                kind=spec.kind,  # type: ignore[arg-type]
                capacity=spec.capacity,
                max_party=spec.max_party,
                min_age=spec.min_age,
                max_age=spec.max_age,
                allocation=spec.allocation,  # type: ignore[arg-type]
                enrolment=spec.enrolment,  # type: ignore[arg-type]
                registration_opens_at=now - timedelta(hours=1),
                registration_closes_at=min(now + timedelta(days=spec.closes_in_days), first_start - timedelta(hours=1)),
                rrule=spec.rrule,
                first_start=first_start,
                duration_minutes=spec.duration_minutes,
                rooms=[spaces[r] for r in spec.rooms],
                nights=spec.nights,
                instructor_ids=[instructors[e] for e in spec.instructors if e in instructors],
            )
        )
        created += 1
    return created
