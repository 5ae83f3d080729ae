"""Domain errors with stable codes, and their one translation into RFC 9457 problem details.

Every error the service can raise ends up here: our own ``DomainError`` subclasses, Litestar's HTTP
exceptions (unknown routes, wrong methods, malformed JSON, validation) and database failures. The
``code`` of each answer is stable and listed in ../shared/docs/API.md. Titles and details come from the
message catalogue (``core.i18n``), in Korean, or in English for ``Accept-Language: en``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypedDict

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from core.fields import MULTI_LINE_PATTERN, ONE_LINE_PATTERN
from core.i18n import DEFAULT_LOCALE, Message, negotiate, translate

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
LANGUAGE_COOKIE = "lang"


class FieldError(TypedDict):
    field: str
    message: Message | str


def field_error(name: str, key: str, /, **params: Any) -> FieldError:
    """One entry of a problem's ``errors``: the field and what is wrong with it, from the catalogue."""
    return {"field": name, "message": Message(key, params)}


class DomainError(Exception):
    """A refusal a person can cause; ``code`` is part of the public contract.

    Raised with the catalogue key of its detail and the values the text needs, which also go into the
    problem's body for programs (``SoldOut("sold_out.places_left", remaining=0)``). Without a key the
    detail is the title.
    """

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    # The catalogue key of the title; by default ``title.<code>``. A subclass that shares a code but
    # means something more precise (a taken email is a ``conflict``) names its own.
    title_key: ClassVar[str] = ""

    def __init__(self, key: str | None = None, /, *, errors: Sequence[FieldError] | None = None, **params: Any):
        self.message = Message(key or self.title_message().key, params)
        self.errors = list(errors) if errors is not None else None
        self.params = params
        super().__init__(self.detail)

    @classmethod
    def title_message(cls) -> Message:
        return Message(cls.title_key or f"title.{cls.code}")

    @property
    def detail(self) -> str:
        """The detail in Korean (logs, the command line)."""
        return self.message.render(DEFAULT_LOCALE)

    def title(self, locale: str = DEFAULT_LOCALE) -> str:
        return self.title_message().render(locale)

    @property
    def extra(self) -> dict[str, Any]:
        """What the problem's body carries beside the standard members, for programs to read."""
        return {k: v for k, v in self.params.items() if k != "retry_after"}


class ValidationFailed(DomainError):
    code, status = "validation_error", 400


class Unauthenticated(DomainError):
    code, status = "unauthenticated", 401


class Forbidden(DomainError):
    code, status = "forbidden", 403


class NotFound(DomainError):
    code, status = "not_found", 404


class Conflict(DomainError):
    code, status = "conflict", 409


class InvalidTransition(DomainError):
    code, status = "invalid_transition", 409


class PayloadTooLarge(DomainError):
    code, status = "payload_too_large", 413


class RateLimited(DomainError):
    code, status = "rate_limited", 429


class Unavailable(DomainError):
    code, status = "unavailable", 503


def request_locale(request: Request[Any, Any, Any]) -> str:
    """The reader's language: the page's chosen one (cookie), else ``Accept-Language``, else Korean."""
    return negotiate(request.headers.get("accept-language"), request.cookies.get(LANGUAGE_COOKIE))


def _render_errors(errors: Sequence[Mapping[str, Any]] | None, locale: str) -> list[dict[str, str]] | None:
    if errors is None:
        return None
    rendered = []
    for item in errors:
        message = item.get("message", "")
        text = message.render(locale) if isinstance(message, Message) else str(message)
        rendered.append({"field": str(item.get("field", "body")), "message": text})
    return rendered


def _problem_in(
    locale: str,
    status: int,
    code: str,
    title_key: str,
    detail_key: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> Response[dict[str, Any]]:
    return _answer(
        locale,
        status,
        code,
        translate(title_key, locale),
        translate(detail_key, locale, **params),
        errors=errors,
        headers=headers,
    )


def _answer(
    locale: str,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    return Response(
        content=problem_body(status, code, title, detail, errors=errors, extra=extra),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**(headers or {}), "Content-Language": locale},
    )


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return body


def domain_problem(exc: DomainError, locale: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem details of a refusal in ``locale``, and the headers that go with them (beside
    ``Content-Type`` and ``Content-Language``)."""
    retry_after = exc.params.get("retry_after", 1)
    headers = {"Retry-After": str(retry_after)} if exc.status in (429, 503) else {}
    body = problem_body(
        exc.status,
        exc.code,
        exc.title(locale),
        exc.message.render(locale),
        errors=_render_errors(exc.errors, locale),
        extra=exc.extra,
    )
    return body, headers


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    locale = request_locale(request)
    body, headers = domain_problem(exc, locale)
    return Response(
        content=body,
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**headers, "Content-Language": locale},
    )


# msgspec's words for a text with control characters (core.fields), which a person would not understand.
_CONTROL_CHARACTERS = frozenset(f"Expected `str` matching regex {p!r}" for p in (ONE_LINE_PATTERN, MULTI_LINE_PATTERN))


def _field_errors(extra: Any, locale: str) -> list[dict[str, str]]:
    """Litestar's validation details as ``[{"field", "message"}]``."""
    items = extra if isinstance(extra, list) else [extra] if isinstance(extra, dict) else []
    out: list[dict[str, str]] = []
    for item in items:
        if isinstance(item, dict):
            field = item.get("key") or item.get("source") or "body"
            message = str(item.get("message", "invalid"))
            if message in _CONTROL_CHARACTERS:
                message = translate("field.control_characters", locale)
            out.append({"field": str(field), "message": message})
    return out


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    locale = request_locale(request)
    status = exc.status_code
    if isinstance(exc, NotFoundException) or status == 404:
        return _problem_in(locale, 404, "not_found", "title.not_found", "not_found.route")
    if isinstance(exc, MethodNotAllowedException) or status == 405:
        return _answer(
            locale,
            405,
            "method_not_allowed",
            translate("title.method_not_allowed", locale),
            str(exc.detail),
            headers=exc.headers,
        )
    if isinstance(exc, NotAuthorizedException) or status == 401:
        return _answer(locale, 401, "unauthenticated", translate("title.unauthenticated", locale), str(exc.detail))
    if isinstance(exc, PermissionDeniedException) or status == 403:
        return _answer(locale, 403, "forbidden", translate("title.forbidden", locale), str(exc.detail))
    if status == 413:
        return _problem_in(locale, 413, "payload_too_large", "title.payload_too_large", "payload_too_large.detail")
    if status == 429:
        headers = dict(exc.headers or {})
        headers.setdefault("Retry-After", str(max(int(headers.get("RateLimit-Reset", "60")), 1)))
        return _problem_in(
            locale,
            429,
            "rate_limited",
            "title.rate_limited",
            "rate_limited.retry_in",
            headers=headers,
            seconds=headers["Retry-After"],
        )
    if status < 500:
        errors = _field_errors(exc.extra, locale)
        detail = str(exc.detail)
        if not errors:
            errors = [{"field": "body", "message": detail}]
        return _answer(
            locale,
            400,
            "validation_error",
            translate("title.validation_error", locale),
            translate("validation_error.detail", locale, detail=detail),
            errors=errors,
        )
    if exc.detail == "client disconnected prematurely":
        # The client went away while sending its body: nothing broke here, and nobody reads the answer.
        log.info("client disconnected before its request body arrived: %s %s", request.method, request.url.path)
    else:
        log.error("HTTP %s: %s", status, exc.detail, exc_info=exc)
    return _problem_in(locale, 500, "internal_error", "title.internal_error", "internal_error.detail")


def database_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    locale = request_locale(request)
    if isinstance(exc, IntegrityError):
        # The services map the constraints they expect to break (by name) to their own refusals; one
        # that reaches the edge is a guard the service did not anticipate. Nothing was written.
        log.error("integrity error reached the edge: %s", exc.orig)
        return _problem_in(locale, 409, "conflict", "title.conflict", "conflict.concurrent_change")
    if isinstance(exc, DataError | OverflowError):
        # A value the database cannot hold (an id past its integer range, a NUL character): bad input.
        log.info("value refused by the database: %s", exc)
        return _answer(
            locale,
            400,
            "validation_error",
            translate("title.validation_error", locale),
            translate("validation_error.out_of_range", locale),
            errors=[{"field": "body", "message": translate("field.out_of_range", locale)}],
        )
    if isinstance(exc, OperationalError | PoolTimeoutError | DBAPIError | ConnectionError | OSError):
        log.warning("database unavailable: %s", exc)
        return _problem_in(
            locale, 503, "unavailable", "title.unavailable", "unavailable.database", headers={"Retry-After": "1"}
        )
    return internal_error_handler(request, exc)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if type(exc).__module__.startswith("asyncpg"):
        # The driver's own errors that reach us unwrapped: too many clients, a connection lost while
        # connecting. The database is busy or away, not broken by this request: 503, safe to retry.
        return database_error_handler(request, ConnectionError(str(exc)))
    log.exception("unhandled error", exc_info=exc)
    return _problem_in(request_locale(request), 500, "internal_error", "title.internal_error", "internal_error.detail")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    IntegrityError: database_error_handler,
    DataError: database_error_handler,
    OverflowError: database_error_handler,
    OperationalError: database_error_handler,
    PoolTimeoutError: database_error_handler,
    DBAPIError: database_error_handler,
    ConnectionError: database_error_handler,
    Exception: internal_error_handler,
}
