"""Dependencies that turn a request's bearer token into an account, and role guards."""

from __future__ import annotations

from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User
from accounts.services import AccountService, normalize_email
from core.errors import Forbidden, Unauthenticated
from core.ratelimit import limit_account
from core.settings import SETTINGS_STATE, Settings

BEARER_SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}]


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    return bearer_of(request.headers.get("authorization", ""))


def bearer_of(header: str) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; ``None`` for any other."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# The settings are read from the app's state, not asked for as a dependency: then the session is the
# only dependency these wait for, and Litestar resolves it directly; a batch of two (the session and the
# settings) it resolves in a task group of its own, for every request that names a user.


async def provide_current_user(request: Request[Any, Any, Any], db_session: AsyncSession) -> User:
    return await _current_user(request, db_session, lock=False)


async def provide_locked_user(request: Request[Any, Any, Any], db_session: AsyncSession) -> User:
    """``provide_current_user`` with the account's row locked for the request's transaction, by the same
    statement: for a route that decides on the account's behalf and would lock it next (a booking: the
    citizen's own bookings, quota and keys are decided one request at a time)."""
    return await _current_user(request, db_session, lock=True)


async def _current_user(request: Request[Any, Any, Any], db_session: AsyncSession, *, lock: bool) -> User:
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("auth.bearer_required")
    settings: Settings = request.app.state[SETTINGS_STATE]
    user = await AccountService(db_session, settings).authenticate(token, lock=lock)
    await limit_account(request, account_key(user.id))  # on a rate-limited route, the account counts too
    return user


def account_key(user_id: int) -> str:
    """The key an account is counted by in the abuse limits (``core.ratelimit``)."""
    return f"user:{user_id}"


def login_key(email: str) -> str:
    """The key logins to one email are counted by, whether an account has it or not."""
    return f"email:{normalize_email(email)}"


def require_role(user: User, *roles: Role) -> None:
    if user.role != Role.ADMIN and user.role not in roles:
        raise Forbidden("auth.role_not_allowed")


def require_venue_role(user: User, venue_id: int, *roles: Role) -> None:
    """Admins anywhere; staff and managers only at the venues they are assigned to."""
    if not user.can_work_at(venue_id, *roles):
        raise Forbidden("auth.venue_not_allowed", venue_id=venue_id)
