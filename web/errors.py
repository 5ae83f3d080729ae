"""Errors on web pages: the same answer the API would give (status, code, title, detail from the
catalogue), shown as a page in the site's layout instead of problem details.

Nothing is decided twice: each error goes through the API's own handler (``core.errors``) to find its
status and words, and only the presentation differs. A page that needs a login redirects to
``/login?next=...`` instead of answering 401. Unknown paths get the HTML 404 page when a browser asks for
HTML outside the API (``/api``, ``/ical``, ``/schema``, ``/health``); programs keep problem details.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Final

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template

from core.errors import EXCEPTION_HANDLERS
from web.auth import LoginRequired, PageForbidden, coming_from, login_url
from web.i18n import chosen_locale, t
from web.pages import secure

ExceptionHandler = Callable[[Request[Any, Any, Any], Exception], Response[Any]]

API_PREFIXES: Final = ("/api/", "/ical/", "/schema", "/health", "/static/")
CSRF_FAILED: Final = "CSRF token verification failed"
# The API's own handlers, as core.errors defines them (a copy: the app's mapping is changed by WebPlugin).
API_HANDLERS: Final = dict(EXCEPTION_HANDLERS)


def _api_handler(exc: Exception) -> ExceptionHandler:
    for cls in inspect.getmro(type(exc)):
        if cls in API_HANDLERS:
            handler: ExceptionHandler = API_HANDLERS[cls]
            return handler
    return API_HANDLERS[Exception]  # type: ignore[no-any-return]


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


def _redirect(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    if _is_htmx(request):
        return secure(Response(content=b"", status_code=204, headers={"HX-Redirect": url}))
    return secure(Redirect(path=url, status_code=303))


def error_page(
    request: Request[Any, Any, Any],
    status: int,
    *,
    title: str,
    detail: str,
    code: str,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    locale, _ = chosen_locale(request)
    context: dict[str, Any] = {
        "locale": locale,
        "viewer": getattr(request.state, "viewer", None),
        "flashes": [],
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
    }
    response = Template(template_name="errors/error.html.j2", context=context, status_code=status)
    for name, value in (headers or {}).items():
        if name.lower() in ("retry-after", "allow"):
            response.headers[name] = value
    response.headers["Content-Language"] = locale
    return secure(response)


def page_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every error of a web route, as a page (or a redirect to the login page)."""
    locale, _ = chosen_locale(request)
    if isinstance(exc, LoginRequired):
        return _redirect(request, login_url(exc.next_path))
    if isinstance(exc, PageForbidden):
        return error_page(
            request,
            403,
            title=t(locale, "title.forbidden"),
            detail=t(locale, exc.reason_key, **exc.params),
            code="forbidden",
        )
    problem = _api_handler(exc)(request, exc)
    body: dict[str, Any] = problem.content if isinstance(problem.content, dict) else {}
    status = problem.status_code or 500
    code = str(body.get("code", "internal_error"))
    if status == 401:
        return _redirect(request, login_url(coming_from(request)))
    detail = str(body.get("detail", ""))
    if isinstance(exc, HTTPException) and exc.status_code == 403 and exc.detail == CSRF_FAILED:
        detail = t(locale, "web.error.csrf")
    title = t(locale, f"web.error.{status}") if status in (400, 403, 404, 405, 409, 429, 500, 503) else ""
    return error_page(
        request,
        status,
        title=title or str(body.get("title", "")),
        detail=detail,
        code=code,
        headers=dict(problem.headers),
    )


def page_exception_handlers() -> dict[type[Exception] | int, ExceptionHandler]:
    """For the web router: every class the API handles (so none of the API's handlers, more specific than
    ``Exception``, answers a page with JSON), and the page's own two."""
    handlers: dict[type[Exception] | int, ExceptionHandler] = {key: page_error_handler for key in API_HANDLERS}
    handlers[LoginRequired] = page_error_handler
    handlers[PageForbidden] = page_error_handler
    return handlers


def wants_a_page(request: Request[Any, Any, Any]) -> bool:
    """A browser navigating to a path outside the API (it accepts HTML)."""
    path = request.url.path
    if path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def browser_aware(api_handler: ExceptionHandler) -> ExceptionHandler:
    """The app-level handler for errors outside any route (unknown paths, wrong methods): a page for a
    browser, problem details for everyone else, as before."""

    def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if wants_a_page(request):
            return page_error_handler(request, exc)
        return api_handler(request, exc)

    return handler
