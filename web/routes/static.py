"""``/static/...``: our own files and the allow-listed npm files (``web.assets``), cached for a year."""

from __future__ import annotations

from litestar import Response, get
from litestar.exceptions import NotFoundException

from web.assets import IMMUTABLE, REVALIDATE, Assets


@get("/static/{path:path}", name="page.static", sync_to_thread=False, include_in_schema=False)
def static_file(path: str, assets: Assets) -> Response[bytes]:
    found = assets.find(path)
    if found is None:
        raise NotFoundException()
    asset, current = found
    return Response(
        content=assets.read(asset),
        media_type=asset.media_type,
        headers={"Cache-Control": IMMUTABLE if current else REVALIDATE},
    )
