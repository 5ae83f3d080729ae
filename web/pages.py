"""What every page handler is given (``ctx: PageContext``): the reader's language, the signed-in account,
rendering with the common context, redirects, and flash notices for the next page.

A handler parses, calls one service method and returns ``ctx.render(...)`` or ``ctx.redirect(...)``.
With ``partial=`` a page names the fragment that an HTMX request gets instead of the whole page (the
same template included by the full page), so each page works without JavaScript and HTMX only makes it
quicker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any, Final, TypeVar

from litestar import Request, Response
from litestar.response import Redirect, Template
from litestar_htmx import HTMXRequest

from accounts.models import User
from core.settings import Settings
from web.auth import SESSION_COOKIE, clear_session_cookie
from web.i18n import chosen_locale, remember_locale, t

log = logging.getLogger(__name__)

FLASH_COOKIE: Final = "flash"
R = TypeVar("R", bound=Response[Any])

# Everything a page loads comes from this host (web.assets): the browser refuses anything else, which
# also keeps a mistaken CDN link from working in development and failing in a library without internet.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}


def secure(response: Response[Any]) -> Response[Any]:
    """Security headers on every web answer; pages are personal (a login, a CSRF token) and may be shown
    on a shared library PC, so a page is never stored by the browser or a proxy."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _sign(payload: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()[:32]


def encode_flash(items: list[tuple[str, dict[str, Any]]], secret: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(items, ensure_ascii=False).encode()).decode()
    return f"{payload}.{_sign(payload.encode(), secret)}"


def decode_flash(value: str | None, secret: str) -> list[tuple[str, dict[str, Any]]]:
    """The notices of a signed flash cookie; nothing for a forged or damaged one."""
    if not value or "." not in value:
        return []
    payload, _, signature = value.rpartition(".")
    if not hmac.compare_digest(signature, _sign(payload.encode(), secret)):
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(payload.encode()))
        return [(str(key), dict(params)) for key, params in items if str(key).startswith("web.")]
    except (ValueError, TypeError):
        return []


class PageContext:
    """One page request's reader, language and notices."""

    def __init__(self, request: Request[Any, Any, Any], viewer: User | None, settings: Settings) -> None:
        self.request = request
        self.viewer = viewer
        self.settings = settings
        self.locale, self._locale_chosen = chosen_locale(request)
        self._flash_in = decode_flash(request.cookies.get(FLASH_COOKIE), settings.secret_key)
        self._flash_out: list[tuple[str, dict[str, Any]]] = []

    # --- language ------------------------------------------------------------------------------------

    def t(self, key: str, /, **params: Any) -> str:
        return t(self.locale, key, **params)

    # --- HTMX ----------------------------------------------------------------------------------------

    @property
    def is_htmx(self) -> bool:
        """An HTMX request that swaps a fragment (not a boosted navigation nor a history restore)."""
        details = getattr(self.request, "htmx", None)
        if not isinstance(self.request, HTMXRequest) or not details:
            return False
        return not details.boosted and not details.history_restore_request

    # --- answers -------------------------------------------------------------------------------------

    def flash(self, key: str, /, **params: Any) -> None:
        """A notice (a ``web.*`` catalogue key) shown on the next page this person sees."""
        self._flash_out.append((key, params))

    def context(self, **extra: Any) -> dict[str, Any]:
        return {
            "ctx": self,
            "locale": self.locale,
            "viewer": self.viewer,
            "flashes": [t(self.locale, key, **params) for key, params in self._flash_in + self._flash_out],
            **extra,
        }

    def render(self, template: str, *, status: int = 200, partial: str | None = None, **context: Any) -> Template:
        """The page ``template``, or its fragment ``partial`` for an HTMX request."""
        name = partial if partial and self.is_htmx else template
        response = Template(template_name=name, context=self.context(**context), status_code=status)
        response.headers["Vary"] = "HX-Request, Cookie"
        if name == template and self._flash_in:
            response.delete_cookie(FLASH_COOKIE, path="/")  # shown now, so not again
        return self._finish(response, carry_flash=name != template)

    def redirect(self, url: str) -> Response[Any]:
        """See-other to ``url`` (after a form); an HTMX request is told to load it as a whole page."""
        if self.is_htmx:
            response: Response[Any] = Response(content=b"", status_code=204, headers={"HX-Redirect": url})
        else:
            response = Redirect(path=url, status_code=303)
        return self._finish(response, carry_flash=True)

    def _finish(self, response: R, *, carry_flash: bool) -> R:
        """Cookies: notices not shown yet go on to the next page; the language chosen with ``?lang=``
        is remembered; a session cookie whose token is gone is dropped."""
        secure_cookies = self.settings.base_url.startswith("https://")
        pending = self._flash_in + self._flash_out
        if carry_flash and self._flash_out and pending:
            response.set_cookie(
                FLASH_COOKIE,
                encode_flash(pending, self.settings.secret_key),
                path="/",
                httponly=True,
                samesite="lax",
                secure=secure_cookies,
            )
        if self._locale_chosen:
            remember_locale(response, self.locale, secure=secure_cookies)
        if getattr(self.request.state, "drop_session_cookie", False) and SESSION_COOKIE in self.request.cookies:
            clear_session_cookie(response)
        return response


def provide_page_context(request: Request[Any, Any, Any], viewer: User | None, settings: Settings) -> PageContext:
    return PageContext(request, viewer, settings)
