"""Venue catalogue: the public read endpoints, each as a ratio to ``/health`` on the same server.

For each database (SQLite, PostgreSQL) it starts the real server (``seoulrun serve``, 2 workers) on a
fresh database holding the demo catalogue, warms every endpoint up, then measures one after the other:

- ``GET /health``: the baseline, routing and one ``SELECT 1``;
- ``GET /api/venues?kind=practice_site&limit=50``: a page of the catalogue, with its total;
- ``GET /api/venues/{id}``: one venue with its spaces and opening hours, cycling over the listed ids;
- ``GET /api/venues/{id}/days?from=2027-09-01&to=2027-09-30``: a month of open and closed days.

It prints requests/s, p50 and p99 latency, and each endpoint's requests/s divided by that of ``/health``.
Exits 1 if any request got a 5xx or no answer (or a server failed), 0 otherwise; an unreachable
PostgreSQL is reported as skipped (exit 2 if PostgreSQL alone was asked for).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import httpx
from _harness import (
    NO_ANSWER,
    DatabaseUnavailable,
    LoadResult,
    MakeRequest,
    ServerFailed,
    bench_arguments,
    databases,
    load,
    print_table,
    start_server,
    temp_database,
)

WORKERS = 2
WARMUP_REQUESTS = 200
LIST_PARAMS: dict[str, str | int] = {"kind": "practice_site", "limit": 50}
MONTH = {"from": "2027-09-01", "to": "2027-09-30"}


def endpoints(ids: Sequence[int]) -> list[tuple[str, MakeRequest]]:
    """The measured endpoints, ``/health`` first: the others are compared with it."""
    return [
        ("GET /health", lambda i: ("GET", "/health", {})),
        (
            "GET /api/venues?kind=practice_site&limit=50",
            lambda i: ("GET", "/api/venues", {"params": LIST_PARAMS}),
        ),
        ("GET /api/venues/{id}", lambda i: ("GET", f"/api/venues/{ids[i % len(ids)]}", {})),
        (
            "GET /api/venues/{id}/days (30 days)",
            lambda i: ("GET", f"/api/venues/{ids[i % len(ids)]}/days", {"params": MONTH}),
        ),
    ]


def venue_ids(base_url: str) -> list[int]:
    response = httpx.get(f"{base_url}/api/venues", params=LIST_PARAMS, timeout=30.0, trust_env=False)
    response.raise_for_status()
    ids = [int(item["id"]) for item in response.json()["items"]]
    if not ids:
        raise ServerFailed("the demo catalogue has no practice sites")
    return ids


async def measure(base_url: str, requests: int, concurrency: int) -> list[tuple[str, LoadResult]]:
    results: list[tuple[str, LoadResult]] = []
    for label, make_request in endpoints(venue_ids(base_url)):
        warmup = await load(base_url, make_request, min(WARMUP_REQUESTS, requests), concurrency)
        result = await load(base_url, make_request, requests, concurrency)
        results.append((label, result))
        if warmup.count_of(lambda s: s >= 500 or s == NO_ANSWER):
            print(f"  warm-up of {label}: {dict(warmup.statuses)}", file=sys.stderr)
            results.append((f"{label} (warm-up)", warmup))
    return results


def report(kind: str, results: list[tuple[str, LoadResult]]) -> bool:
    """Print the table of one database; False when any request failed on the server side."""
    baseline = results[0][1].rps
    rows = [
        (
            label,
            r.count,
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.rps / baseline:.2f}" if baseline else "-",
            " ".join(f"{s or 'none'}×{n}" for s, n in sorted(r.statuses.items())),
        )
        for label, r in results
    ]
    print(f"\n{kind} ({WORKERS} workers)")
    print_table(["endpoint", "requests", "req/s", "p50 ms", "p99 ms", "vs /health", "statuses"], rows)
    failed = sum(r.count_of(lambda s: s >= 500 or s == NO_ANSWER) for _, r in results)
    odd = sum(r.count_of(lambda s: NO_ANSWER < s < 500 and s != 200) for _, r in results)
    if odd:
        print(f"warning: {odd} answers other than 200 and 5xx on {kind}", file=sys.stderr)
    if failed:
        print(f"FAILED: {failed} requests got a 5xx or no answer on {kind}", file=sys.stderr)
    return not failed


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_arguments(__doc__.splitlines()[0] if __doc__ else "").parse_args(argv)
    ok, skipped = True, []
    for kind in databases(args.db):
        try:
            with temp_database(kind) as url, start_server(url, workers=WORKERS) as base_url:
                results = asyncio.run(measure(base_url, args.requests, args.concurrency))
            ok = report(kind, results) and ok
        except DatabaseUnavailable as exc:
            print(f"\n{kind}: skipped: {exc}")
            skipped.append(kind)
        except (ServerFailed, httpx.HTTPError) as exc:
            print(f"\n{kind}: FAILED: {exc}", file=sys.stderr)
            ok = False
    if not ok:
        return 1
    return 2 if skipped and args.db != "both" else 0


if __name__ == "__main__":
    sys.exit(main())
