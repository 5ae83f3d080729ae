"""Domain errors with stable codes, and their one translation into RFC 9457 problem details.

Every error the service can raise ends up here: our own ``DomainError`` subclasses, Litestar's HTTP
exceptions (unknown routes, wrong methods, malformed JSON, validation) and database failures. The
``code`` of each answer is stable and listed in ../shared/docs/API.md.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class DomainError(Exception):
    """A refusal a person can cause; ``code`` is part of the public contract."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "요청을 처리할 수 없습니다 (The request cannot be processed)"

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, str]] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra


class ValidationFailed(DomainError):
    code, status = "validation_error", 400
    title = "입력값이 올바르지 않습니다 (The input is not valid)"


class Unauthenticated(DomainError):
    code, status = "unauthenticated", 401
    title = "로그인이 필요합니다 (Authentication required)"


class Forbidden(DomainError):
    code, status = "forbidden", 403
    title = "권한이 없습니다 (Not allowed)"


class NotFound(DomainError):
    code, status = "not_found", 404
    title = "찾을 수 없습니다 (Not found)"


class Conflict(DomainError):
    code, status = "conflict", 409
    title = "이미 사용 중인 값입니다 (Already taken)"


class PayloadTooLarge(DomainError):
    code, status = "payload_too_large", 413
    title = "요청이 너무 큽니다 (Request body too large)"


class RateLimited(DomainError):
    code, status = "rate_limited", 429
    title = "요청이 너무 많습니다 (Too many requests)"


class Unavailable(DomainError):
    code, status = "unavailable", 503
    title = "잠시 후 다시 시도해 주세요 (Temporarily unavailable, safe to retry)"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
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
        body.update(extra)
    return Response(content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    headers = {"Retry-After": str(exc.extra.get("retry_after", 1))} if exc.status in (429, 503) else None
    extra = {k: v for k, v in exc.extra.items() if k != "retry_after"}
    return problem(exc.status, exc.code, exc.title, exc.detail, errors=exc.errors, extra=extra, headers=headers)


def _field_errors(extra: Any) -> list[dict[str, str]]:
    """Litestar's validation details as ``[{"field", "message"}]``."""
    items = extra if isinstance(extra, list) else [extra] if isinstance(extra, dict) else []
    out: list[dict[str, str]] = []
    for item in items:
        if isinstance(item, dict):
            field = item.get("key") or item.get("source") or "body"
            out.append({"field": str(field), "message": str(item.get("message", "invalid"))})
    return out


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if isinstance(exc, NotFoundException) or status == 404:
        return problem(404, NotFound.code, NotFound.title, "요청한 주소를 찾을 수 없습니다 (No such resource)")
    if isinstance(exc, MethodNotAllowedException) or status == 405:
        return problem(
            405,
            "method_not_allowed",
            "허용되지 않는 메서드입니다 (Method not allowed)",
            str(exc.detail),
            headers=exc.headers,
        )
    if isinstance(exc, NotAuthorizedException) or status == 401:
        return problem(401, Unauthenticated.code, Unauthenticated.title, str(exc.detail))
    if isinstance(exc, PermissionDeniedException) or status == 403:
        return problem(403, Forbidden.code, Forbidden.title, str(exc.detail))
    if status == 413:
        return problem(413, PayloadTooLarge.code, PayloadTooLarge.title, "요청 본문은 1MB 이하여야 합니다 (max 1 MB)")
    if status == 429:
        headers = dict(exc.headers or {})
        headers.setdefault("Retry-After", str(max(int(headers.get("RateLimit-Reset", "60")), 1)))
        detail = f"{headers['Retry-After']}초 후 다시 시도해 주세요 (retry in {headers['Retry-After']} s)"
        return problem(429, RateLimited.code, RateLimited.title, detail, headers=headers)
    if status < 500:
        errors = _field_errors(exc.extra)
        detail = str(exc.detail)
        if not errors:
            errors = [{"field": "body", "message": detail}]
        return problem(400, ValidationFailed.code, ValidationFailed.title, detail, errors=errors)
    log.error("HTTP %s: %s", status, exc.detail)
    return problem(status, "internal_error", HTTPStatus(status).phrase, "서버 오류 (Server error)")


def database_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, IntegrityError):
        # The schema's constraints are the last line of defence; a service that lets one of them fire
        # still answers with a conflict rather than a 500.
        log.warning("integrity error reached the edge: %s", exc.orig)
        return problem(409, Conflict.code, Conflict.title, "요청이 다른 변경과 충돌했습니다 (Conflicting change)")
    if isinstance(exc, OperationalError | PoolTimeoutError | DBAPIError | ConnectionError | OSError):
        log.warning("database unavailable: %s", exc)
        return problem(
            503,
            Unavailable.code,
            Unavailable.title,
            "데이터베이스 응답 없음 (Database busy or unreachable)",
            headers={"Retry-After": "1"},
        )
    return internal_error_handler(_, exc)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if type(exc).__module__.startswith("asyncpg"):
        # The driver's own errors that reach us unwrapped: too many clients, a connection lost while
        # connecting. The database is busy or away, not broken by this request: 503, safe to retry.
        return database_error_handler(request, ConnectionError(str(exc)))
    log.exception("unhandled error", exc_info=exc)
    return problem(
        500,
        "internal_error",
        "서버 오류가 발생했습니다 (Internal server error)",
        "잠시 후 다시 시도해 주세요 (Please try again later)",
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    IntegrityError: database_error_handler,
    OperationalError: database_error_handler,
    PoolTimeoutError: database_error_handler,
    DBAPIError: database_error_handler,
    ConnectionError: database_error_handler,
    Exception: internal_error_handler,
}
