"""The message catalogue keeps its promises for the whole code base: the Korean and English catalogues
hold the same keys asking for the same fields, every refusal has a title in both, and every message
written at a call site is a catalogue key (read from the source with ``ast``); and through HTTP, a
refusal of each domain answers in Korean by default and in English with ``Accept-Language: en``."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from core.errors import DomainError
from core.i18n import LOCALE_DIR, LOCALES, placeholders, translate
from tests.accounts.test_auth_http import assert_problem, registration
from tests.booking.conftest import Client
from tests.conftest import MakeSpace, MakeUser, MakeVenue
from tests.programs.test_programs_http import programme

ROOT = Path(__file__).resolve().parents[2]
PACKAGES: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
    "wheel"
]["packages"]

# Files whose messages are still written at the call site, being converted to catalogue keys by the
# engineers rewriting these packages. The list only shrinks: a file that has no literal message left
# fails the test until it is taken off, and so does a file that no longer exists.
NOT_YET_CONVERTED: frozenset[str] = frozenset()

# Calls whose first argument is a message key; ``field_error`` takes the field first, then the key.
KEY_FUNCTIONS = {"msg": 0, "Message": 0, "translate": 0, "field_error": 1}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _read_catalogue(locale: str) -> dict[str, str]:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle, locale=locale) if m.id}


KO, EN = _read_catalogue("ko"), _read_catalogue("en")


def _modules() -> Iterator[str]:
    for package in PACKAGES:
        yield package
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            yield info.name


def _domain_errors() -> set[type[DomainError]]:
    for name in _modules():
        importlib.import_module(name)
    found: set[type[DomainError]] = set()
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return found


def _source_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@dataclass(frozen=True)
class Written:
    """A message written at a call site instead of a catalogue key."""

    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text!r}"


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _literal(node: ast.expr) -> str | None:
    """The text of a string the source spells out (a constant, an f-string, a concatenation), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return ast.unparse(node)
    if isinstance(node, ast.BinOp) and (_literal(node.left) is not None or _literal(node.right) is not None):
        return ast.unparse(node)
    return None


def _written_messages(path: Path, error_names: set[str]) -> Iterator[Written]:
    """Literal messages handed to a refusal, a field error or a message, that are not catalogue keys;
    and inline ``{"field": ..., "message": "..."}`` entries that bypass ``field_error``."""
    relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            name = _callee(node)
            position = 0 if name in error_names else KEY_FUNCTIONS.get(name or "")
            if position is None or len(node.args) <= position:
                continue
            argument = node.args[position]
            text = _literal(argument)
            if text is not None and not (isinstance(argument, ast.Constant) and argument.value in KO):
                yield Written(relative, node.lineno, text)
        elif isinstance(node, ast.Dict):
            keys = {k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)}
            if "field" in keys and "message" in keys and (text := _literal(keys["message"])) is not None:
                yield Written(relative, node.lineno, text)


def test_both_catalogues_have_exactly_the_same_keys_and_no_empty_text() -> None:
    assert set(LOCALES) == {"ko", "en"}
    assert sorted(KO.keys() - EN.keys()) == [], "only in Korean"
    assert sorted(EN.keys() - KO.keys()) == [], "only in English"
    assert sorted(k for k, text in (*KO.items(), *EN.items()) if not text.strip()) == []


def _fields(text: str) -> set[str]:
    # A text may take the English form of a value in English (``{title}`` in Korean, ``{title_en}`` in
    # English): the pair counts as one field.
    return {name.removesuffix("_en") for name in placeholders(text)}


def test_every_key_asks_for_the_same_fields_in_both_languages() -> None:
    both = sorted(KO.keys() & EN.keys())
    differ = {k: (placeholders(KO[k]), placeholders(EN[k])) for k in both if _fields(KO[k]) != _fields(EN[k])}
    assert differ == {}


def test_korean_texts_are_korean_and_english_texts_are_english() -> None:
    # An English text with Hangul in it is a Korean text left untranslated (district or holiday names
    # come in through fields, never in the text); a Korean one needs at least one Hangul word.
    assert [k for k, text in EN.items() if HANGUL.search(text)] == []
    untranslated = [k for k, text in KO.items() if not HANGUL.search(text) and text == EN.get(k)]
    assert untranslated == []


def test_every_domain_error_has_a_title_in_both_languages() -> None:
    errors = _domain_errors()
    assert len(errors) > 10  # the walk found the packages' refusals, not just core's
    missing = sorted(
        f"{e.__module__}.{e.__qualname__}: {e.title_message().key}"
        for e in errors
        if not (KO.get(e.title_message().key) and EN.get(e.title_message().key))
    )
    assert missing == []


def test_every_message_written_at_a_call_site_is_a_catalogue_key() -> None:
    names = {e.__name__ for e in _domain_errors()} | {DomainError.__name__}
    by_file: dict[str, list[Written]] = {}
    for path in _source_files():
        for written in _written_messages(path, names):
            by_file.setdefault(written.path, []).append(written)
    strict = [str(w) for path, found in sorted(by_file.items()) if path not in NOT_YET_CONVERTED for w in found]
    assert strict == [], "write a catalogue key (core/locale) instead of the text"
    converted = sorted(p for p in NOT_YET_CONVERTED if p not in by_file)
    assert converted == [], "no literal message left (or no such file): take these off NOT_YET_CONVERTED"


def test_the_source_check_sees_the_literals_it_is_meant_to_refuse(tmp_path: Path) -> None:
    """The check above is only as good as what it recognises: a guard on the guard."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from core.errors import NotFound, field_error\n"
        "from core.i18n import msg\n"
        "def f(x: int) -> None:\n"
        '    NotFound(f"장소 {x} 없음 (no venue {x})")\n'
        '    NotFound("venue.not_found", venue_id=x)\n'
        '    field_error("district", "one of gangbuk, jongno")\n'
        '    field_error("district", "field.one_of", choices="")\n'
        '    msg("not.a.key")\n'
        '    NotFound("prefix " + str(x))\n'
        '    {"field": "x", "message": "must be positive"}\n'
        "    NotFound(x)\n"
    )
    found = [w.line for w in _written_messages(sample, {"NotFound"})]
    assert found == [4, 6, 8, 9, 10]


def test_the_placeholder_check_catches_a_mismatch() -> None:
    assert placeholders("{email}은(는) 이미 가입된 이메일입니다") == {"email"}
    assert placeholders("{night:%Y-%m-%d} 밤") == {"night"}
    assert placeholders("Room {room}") != placeholders("{room}번 객실, {night:%Y-%m-%d}")


# --- through HTTP ----------------------------------------------------------------------------------


def _assert_in(problem: dict[str, Any], key: str, locale: str, **params: Any) -> None:
    assert problem["detail"] == translate(key, locale, **params)
    texts = [problem["title"], problem["detail"], *(e["message"] for e in problem.get("errors", []))]
    if locale == "ko":
        assert HANGUL.search(problem["title"]), problem
        assert HANGUL.search(problem["detail"]), problem
    else:
        assert not any(HANGUL.search(t) for t in texts), problem
    # No more "한국어 (English)" in one string: the other language is never tacked on in brackets.
    assert not any(re.search(r"\([A-Za-z][a-z ]+\)$", t) for t in texts if HANGUL.search(t)), problem


async def _twice(
    client: Client, method: str, url: str, status: int, code: str, *, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    korean = await client.request(method, url, headers=headers or {}, **kw)
    english = await client.request(method, url, headers={**(headers or {}), "Accept-Language": "en"}, **kw)
    assert korean.headers["content-language"] == "ko"
    assert english.headers["content-language"] == "en"
    return assert_problem(korean, status, code), assert_problem(english, status, code)


async def test_a_taken_email_is_refused_in_korean_and_in_english(client: Client) -> None:
    assert (await client.post("/api/auth/register", json=registration())).status_code == 201
    ko, en = await _twice(client, "POST", "/api/auth/register", 409, "conflict", json=registration())
    email = registration()["email"]
    _assert_in(ko, "account.email_taken", "ko", email=email)
    _assert_in(en, "account.email_taken", "en", email=email)
    assert (ko["title"], en["title"]) == ("이미 가입된 이메일입니다", "This email is already registered")
    assert ko["email"] == en["email"] == email  # the parameters are in the body for programs


async def test_a_weak_password_is_refused_in_korean_and_in_english(client: Client) -> None:
    body = registration(password="short1!")
    ko, en = await _twice(client, "POST", "/api/auth/register", 400, "validation_error", json=body)
    _assert_in(ko, "password.too_short", "ko", min_length=10)
    _assert_in(en, "password.too_short", "en", min_length=10)
    assert ko["errors"] == [{"field": "password", "message": "비밀번호는 10자 이상이어야 합니다"}]
    assert en["errors"] == [{"field": "password", "message": "A password needs at least 10 characters"}]
    assert "10" in en["detail"]


async def test_an_unknown_district_is_refused_in_korean_and_in_english(client: Client) -> None:
    ko, en = await _twice(client, "GET", "/api/venues", 400, "validation_error", params={"district": "atlantis"})
    _assert_in(ko, "venue.unknown_district", "ko", district="atlantis")
    _assert_in(en, "venue.unknown_district", "en", district="atlantis")
    assert ko["errors"][0]["field"] == en["errors"][0]["field"] == "district"
    assert ko["errors"][0]["message"].startswith("다음 중 하나여야 합니다: ")
    assert en["errors"][0]["message"].startswith("must be one of ")
    assert "gangbuk" in en["errors"][0]["message"]


async def test_a_programme_with_a_bad_rrule_is_refused_in_korean_and_in_english(
    client: Client, make_venue: MakeVenue, make_space: MakeSpace, make_user: MakeUser
) -> None:
    venue = await make_venue()
    space = await make_space(venue)
    manager = await make_user(role="manager", venues=[venue])
    body = programme(venue.id, space.id, rrule="FREQ=WEEKLY;BYDAY=TU")  # no end
    ko, en = await _twice(client, "POST", "/api/programs", 400, "validation_error", headers=manager.headers, json=body)
    _assert_in(ko, "schedule.needs_end", "ko")
    _assert_in(en, "schedule.needs_end", "en")
    assert ko["errors"] == [{"field": "rrule", "message": "COUNT=n 또는 UNTIL=YYYYMMDD를 넣어 주세요"}]
    assert en["errors"] == [{"field": "rrule", "message": "add COUNT=n or UNTIL=YYYYMMDD"}]


async def test_an_unknown_programme_and_a_missing_token_are_refused_in_both_languages(client: Client) -> None:
    ko, en = await _twice(client, "GET", "/api/programs/987654", 404, "not_found")
    _assert_in(ko, "program.not_found", "ko", program_id=987654)
    _assert_in(en, "program.not_found", "en", program_id=987654)
    ko, en = await _twice(client, "GET", "/api/me", 401, "unauthenticated")
    _assert_in(ko, "auth.bearer_required", "ko")
    _assert_in(en, "auth.bearer_required", "en")


@pytest.mark.parametrize("key", sorted(k for k in KO if k.startswith(("venue_day.", "slot_note."))))
def test_texts_stored_or_shown_outside_problems_render_in_both_languages(key: str) -> None:
    fields = dict.fromkeys(placeholders(KO[key]), "X")
    assert HANGUL.search(translate(key, "ko", **fields))
    assert not HANGUL.search(translate(key, "en", **fields))
