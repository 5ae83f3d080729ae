"""Demo data for the 서울런 4050 venue system: 121 venues and a handful of demo accounts.

The venue mix follows the city's press release (see ``docs/DOMAIN.md``):

* 108 practice sites (현장 실습 학습공간) spread over all 25 districts. The real institutions the
  programme names (Seoul Technical Education Institute campuses, SBA, Gaepo Digital Park's robot
  academy, the 50+ campuses and the Life Transition Support Center) have ``is_sample=False``; the rest
  are invented to fill the count and say so in their descriptions (``is_sample=True``).
* 6 Digital Companion Plazas (디지털 동행 플라자), one per region.
* 6 Start-up Academies for the middle-aged (중장년 창업·창직 사관학교).
* 1 Vitality+Happiness Town (중장년 활력+행복타운) on the former Suyu English Village site.

Everything here is plain data built by small pure functions; the output is deterministic.
Addresses and coordinates are plausible approximations, not surveyed locations.
"""

import random
from collections.abc import Iterable, Sequence
from typing import Any, Final

from venues.districts import BY_CODE, DISTRICTS

PRACTICE_SITE_COUNT: Final = 108
VITALITY_TOWN_SLUG: Final = "vitality-town"
GAEPO_ROBOT_ACADEMY_SLUG: Final = "gaepo-robot-academy"
DEMO_EMAIL_DOMAIN: Final = "seoulrun4050.example"

VENUE_KINDS: Final = ("practice_site", "digital_plaza", "startup_academy", "vitality_town")
SPACE_KINDS: Final = (
    "lab",
    "classroom",
    "workshop",
    "experience_zone",
    "help_desk",
    "meeting_room",
    "studio",
    "hot_desk",
    "lodging_room",
    "meditation_room",
    "trail",
    "hall",
)
SPACE_SHAPES: Final = ("exclusive", "shared", "stay")
ROLES: Final = ("citizen", "staff", "manager", "instructor", "admin")

_WEEKDAYS: Final = (0, 1, 2, 3, 4)
_EVERY_DAY: Final = (0, 1, 2, 3, 4, 5, 6)
_SATURDAY: Final = 5

_SAMPLE_NOTE_KO: Final = "서울런 4050 현장 실습 학습공간의 예시 데이터입니다. 실제 시설이 아닙니다."
_SAMPLE_NOTE_EN: Final = "Sample data: a fictional Seoul Run 4050 practice space, not a real facility."

# Approximate centre (latitude, longitude) of each district and a main road that runs through it.
_DISTRICT_GEO: Final[dict[str, tuple[float, float, str]]] = {
    "jongno": (37.5735, 126.9790, "종로"),
    "jung": (37.5641, 126.9979, "을지로"),
    "yongsan": (37.5324, 126.9905, "한강대로"),
    "seongdong": (37.5634, 127.0371, "왕십리로"),
    "gwangjin": (37.5385, 127.0823, "능동로"),
    "dongdaemun": (37.5744, 127.0396, "왕산로"),
    "jungnang": (37.6066, 127.0927, "망우로"),
    "seongbuk": (37.5894, 127.0167, "보문로"),
    "gangbuk": (37.6397, 127.0256, "도봉로"),
    "dobong": (37.6688, 127.0471, "마들로"),
    "nowon": (37.6542, 127.0568, "동일로"),
    "eunpyeong": (37.6027, 126.9291, "통일로"),
    "seodaemun": (37.5791, 126.9368, "연희로"),
    "mapo": (37.5663, 126.9019, "월드컵로"),
    "yangcheon": (37.5170, 126.8664, "목동동로"),
    "gangseo": (37.5509, 126.8495, "공항대로"),
    "guro": (37.4954, 126.8875, "구로중앙로"),
    "geumcheon": (37.4568, 126.8954, "시흥대로"),
    "yeongdeungpo": (37.5264, 126.8962, "영등포로"),
    "dongjak": (37.5124, 126.9393, "상도로"),
    "gwanak": (37.4784, 126.9516, "관악로"),
    "seocho": (37.4837, 127.0324, "서초대로"),
    "gangnam": (37.5172, 127.0473, "테헤란로"),
    "songpa": (37.5145, 127.1059, "올림픽로"),
    "gangdong": (37.5301, 127.1238, "천호대로"),
}

# Practice themes: theme key -> (space slug, space kind, Korean name, English name).
_THEMES: Final[dict[str, tuple[str, str, str, str]]] = {
    "drone": ("drone-lab", "lab", "드론 정비 실습실", "Drone maintenance lab"),
    "robot": ("robot-lab", "lab", "로봇 실습실", "Robotics lab"),
    "3d": ("3d-printing-workshop", "workshop", "3D 프린팅 공방", "3D printing workshop"),
    "media": ("media-editing-room", "classroom", "영상 편집 교육실", "Media editing classroom"),
    "coding": ("coding-classroom", "classroom", "코딩 교육실", "Coding classroom"),
    "ai": ("ai-lab", "lab", "AI 실습실", "AI lab"),
    "smartstore": ("smart-store-classroom", "classroom", "스마트스토어 교육실", "Smart store classroom"),
}


# --- small builders -------------------------------------------------------------------------------


def _hours(days: Iterable[int], opens: str, closes: str) -> list[dict[str, Any]]:
    """One opening interval on each of ``days`` (0=Monday .. 6=Sunday)."""
    return [{"weekday": day, "opens": opens, "closes": closes} for day in days]


def _practice_hours(*, saturday: bool, evening: bool) -> list[dict[str, Any]]:
    """Weekdays 09-18, optionally weekday evenings 19-22 (for working people) and Saturday 10-15."""
    hours = _hours(_WEEKDAYS, "09:00", "18:00")
    if evening:
        hours += _hours(_WEEKDAYS, "19:00", "22:00")
    if saturday:
        hours += _hours([_SATURDAY], "10:00", "15:00")
    return sorted(hours, key=lambda h: (h["weekday"], h["opens"]))


def _space(
    slug: str,
    kind: str,
    name: str,
    name_en: str,
    *,
    shape: str,
    capacity: int,
    max_party: int,
    slot_minutes: int | None,
) -> dict[str, Any]:
    return {
        "slug": slug,
        "kind": kind,
        "name": name,
        "name_en": name_en,
        "shape": shape,
        "capacity": capacity,
        "max_party": max_party,
        "slot_minutes": slot_minutes,
    }


def _theme_space(theme: str, capacity: int, slot_minutes: int) -> dict[str, Any]:
    """A shared practice room for one theme: seats in sessions, one seat per booking."""
    slug, kind, name, name_en = _THEMES[theme]
    return _space(slug, kind, name, name_en, shape="shared", capacity=capacity, max_party=1, slot_minutes=slot_minutes)


def _venue(
    *,
    slug: str,
    kind: str,
    name: str,
    name_en: str,
    district: str,
    address: str,
    lat: float,
    lon: float,
    description: str,
    description_en: str,
    is_sample: bool,
    opening_hours: list[dict[str, Any]],
    spaces: list[dict[str, Any]],
    phone: str | None = None,
    opens_on_holidays: bool = False,
) -> dict[str, Any]:
    return {
        "slug": slug,
        "kind": kind,
        "name": name,
        "name_en": name_en,
        "district": district,
        "address": address,
        "lat": lat,
        "lon": lon,
        "phone": phone,
        "description": description,
        "description_en": description_en,
        "is_sample": is_sample,
        "opens_on_holidays": opens_on_holidays,
        "opening_hours": opening_hours,
        "spaces": spaces,
    }


def _gu(district: str) -> str:
    return BY_CODE[district].name


# --- practice sites -------------------------------------------------------------------------------

# Real institutions: slug, name, name_en, district, address, lat, lon, description (ko, en),
# themes as (theme, capacity, slot minutes), Saturday hours, weekday evening hours.
_RealSite = tuple[str, str, str, str, str, float, float, str, str, tuple[tuple[str, int, int], ...], bool, bool]

_REAL_PRACTICE_SITES: Final[tuple[_RealSite, ...]] = (
    (
        "sttei-central",
        "서울기술교육원 중부캠퍼스",
        "Seoul Technical Education Institute, Central Campus",
        "yongsan",
        "서울특별시 용산구 원효로",
        37.5360,
        126.9610,
        "서울시 직업훈련기관의 중부캠퍼스. 온라인 과정과 연계한 코딩·AI·영상 편집 현장 실습.",
        "Central campus of the city's vocational training institute: hands-on coding, AI and media"
        " editing practice that follows the online courses.",
        (("coding", 24, 180), ("ai", 20, 180), ("media", 20, 120)),
        False,
        True,
    ),
    (
        "sttei-east",
        "서울기술교육원 동부캠퍼스",
        "Seoul Technical Education Institute, East Campus",
        "gangdong",
        "서울특별시 강동구 천호대로",
        37.5540,
        127.1540,
        "서울시 직업훈련기관의 동부캠퍼스. 드론 정비와 3D 프린팅 실습.",
        "East campus of the city's vocational training institute: drone maintenance and 3D printing.",
        (("drone", 16, 180), ("3d", 16, 180)),
        False,
        True,
    ),
    (
        "sttei-north",
        "서울기술교육원 북부캠퍼스",
        "Seoul Technical Education Institute, North Campus",
        "nowon",
        "서울특별시 노원구 동일로",
        37.6420,
        127.0720,
        "서울시 직업훈련기관의 북부캠퍼스. 로봇과 코딩 실습.",
        "North campus of the city's vocational training institute: robotics and coding practice.",
        (("robot", 16, 180), ("coding", 24, 120)),
        False,
        True,
    ),
    (
        "sttei-south",
        "서울기술교육원 남부캠퍼스",
        "Seoul Technical Education Institute, South Campus",
        "gwanak",
        "서울특별시 관악구 신림로",
        37.4700,
        126.9300,
        "서울시 직업훈련기관의 남부캠퍼스. 3D 프린팅과 스마트스토어 실습.",
        "South campus of the city's vocational training institute: 3D printing and smart store practice.",
        (("3d", 20, 180), ("smartstore", 24, 120)),
        True,
        True,
    ),
    (
        "sba-dmc",
        "서울경제진흥원(SBA) DMC",
        "Seoul Business Agency (SBA), DMC",
        "mapo",
        "서울특별시 마포구 월드컵북로 400",
        37.5790,
        126.8890,
        "상암 디지털미디어시티의 서울경제진흥원. 영상 편집과 AI 실습.",
        "Seoul Business Agency at Digital Media City, Sangam: media editing and AI practice.",
        (("media", 20, 120), ("ai", 24, 120)),
        False,
        False,
    ),
    (
        "sba-seoul-startup-hub",
        "SBA 서울창업허브",
        "SBA Seoul Startup Hub",
        "mapo",
        "서울특별시 마포구 백범로31길 21",
        37.5468,
        126.9505,
        "공덕동의 서울창업허브. 스마트스토어 개설과 코딩 실습.",
        "SBA's start-up hub in Gongdeok: opening a smart store, and coding practice.",
        (("smartstore", 30, 120), ("coding", 24, 120)),
        False,
        True,
    ),
    (
        GAEPO_ROBOT_ACADEMY_SLUG,
        "개포디지털파크 로봇아카데미",
        "Gaepo Digital Park Robot Academy",
        "gangnam",
        "서울특별시 강남구 개포로 (개포동)",
        37.4893,
        127.0664,
        "개포동역 앞 개포디지털파크의 로봇아카데미. 온라인 드론·로봇 과정 수강 후 심화 실습.",
        "The robot academy at Gaepo Digital Park by Gaepo-dong station: in-depth robot and drone practice"
        " after the online courses.",
        (("robot", 20, 180), ("drone", 16, 180), ("ai", 20, 120)),
        True,
        False,
    ),
    (
        "fifty-plus-central",
        "서울시50플러스 중부캠퍼스",
        "Seoul 50 Plus Central Campus",
        "mapo",
        "서울특별시 마포구 백범로31길 21 (공덕동)",
        37.5462,
        126.9512,
        "서울시50플러스재단의 중부캠퍼스. 미디어와 창업·창직 특화 프로그램.",
        "Central campus of the Seoul 50 Plus Foundation: media and start-up programmes.",
        (("media", 20, 120), ("smartstore", 24, 120)),
        True,
        False,
    ),
    (
        "fifty-plus-west",
        "서울시50플러스 서부캠퍼스",
        "Seoul 50 Plus West Campus",
        "eunpyeong",
        "서울특별시 은평구 통일로 684 (서울혁신파크)",
        37.6080,
        126.9340,
        "서울혁신파크 안의 서울시50플러스 서부캠퍼스.",
        "Seoul 50 Plus West Campus, inside Seoul Innovation Park.",
        (("coding", 20, 120), ("3d", 12, 120)),
        True,
        False,
    ),
    (
        "fifty-plus-south",
        "서울시50플러스 남부캠퍼스",
        "Seoul 50 Plus South Campus",
        "guro",
        "서울특별시 구로구 오리로 1130 (오류동)",
        37.4860,
        126.8390,
        "천왕역 인근 서울시50플러스 남부캠퍼스. 서남권 중장년 교육·실습.",
        "Seoul 50 Plus South Campus near Cheonwang station, for the south-west of the city.",
        (("ai", 20, 120), ("media", 16, 120)),
        True,
        False,
    ),
    (
        "fifty-plus-north",
        "서울시50플러스 북부캠퍼스",
        "Seoul 50 Plus North Campus",
        "dobong",
        "서울특별시 도봉구 창동 (창동 아우르네)",
        37.6530,
        127.0470,
        "창동역 인근 복합시설 '창동 아우르네'의 서울시50플러스 북부캠퍼스.",
        "Seoul 50 Plus North Campus in the Changdong Aurune complex near Changdong station.",
        (("3d", 16, 120), ("smartstore", 20, 120)),
        True,
        False,
    ),
    (
        "fifty-plus-east",
        "서울시50플러스 동부캠퍼스",
        "Seoul 50 Plus East Campus",
        "gwangjin",
        "서울특별시 광진구 자양동",
        37.5340,
        127.0800,
        "광진구 자양동의 서울시50플러스 동부캠퍼스. 컴퓨터실과 미디어직업체험실.",
        "Seoul 50 Plus East Campus in Jayang-dong: computer room and media careers room.",
        (("media", 20, 120), ("coding", 24, 120)),
        True,
        True,
    ),
    (
        "life-transition-center",
        "중장년 인생전환지원센터",
        "Life Transition Support Center",
        "jung",
        "서울특별시 중구 정동길 (정동)",
        37.5660,
        126.9720,
        "서울런 4050 지원의 허브인 정동의 인생전환지원센터. 상담과 연계 실습.",
        "The hub of Seoul Run 4050 support in Jeong-dong: counselling and linked practice sessions.",
        (("ai", 20, 120), ("smartstore", 24, 120)),
        False,
        True,
    ),
)


def _real_practice_sites() -> list[dict[str, Any]]:
    return [
        _venue(
            slug=slug,
            kind="practice_site",
            name=name,
            name_en=name_en,
            district=district,
            address=address,
            lat=lat,
            lon=lon,
            description=description,
            description_en=description_en,
            is_sample=False,
            opening_hours=_practice_hours(saturday=saturday, evening=evening),
            spaces=[_theme_space(theme, capacity, slot) for theme, capacity, slot in themes],
        )
        for (
            slug,
            name,
            name_en,
            district,
            address,
            lat,
            lon,
            description,
            description_en,
            themes,
            saturday,
            evening,
        ) in _REAL_PRACTICE_SITES
    ]


def _sample_practice_sites(
    district_codes: Sequence[str], rng: random.Random, first_phone: int = 1001
) -> list[dict[str, Any]]:
    """Invented practice sites, one per entry of ``district_codes``, numbered per district."""
    sites: list[dict[str, Any]] = []
    numbers: dict[str, int] = {}
    for index, code in enumerate(district_codes):
        number = numbers[code] = numbers.get(code, 0) + 1
        district = BY_CODE[code]
        short_ko = district.name.removesuffix("구") if len(district.name) > 2 else district.name
        lat, lon, road = _DISTRICT_GEO[code]
        themes = rng.sample(sorted(_THEMES), k=rng.choice((1, 2, 2, 3)))
        sites.append(
            _venue(
                slug=f"practice-{code}-{number}",
                kind="practice_site",
                name=f"서울런 4050 {short_ko} 실습공간 {number}",
                name_en=f"Seoul Run 4050 Practice Space {district.name_en.removesuffix('-gu')} {number}",
                district=code,
                address=f"서울특별시 {district.name} {road} {rng.randint(10, 320)}",
                lat=round(lat + rng.uniform(-0.008, 0.008), 5),
                lon=round(lon + rng.uniform(-0.008, 0.008), 5),
                phone=f"02-0000-{first_phone + index}",
                description=_SAMPLE_NOTE_KO,
                description_en=_SAMPLE_NOTE_EN,
                is_sample=True,
                opening_hours=_practice_hours(saturday=rng.random() < 0.4, evening=rng.random() < 0.3),
                spaces=[
                    _theme_space(theme, rng.choice((12, 16, 20, 24, 30)), rng.choice((120, 180))) for theme in themes
                ],
            )
        )
    return sites


def _practice_sites(rng: random.Random) -> list[dict[str, Any]]:
    real = _real_practice_sites()
    missing = PRACTICE_SITE_COUNT - len(real)
    codes = [DISTRICTS[i % len(DISTRICTS)].code for i in range(missing)]
    return real + _sample_practice_sites(codes, rng)


# --- digital companion plazas ---------------------------------------------------------------------

# slug suffix, region (ko, en), district, latitude, longitude.
_PLAZAS: Final[tuple[tuple[str, str, str, str, float, float], ...]] = (
    ("northeast", "동북권", "North-east", "nowon", 37.6560, 127.0600),
    ("northwest", "서북권", "North-west", "mapo", 37.5600, 126.9080),
    ("central", "도심권", "Central", "jongno", 37.5720, 126.9850),
    ("southwest", "서남권", "South-west", "yeongdeungpo", 37.5200, 126.9000),
    ("west", "서부권", "West", "gangseo", 37.5600, 126.8400),
    ("southeast", "동남권", "South-east", "songpa", 37.5050, 127.1000),
)


def _digital_plazas() -> list[dict[str, Any]]:
    plazas: list[dict[str, Any]] = []
    for index, (suffix, region, region_en, district, lat, lon) in enumerate(_PLAZAS):
        gu = _gu(district)
        road = _DISTRICT_GEO[district][2]
        plazas.append(
            _venue(
                slug=f"digital-plaza-{suffix}",
                kind="digital_plaza",
                name=f"디지털 동행 플라자 {region}",
                name_en=f"Digital Companion Plaza, {region_en}",
                district=district,
                address=f"서울특별시 {gu} {road} {101 + 12 * index}",
                lat=lat,
                lon=lon,
                description=f"{region} 중장년을 위한 권역별 디지털 교육·체험 공간."
                " 체험존, 교육실, 1:1 디지털 도움창구.",
                description_en=f"Regional digital learning and hands-on space for {region_en} Seoul:"
                " experience zone, classroom and one-to-one help desk.",
                is_sample=False,
                opening_hours=_hours((1, 2, 3, 4, 5), "10:00", "19:00"),
                spaces=[
                    _space(
                        "experience-zone",
                        "experience_zone",
                        "디지털 체험존",
                        "Digital experience zone",
                        shape="shared",
                        capacity=20,
                        max_party=2,
                        slot_minutes=60,
                    ),
                    _space(
                        "digital-classroom",
                        "classroom",
                        "디지털 교육실",
                        "Digital skills classroom",
                        shape="shared",
                        capacity=(16, 20, 24)[index % 3],
                        max_party=1,
                        slot_minutes=120,
                    ),
                    _space(
                        "help-desk",
                        "help_desk",
                        "1:1 디지털 도움창구",
                        "One-to-one digital help desk",
                        shape="exclusive",
                        capacity=1,
                        max_party=1,
                        slot_minutes=30,
                    ),
                ],
            )
        )
    return plazas


# --- start-up academies ---------------------------------------------------------------------------

# slug suffix, place name (ko, en), district, latitude, longitude.
_ACADEMIES: Final[tuple[tuple[str, str, str, str, float, float], ...]] = (
    ("seongsu", "성수", "Seongsu", "seongdong", 37.5445, 127.0557),
    ("guro", "구로디지털단지", "Guro Digital Complex", "guro", 37.4850, 126.8990),
    ("gasan", "가산", "Gasan", "geumcheon", 37.4790, 126.8820),
    ("cheongnyangni", "청량리", "Cheongnyangni", "dongdaemun", 37.5800, 127.0470),
    ("yangjae", "양재", "Yangjae", "seocho", 37.4700, 127.0400),
    ("magok", "마곡", "Magok", "gangseo", 37.5600, 126.8270),
)


def _startup_academies() -> list[dict[str, Any]]:
    academies: list[dict[str, Any]] = []
    for index, (suffix, place, place_en, district, lat, lon) in enumerate(_ACADEMIES):
        gu = _gu(district)
        road = _DISTRICT_GEO[district][2]
        meeting_rooms = [
            _space(
                f"meeting-room-{n}",
                "meeting_room",
                f"회의실 {n}",
                f"Meeting room {n}",
                shape="exclusive",
                capacity=size,
                max_party=size,
                slot_minutes=60,
            )
            for n, size in enumerate((6, 8, 10)[: 2 + index % 2], start=1)
        ]
        academies.append(
            _venue(
                slug=f"startup-academy-{suffix}",
                kind="startup_academy",
                name=f"중장년 창업·창직 사관학교 {place}",
                name_en=f"Start-up Academy for the Middle-aged, {place_en}",
                district=district,
                address=f"서울특별시 {gu} {road} {205 + 7 * index}",
                lat=lat,
                lon=lon,
                description="중장년 기술창업 보육공간: 회의실, 영상 스튜디오, 공유 좌석."
                " 위치와 구성은 예시 데이터입니다.",
                description_en="Incubation space for middle-aged founders: meeting rooms, a video studio and"
                " hot desks. Location and layout are sample data.",
                is_sample=True,
                opening_hours=_hours(_WEEKDAYS, "09:00", "21:00") + _hours([_SATURDAY], "10:00", "17:00"),
                spaces=[
                    *meeting_rooms,
                    _space(
                        "video-studio",
                        "studio",
                        "영상 스튜디오",
                        "Video studio",
                        shape="exclusive",
                        capacity=4,
                        max_party=4,
                        slot_minutes=120,
                    ),
                    _space(
                        "hot-desks",
                        "hot_desk",
                        "공유 좌석",
                        "Hot desks",
                        shape="shared",
                        capacity=(20, 24, 30)[index % 3],
                        max_party=1,
                        slot_minutes=240,
                    ),
                ],
            )
        )
    return academies


# --- Vitality+Happiness Town ----------------------------------------------------------------------


def _vitality_town() -> dict[str, Any]:
    family_rooms = [
        _space(
            f"family-room-{n}",
            "lodging_room",
            f"가족실 {n}",
            f"Family room {n}",
            shape="stay",
            capacity=4,
            max_party=4,
            slot_minutes=None,
        )
        for n in range(1, 5)
    ]
    couple_rooms = [
        _space(
            f"couple-room-{n}",
            "lodging_room",
            f"부부실 {n}",
            f"Couple room {n}",
            shape="stay",
            capacity=2,
            max_party=2,
            slot_minutes=None,
        )
        for n in range(1, 5)
    ]
    meditation_rooms = [
        _space(
            f"meditation-room-{n}",
            "meditation_room",
            f"명상실 {n}",
            f"Meditation room {n}",
            shape="exclusive",
            capacity=6,
            max_party=6,
            slot_minutes=60,
        )
        for n in range(1, 4)
    ]
    trails = [
        _space(
            f"healing-trail-{course.lower()}",
            "trail",
            f"북한산 치유숲길 {course}코스",
            f"Bukhansan healing trail, course {course}",
            shape="shared",
            capacity=30,
            max_party=6,
            slot_minutes=120,
        )
        for course in ("A", "B")
    ]
    hall = _space(
        "main-hall",
        "hall",
        "다목적 강당",
        "Multipurpose hall",
        shape="exclusive",
        capacity=80,
        max_party=80,
        slot_minutes=180,
    )
    return _venue(
        slug=VITALITY_TOWN_SLUG,
        kind="vitality_town",
        name="중장년 활력+행복타운",
        name_en="Vitality+Happiness Town",
        district="gangbuk",
        address="서울특별시 강북구 삼양로 (수유동, 구 수유영어마을 부지)",
        lat=37.6440,
        lon=127.0100,
        description="구 수유영어마을 부지의 중장년 재충전 전용공간. 부부·가족 1박2일 캠프,"
        " 명상실, 북한산과 연계한 치유숲길.",
        description_en="A dedicated recharge space for citizens in their 40s to 60s on the former Suyu"
        " English Village site: one-night couple and family camps, meditation rooms and healing"
        " forest trails linked to Bukhansan.",
        is_sample=False,
        opens_on_holidays=True,
        opening_hours=_hours(_EVERY_DAY, "09:00", "21:00"),
        spaces=[*family_rooms, *couple_rooms, *meditation_rooms, *trails, hall],
    )


# --- public API -----------------------------------------------------------------------------------


def demo_venues() -> list[dict[str, Any]]:
    """All 121 demo venues: 108 practice sites, 6 plazas, 6 start-up academies and the town."""
    rng = random.Random(4050)
    return [*_practice_sites(rng), *_digital_plazas(), *_startup_academies(), _vitality_town()]


def _demo_password(role: str) -> str:
    return f"demo-{role}-4050"


def _account(local_part: str, role: str, name: str, birth_year: int, venues: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "email": f"{local_part}@{DEMO_EMAIL_DOMAIN}",
        "password": _demo_password(role),
        "name": name,
        "birth_year": birth_year,
        "role": role,
        "venues": list(venues),
    }


def _first_with_prefix(venue_slugs: Sequence[str], prefix: str) -> list[str]:
    matches = sorted(slug for slug in venue_slugs if slug.startswith(prefix))
    return matches[:1]


def demo_accounts(venue_slugs: list[str]) -> list[dict[str, Any]]:
    """Demo accounts (1 admin, 2 managers, 4 staff, 2 instructors, 5 citizens).

    Staff and managers are assigned only to venues present in ``venue_slugs``.
    """
    known = set(venue_slugs)
    town = [VITALITY_TOWN_SLUG] if VITALITY_TOWN_SLUG in known else []
    gaepo = [GAEPO_ROBOT_ACADEMY_SLUG] if GAEPO_ROBOT_ACADEMY_SLUG in known else []
    plaza = _first_with_prefix(venue_slugs, "digital-plaza-")
    academy = _first_with_prefix(venue_slugs, "startup-academy-")
    return [
        _account("city.admin", "admin", "김서울", 1975),
        _account("manager.town", "manager", "박행복", 1970, town),
        _account("manager.gaepo", "manager", "이로봇", 1973, gaepo),
        _account("staff.town", "staff", "최활력", 1981, town),
        _account("staff.gaepo", "staff", "정기술", 1984, gaepo),
        _account("staff.plaza", "staff", "강디지", 1978, plaza),
        _account("staff.academy", "staff", "윤창업", 1976, academy),
        _account("instructor.drone", "instructor", "한드론", 1972, []),
        _account("instructor.digital", "instructor", "오동행", 1969, []),
        _account("citizen1", "citizen", "김중년", 1963),
        _account("citizen2", "citizen", "이인생", 1967),
        _account("citizen3", "citizen", "박전환", 1972),
        _account("citizen4", "citizen", "최다시", 1978),
        _account("citizen5", "citizen", "정사십", 1984),
    ]
