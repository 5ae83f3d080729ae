"""The yardstick of the benches: a Litestar hello-world, served the way ``seoulrun serve`` serves the app.

``python bench/hello.py --host 127.0.0.1 --port P --workers W`` runs granian (uvicorn with
``SEOULRUN_SERVER=uvicorn``), as ``seoulrun serve`` does, with the options of
``seoulrun serve`` (server/cli.py): an app factory, ``proxy_headers``, a 65 s keep-alive, log level
``info`` (so the access log is written for every request, as it is for the app). ``GET /`` answers
``{"hello": "world"}``: routing, a handler and msgspec's JSON, and nothing of ours. Every endpoint's
req/s is reported as a ratio to this one's, measured in the same run with the same load generator.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn
from litestar import Litestar, get


@get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


def app_factory() -> Litestar:
    app = Litestar(route_handlers=[hello])
    if os.environ.get("SEOULRUN_SERVER", "granian") == "granian":  # as server/app.py: one line per started worker
        app.on_startup.append(lambda: print("Application startup complete.", flush=True))
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    # Keep in step with server/cli.py's serve: the same server, the same options, the same workers.
    if os.environ.get("SEOULRUN_SERVER", "granian") == "granian":
        from granian import Granian
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings

        here = str(Path(__file__).resolve().parent)
        os.environ["PYTHONPATH"] = os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])
        sys.path.insert(0, here)
        Granian(
            "hello:app_factory",
            factory=True,
            address=args.host,
            port=args.port,
            workers=args.workers,
            interface=Interfaces.ASGI,
            http=HTTPModes.http1,
            http1_settings=HTTP1Settings(keep_alive=True),
            log_access=True,
        ).serve()
        return 0
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
