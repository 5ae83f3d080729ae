"""Security headers on every answer: JSON, problem details, unknown routes, the docs pages.

A pure ASGI wrapper around ``send``: the header lines are encoded once when the app is built, and a
response only gets them appended to the list it already carries. A header the handler set itself (the
calendar feed's ``Referrer-Policy: no-referrer``, a page's own ``Content-Security-Policy``) is kept.
"""

from __future__ import annotations

from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# The API answers JSON, images and calendars, never a page that runs code: nothing may load, frame it
# or be submitted from it.
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The interactive docs (/schema: Scalar, /schema/swagger) are HTML that Litestar serves with its script
# and styles from cdn.jsdelivr.net; Swagger starts from an inline script and both style inline. They read
# the OpenAPI document from this origin (connect-src), Scalar its fonts from its own host.
DOCS_CSP: Final = (
    "default-src 'none'; "
    "script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src 'self' https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
    "img-src 'self' data: https://cdn.jsdelivr.net; "
    "font-src 'self' data: https://cdn.jsdelivr.net https://fonts.scalar.com https://fonts.gstatic.com; "
    "connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PREFIX: Final = "/schema"
DOCS_PAGES: Final = DOCS_PREFIX + "/"
DOCUMENT: Final = DOCS_PREFIX + "/openapi."  # openapi.json and .yaml are data: the strict policy

COMMON: Final[tuple[tuple[str, str], ...]] = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    # The door scanner page reads QR codes with the camera of this origin; nothing else is needed.
    (
        "permissions-policy",
        "camera=(self), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), "
        "magnetometer=(), gyroscope=(), accelerometer=(), interest-cohort=()",
    ),
)
HSTS: Final = ("strict-transport-security", "max-age=31536000; includeSubDomains")


def _encode(pairs: tuple[tuple[str, str], ...]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


def security_headers(app: ASGIApp, *, https: bool) -> ASGIApp:
    """Wrap ``app`` so that every HTTP answer carries the headers; HSTS only when served over https
    (``SEOULRUN_BASE_URL``), since a browser that saw it would refuse plain http to this host for a year."""
    common = (*COMMON, HSTS) if https else COMMON
    api = _encode((*common, ("content-security-policy", API_CSP)))
    docs = _encode((*common, ("content-security-policy", DOCS_CSP)))
    names = frozenset(name for name, _ in api)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        path: str = scope["path"]
        ours = docs if path == DOCS_PREFIX or (path.startswith(DOCS_PAGES) and not path.startswith(DOCUMENT)) else api

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers")
                if not isinstance(headers, list):
                    headers = message["headers"] = list(headers or ())
                # ASGI header names are lower case (Litestar writes them so).
                for name, _ in headers:
                    if name in names:
                        taken = {name for name, _ in headers}
                        headers.extend(pair for pair in ours if pair[0] not in taken)
                        break
                else:
                    headers.extend(ours)
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
