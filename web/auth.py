"""Who is looking at a page: the session cookie, and what a page needs ("a citizen", "staff of venue X").

The session cookie carries an access token from ``AccountService.issue_token``, the same kind of token as
the API's bearer tokens (only its SHA-256 is stored). We chose that over Litestar's session middleware:
logging out revokes the token in the database, a new password or a deactivated account ends every
session at once (``AccountService.revoke_all``), several server processes need no shared session store,
and there is one way to authenticate (``AccountService.authenticate``). The cookie is HttpOnly,
SameSite=Lax, and Secure when ``SEOULRUN_BASE_URL`` is https. The JSON API never reads it (bearer tokens
only), so the cookie cannot be used to make API calls from another site.

Pages ask for what they need with the dependencies of this module (``CITIZEN``, ``STAFF_OF_VENUE``,
``MANAGER_OF_VENUE``, ``SIGNED_IN``): an anonymous visitor is sent to ``/login?next=<this page>``, a
signed-in person without the role gets a 403 page. The rules themselves are the account's
(``User.can_work_at``), not a copy.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from litestar import Request
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import account_key
from accounts.models import Role, User
from accounts.services import AccountService
from core.errors import Unauthenticated
from core.ratelimit import limit_account
from core.settings import Settings

SESSION_COOKIE: Final = "seoulrun_session"


class LoginRequired(Exception):
    """The page needs a signed-in person: answered with a redirect to ``/login?next=...``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """Signed in, but this page is not for this account: answered with the 403 page and ``reason_key``."""

    def __init__(self, reason_key: str, **params: Any) -> None:
        super().__init__(reason_key)
        self.reason_key = reason_key
        self.params = params


async def provide_viewer(request: Request[Any, Any, Any], db_session: AsyncSession, settings: Settings) -> User | None:
    """The signed-in account of the session cookie, or ``None``; a cookie whose token has expired or was
    revoked is dropped from the browser with the answer."""
    token = request.cookies.get(SESSION_COOKIE)
    user = None
    if token:
        try:
            user = await AccountService(db_session, settings).authenticate(token)
        except Unauthenticated:
            request.state.drop_session_cookie = True
    request.state.viewer = user  # for the error pages, which are drawn outside dependency injection
    if user is not None:  # on a rate-limited page, the account counts too (core.ratelimit)
        await limit_account(request, account_key(user.id))
    return user


def set_session_cookie(response: Any, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.token_ttl_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
    )


def clear_session_cookie(response: Any) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def safe_next(value: str | None, default: str = "/") -> str:
    """A same-site path to go back to after logging in; anything else (another host, a scheme, ``//x``,
    backslashes, control characters) gives ``default``: no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    if parts.path in ("/login", "/signup", "/logout"):
        return default
    return value


def login_url(next_path: str | None) -> str:
    target = safe_next(next_path, "")
    return f"/login?{urlencode({'next': target})}" if target else "/login"


def here(request: Request[Any, Any, Any]) -> str:
    """This request's path and query, to come back to after logging in."""
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def coming_from(request: Request[Any, Any, Any]) -> str:
    """Where a person was when they sent a form: the page itself for a GET, else the referring page of
    this site (a form posted after the session ran out goes back to the form once logged in)."""
    if request.method == "GET" and not request.headers.get("hx-request"):
        return here(request)
    referer = urlsplit(request.headers.get("hx-current-url") or request.headers.get("referer") or "")
    if referer.netloc and referer.netloc != request.headers.get("host"):
        return "/"
    return (referer.path or "/") + (f"?{referer.query}" if referer.query else "")


def _signed_in(request: Request[Any, Any, Any], viewer: User | None) -> User:
    if viewer is None:
        raise LoginRequired(coming_from(request))
    return viewer


def require_signed_in(request: Request[Any, Any, Any], viewer: User | None) -> User:
    return _signed_in(request, viewer)


def require_citizen(request: Request[Any, Any, Any], viewer: User | None) -> User:
    user = _signed_in(request, viewer)
    if user.role != Role.CITIZEN:
        raise PageForbidden("web.forbidden.citizens_only")
    return user


def require_staff_of(request: Request[Any, Any, Any], viewer: User | None, venue_id: int) -> User:
    """Staff or managers of the venue (admins anywhere), as the check-in and day views of the API."""
    user = _signed_in(request, viewer)
    if not user.can_work_at(venue_id, Role.STAFF, Role.MANAGER):
        raise PageForbidden("web.forbidden.staff_of_venue", venue_id=venue_id)
    return user


def require_manager_of(request: Request[Any, Any, Any], viewer: User | None, venue_id: int) -> User:
    user = _signed_in(request, viewer)
    if not user.can_work_at(venue_id, Role.MANAGER):
        raise PageForbidden("web.forbidden.manager_of_venue", venue_id=venue_id)
    return user


# Route dependencies: ``@get("/me/bookings", dependencies={"user": CITIZEN})`` then ``user: User`` in the
# handler. The venue ones read the path parameter ``venue_id``.
SIGNED_IN: Final = Provide(require_signed_in, sync_to_thread=False)
CITIZEN: Final = Provide(require_citizen, sync_to_thread=False)
STAFF_OF_VENUE: Final = Provide(require_staff_of, sync_to_thread=False)
MANAGER_OF_VENUE: Final = Provide(require_manager_of, sync_to_thread=False)
