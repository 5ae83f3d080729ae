"""Who is acting, and from where: the context every audit entry takes its actor and address from.

A request opens a context (``server.app``'s middleware, with the client address of ``core.clients``); authenticating the
request names the actor in it (``AccountService.authenticate``). Outside a request there is none, and
the entries say ``system`` (scheduled jobs, the command line). The context is a mutable holder behind a
``ContextVar``: Litestar may resolve dependencies in child tasks, which see the holder but whose own
``ContextVar.set`` would not reach the handler."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(slots=True)
class Acting:
    address: str | None = None
    actor_id: int | None = None
    actor_role: str | None = None


_current: ContextVar[Acting | None] = ContextVar("audit_acting", default=None)


def begin(address: str | None) -> Token[Acting | None]:
    return _current.set(Acting(address=address))


def end(token: Token[Acting | None]) -> None:
    _current.reset(token)


def set_actor(actor_id: int, role: str) -> None:
    """The request is made by this account (a no-op outside a request)."""
    acting = _current.get()
    if acting is not None:
        acting.actor_id, acting.actor_role = actor_id, role


def current() -> Acting | None:
    return _current.get()


@contextmanager
def as_system() -> Iterator[None]:
    """Work the system does on its own inside a request's task, such as offering a freed place to the
    next in line after the commit: recorded as ``system``, with the request's address kept."""
    acting = _current.get()
    token = _current.set(Acting(address=acting.address if acting else None))
    try:
        yield
    finally:
        _current.reset(token)
