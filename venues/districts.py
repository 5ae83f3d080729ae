"""The 25 autonomous districts (자치구) of Seoul: stable codes, Korean and English names."""

from __future__ import annotations

from typing import Final, NamedTuple


class District(NamedTuple):
    code: str
    name: str
    name_en: str


DISTRICTS: Final[tuple[District, ...]] = (
    District("jongno", "종로구", "Jongno-gu"),
    District("jung", "중구", "Jung-gu"),
    District("yongsan", "용산구", "Yongsan-gu"),
    District("seongdong", "성동구", "Seongdong-gu"),
    District("gwangjin", "광진구", "Gwangjin-gu"),
    District("dongdaemun", "동대문구", "Dongdaemun-gu"),
    District("jungnang", "중랑구", "Jungnang-gu"),
    District("seongbuk", "성북구", "Seongbuk-gu"),
    District("gangbuk", "강북구", "Gangbuk-gu"),
    District("dobong", "도봉구", "Dobong-gu"),
    District("nowon", "노원구", "Nowon-gu"),
    District("eunpyeong", "은평구", "Eunpyeong-gu"),
    District("seodaemun", "서대문구", "Seodaemun-gu"),
    District("mapo", "마포구", "Mapo-gu"),
    District("yangcheon", "양천구", "Yangcheon-gu"),
    District("gangseo", "강서구", "Gangseo-gu"),
    District("guro", "구로구", "Guro-gu"),
    District("geumcheon", "금천구", "Geumcheon-gu"),
    District("yeongdeungpo", "영등포구", "Yeongdeungpo-gu"),
    District("dongjak", "동작구", "Dongjak-gu"),
    District("gwanak", "관악구", "Gwanak-gu"),
    District("seocho", "서초구", "Seocho-gu"),
    District("gangnam", "강남구", "Gangnam-gu"),
    District("songpa", "송파구", "Songpa-gu"),
    District("gangdong", "강동구", "Gangdong-gu"),
)

BY_CODE: Final[dict[str, District]] = {d.code: d for d in DISTRICTS}
_BY_ANY_NAME: Final[dict[str, District]] = {
    key.casefold(): d
    for d in DISTRICTS
    for key in (d.code, d.name, d.name_en, d.name.removesuffix("구"), d.name_en.removesuffix("-gu"))
}


def resolve(value: str) -> District | None:
    """Find a district by its code, Korean name or English name (``gangbuk``, ``강북구``, ``Gangbuk-gu``)."""
    return _BY_ANY_NAME.get(value.strip().casefold())
