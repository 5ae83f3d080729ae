"""The yardstick of the benches: a Litestar hello-world, served the way ``seoulrun serve`` serves the app.

``python bench/hello.py --host 127.0.0.1 --port P --workers W`` runs uvicorn with the options of
``seoulrun serve`` (server/cli.py): an app factory, ``proxy_headers``, a 65 s keep-alive, log level
``info`` (so the access log is written for every request, as it is for the app). ``GET /`` answers
``{"hello": "world"}``: routing, a handler and msgspec's JSON, and nothing of ours. Every endpoint's
req/s is reported as a ratio to this one's, measured in the same run with the same load generator.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from litestar import Litestar, get


@get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


def app_factory() -> Litestar:
    return Litestar(route_handlers=[hello])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    # Keep in step with server/cli.py's serve: the same server, the same options, the same workers.
    uvicorn.run(
        "hello:app_factory",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        timeout_keep_alive=65,
        log_level="info",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
