"""Page texts and formatting in the reader's language: Jinja glue to ``core.i18n``.

Page texts live in ``web/locale/<lang>/LC_MESSAGES/web.po`` under keys that start with ``web.``; they are
registered with ``core.i18n`` so that one lookup serves both the pages and the domain's messages (every
refusal a page shows is the API's own text: ``error.message.render(locale)``). The language is the
``?lang=`` of the request (then kept in the ``lang`` cookie), else that cookie, else ``Accept-Language``,
else Korean. Instants are shown in Asia/Seoul.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from jinja2 import pass_context
from jinja2.runtime import Context
from litestar import Request

from core import i18n
from core.clock import to_kst
from core.errors import LANGUAGE_COOKIE, request_locale

LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
DOMAIN: Final = "web"
LANGUAGE_QUERY: Final = "lang"
# One year: the reader's choice outlives a session.
LANGUAGE_COOKIE_MAX_AGE: Final = 365 * 24 * 3600

# Babel patterns (CLDR): Korean readers expect 2026년 12월 3일 (목) and a 24-hour clock; English readers
# Thu 3 Dec 2026. Both show times as 14:00.
_DATE_PATTERNS: Final = {
    "ko": {"full": "y년 M월 d일 (E)", "short": "M월 d일 (E)", "day": "d (E)", "month": "y년 M월"},
    "en": {"full": "EEE d MMM y", "short": "EEE d MMM", "day": "EEE d", "month": "MMMM y"},
}
_TIME_PATTERN: Final = "HH:mm"


def register() -> None:
    """Make the page texts known to ``core.i18n`` (idempotent)."""
    i18n.register(LOCALE_DIR, DOMAIN)


def chosen_locale(request: Request[Any, Any, Any]) -> tuple[str, bool]:
    """The page's language, and whether the request chose it just now (``?lang=``: remember it)."""
    asked = request.query_params.get(LANGUAGE_QUERY)
    if asked in i18n.LOCALES:
        return asked, True
    return request_locale(request), False


def remember_locale(response: Any, locale: str, *, secure: bool) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE, locale, max_age=LANGUAGE_COOKIE_MAX_AGE, path="/", samesite="lax", secure=secure, httponly=True
    )


def t(locale: str, key: str, /, **params: Any) -> str:
    """The text of a catalogue key (a page text ``web.*`` or a domain message) in ``locale``."""
    return i18n.translate(key, locale, **params)


def format_date(value: date | datetime, locale: str, style: str = "full") -> str:
    day = to_kst(value).date() if isinstance(value, datetime) else value
    return babel_format_date(day, _DATE_PATTERNS[_known(locale)][style], locale=_known(locale))


def format_time(value: datetime, locale: str) -> str:
    return babel_format_datetime(to_kst(value), _TIME_PATTERN, locale=_known(locale))


def format_datetime(value: datetime, locale: str, style: str = "full") -> str:
    return f"{format_date(value, locale, style)} {format_time(value, locale)}"


def _known(locale: str) -> str:
    return locale if locale in i18n.LOCALES else i18n.DEFAULT_LOCALE


def url_with(request: Request[Any, Any, Any], **changes: Any) -> str:
    """This page's path and query with some parameters changed (``None`` removes one)."""
    params = {k: v for k, v in request.query_params.items() if k not in changes}
    params.update({k: v for k, v in changes.items() if v is not None and v != ""})
    query = urlencode(params)
    return f"{request.url.path}?{query}" if query else request.url.path


# --- Jinja globals: each reads the page's language from the template context -----------------------


@pass_context
def jinja_t(context: Context, key: str, /, **params: Any) -> str:
    return t(context["locale"], key, **params)


@pass_context
def jinja_pick(context: Context, korean: str | None, english: str | None) -> str:
    """One of a pair of stored texts (``name`` / ``name_en``): English when the page is English and it has one."""
    if context["locale"] == "en" and english:
        return english
    return korean or english or ""


@pass_context
def jinja_date(context: Context, value: date | datetime, style: str = "full") -> str:
    return format_date(value, context["locale"], style)


@pass_context
def jinja_time(context: Context, value: datetime) -> str:
    return format_time(value, context["locale"])


@pass_context
def jinja_datetime(context: Context, value: datetime, style: str = "full") -> str:
    return format_datetime(value, context["locale"], style)


def kst_iso(value: date | datetime) -> str:
    """The ``datetime`` attribute of ``<time>``: an instant with the +09:00 offset, or a date."""
    return to_kst(value).isoformat() if isinstance(value, datetime) else value.isoformat()


@pass_context
def jinja_url_with(context: Context, **changes: Any) -> str:
    return url_with(context["request"], **changes)


JINJA_GLOBALS: Final[dict[str, Any]] = {
    "_": jinja_t,
    "pick": jinja_pick,
    "format_date": jinja_date,
    "format_time": jinja_time,
    "format_datetime": jinja_datetime,
    "url_with": jinja_url_with,
    "kst_iso": kst_iso,
}
