"""Messages people read, from one catalogue per language (gettext ``.po`` files read with Babel).

Every message has a stable key (``sold_out.places_left``); its Korean and English texts live in
``core/locale/<lang>/LC_MESSAGES/messages.po``. Texts use Python brace fields (``{left}``,
``{opens_at:%Y-%m-%d %H:%M}``), filled in when the message is shown, in the language of the person
who reads it: the API answers in Korean, or in English with ``Accept-Language: en``.

A ``Message`` is a key with its parameters, rendered late: an error is raised once and rendered in
whichever language the answer needs; a notice is stored in both.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LOCALES: Final = ("ko", "en")
DEFAULT_LOCALE: Final = "ko"
LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
DOMAINS: Final = ("messages",)


@cache
def catalogue(locale: str, domain: str = "messages") -> Mapping[str, str]:
    """The texts of one language, by key (read once per process)."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
    with path.open("rb") as handle:
        po = read_po(handle, locale=locale, domain=domain)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


_extra_dirs: list[Path] = []
_extra: dict[str, dict[str, str]] = {}


def register(locale_dir: Path, domain: str) -> None:
    """Add another package's catalogue (``<locale_dir>/<lang>/LC_MESSAGES/<domain>.po``) to the lookup."""
    if locale_dir in _extra_dirs:
        return
    _extra_dirs.append(locale_dir)
    for locale in LOCALES:
        path = locale_dir / locale / "LC_MESSAGES" / f"{domain}.po"
        with path.open("rb") as handle:
            po = read_po(handle, locale=locale, domain=domain)
        _extra.setdefault(locale, {}).update({str(m.id): str(m.string) for m in po if m.id and m.string})


def lookup(key: str, locale: str) -> str | None:
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    text = catalogue(locale).get(key) or _extra.get(locale, {}).get(key)
    if text is None and locale != DEFAULT_LOCALE:
        text = catalogue(DEFAULT_LOCALE).get(key) or _extra.get(DEFAULT_LOCALE, {}).get(key)
    return text


def is_key(key: str) -> bool:
    return lookup(key, DEFAULT_LOCALE) is not None


_KEY: Final = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")


class _Params(dict[str, Any]):
    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


def translate(key: str, locale: str = DEFAULT_LOCALE, /, **params: Any) -> str:
    """The text of ``key`` in ``locale`` with its fields filled; the key itself when it has no text."""
    text = lookup(key, locale)
    if text is None:
        if _KEY.fullmatch(key):
            log.warning("no message for key %r", key)
        return key
    if not params:
        return text
    try:
        return text.format_map(_Params(params))  # str.format's own parser (C): no Formatter object
    except (ValueError, TypeError, AttributeError, IndexError):
        log.warning("message %r could not be filled with %r", key, sorted(params))
        return text


@dataclass(frozen=True, slots=True)
class Message:
    """A key and its parameters, rendered in a language when someone reads it."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, locale: str = DEFAULT_LOCALE) -> str:
        return translate(self.key, locale, **self.params)

    def both(self) -> tuple[str, str]:
        """Korean and English, for what is stored once and read in either language (notices)."""
        return self.render("ko"), self.render("en")


def msg(key: str, /, **params: Any) -> Message:
    return Message(key, params)


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The language of an answer: ``preferred`` (a page's chosen language) if we have it, else the
    first of ``Accept-Language`` we have by its q-value, else Korean."""
    if preferred in LOCALES:
        return preferred
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")):
        tag, _, rest = item.strip().partition(";")
        quality = 1.0
        rest = rest.strip()
        if rest.startswith("q="):
            try:
                quality = float(rest[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in LOCALES and quality > 0:
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else DEFAULT_LOCALE


def placeholders(text: str) -> set[str]:
    """The field names a text uses (so that both languages can be checked to ask for the same)."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}
