"""The page texts: every key in Korean and English with the same fields, and every key the templates
and the code use is in the catalogue (including the families named by a domain value)."""

from __future__ import annotations

import re
from pathlib import Path

from accounts.models import Role
from booking.models import BookingStatus
from programs.models import ProgramKind
from venues.models import SpaceKind, SpaceShape, VenueKind
from web import catalogue

WEB = Path(catalogue.__file__).resolve().parent
KEY = re.compile(r"""["'](web(?:\.[a-z0-9_]+)+)["']""")


def test_both_languages_have_every_key_with_the_same_fields() -> None:
    assert catalogue.problems() == []


def test_every_key_used_is_in_the_catalogue() -> None:
    known = set(catalogue.read("ko"))
    used: set[str] = set()
    for path in [*WEB.rglob("*.j2"), *WEB.rglob("*.py")]:
        for key in KEY.findall(path.read_text(encoding="utf-8")):
            if not key.endswith("."):  # a family ("web.status." ~ state): the test below
                used.add(key)
    assert sorted(used - known) == []


def test_keys_named_by_domain_values_are_there() -> None:
    known = set(catalogue.read("en"))
    families = {
        "web.venue_kind": [k.value for k in VenueKind],
        "web.home.kind": [k.value for k in VenueKind],
        "web.space_kind": [k.value for k in SpaceKind],
        "web.space.shape": [s.value for s in SpaceShape],
        "web.program_kind": [k.value for k in ProgramKind],
        "web.status": [s.value for s in BookingStatus]
        + ["available", "few_left", "full", "not_available", "closed", "blocked", "past"],
        "web.weekday": [str(d) for d in range(7)],
    }
    missing = [f"{prefix}.{value}" for prefix, values in families.items() for value in values]
    assert [k for k in missing if k not in known] == []
    assert {str(r) for r in Role} >= {"citizen", "staff", "manager"}
