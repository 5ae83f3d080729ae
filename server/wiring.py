"""How the domains reach one another where dependencies may not point: the hooks that the venue
catalogue and the programmes call, filled with the booking engine's answers. The app factory, the
command line and the tests take them from here; nothing else registers hooks."""

from __future__ import annotations

from booking.closures import on_closure_added, on_closure_removed
from booking.sessions import on_session_changed
from programs.services import SessionHooks
from venues.services import ClosureHooks

CLOSURE_HOOKS = ClosureHooks(added=(on_closure_added,), removed=(on_closure_removed,))
SESSION_HOOKS = SessionHooks(changed=(on_session_changed,))


def provide_closure_hooks() -> ClosureHooks:
    return CLOSURE_HOOKS


def provide_session_hooks() -> SessionHooks:
    return SESSION_HOOKS
