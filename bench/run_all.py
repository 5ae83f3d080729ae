"""Run the benchmarks (``make bench``): the server under load from wrk, every figure a ratio to a yardstick.

For each database (SQLite, PostgreSQL): a fresh database, migrated and loaded with the demo catalogue and
the bench's own rows; ``seoulrun serve --workers W`` and the hello-world yardstick (bench/hello.py, the
same server and workers) side by side; then the groups, each request driven by wrk:

- reads: /health, a venue, the venue list, programmes, a month of days and of availability, a week of a
  space's availability;
- feeds: a venue's calendar feed, cached (gzip) and 304;
- staff: the staff day view, "my bookings";
- scan: QR check-in at the door;
- rush: pgbench's hot-row rate (PostgreSQL), 1,000 citizens for 30 seats, the sold-out answer, the
  confirmed path (a slot per citizen), the workers' memory;
- scale (``--scale N``): the cost of availability, the day view, a feed and "my bookings" at scale 1 and N;
- servers (``--servers N``, PostgreSQL): N server processes on one database against one.

The hello-world is measured first and again after the main groups; ratios are to the mean of the two.
Results: a table here, ``bench/results/<time>.json`` and ``bench/results/<time>.md`` (the Markdown of
bench/README.md). Exits 1 on a correctness problem (5xx, socket errors, unexpected answers, the
database out of step) or a failed server, 2 if PostgreSQL alone was asked for and does not answer.
A missed target is reported, never a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import _benches
import _data
import _wrk
from _benches import GROUPS, MEMORY_TARGET_MB, Row, Run
from _harness import (
    DatabaseUnavailable,
    Logs,
    ServerFailed,
    load_average,
    machine,
    prepare_schema,
    serve_app,
    serve_hello,
    temp_database,
)

ALL_GROUPS = (*GROUPS, "scale", "servers")
RESULTS = _benches.RESULTS


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="3 s per measurement and 1 s warm-ups (default 8 s, 2 s)")
    parser.add_argument(
        "--scale", type=int, default=10, help="multiply the catalogue by N for the scale group (1: skip)"
    )
    parser.add_argument("--servers", type=int, default=2, help="N server processes on one PostgreSQL (1: skip)")
    parser.add_argument("--only", default="", help=f"comma-separated groups of {', '.join(ALL_GROUPS)}")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of the app and of the hello-world")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c (and pgbench -c)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measurement (wrk -d)")
    parser.add_argument("--profile", default="", help="comma-separated measurements to sample with py-spy (e.g. venue)")
    parser.add_argument("--no-write", action="store_true", help="print only; no bench/results files")
    parser.add_argument(
        "--server",
        choices=("uvicorn", "granian"),
        default=os.environ.get("SEOULRUN_SERVER", "granian"),
        help="the ASGI server of the app and of the hello-world (seoulrun serve --server)",
    )
    args = parser.parse_args(argv)
    os.environ["SEOULRUN_SERVER"] = args.server  # seoulrun serve and bench/hello.py read it
    groups = [g.strip() for g in args.only.split(",") if g.strip()] or list(ALL_GROUPS)
    unknown = [g for g in groups if g not in ALL_GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; one of {', '.join(ALL_GROUPS)}")
    if args.scale < 1 or args.servers < 1 or args.workers < 1:
        parser.error("--scale, --servers and --workers are at least 1")
    top = _data.max_scale(_citizens(args.scale))
    if args.scale > top:
        parser.error(f"--scale is at most {top}")
    args.groups = groups
    args.duration = args.duration or (3.0 if args.quick else 8.0)
    args.warm = 1.0 if args.quick else 2.0
    return args


def _citizens(scale: int) -> int:
    return max(_benches.CITIZENS, (_data.REGULAR_PER_SLOT + _data.HOT_PER_SCALE) * scale)


def run_database(kind: str, args: argparse.Namespace) -> tuple[list[Row], list[str], dict[str, list[float]]]:
    logs = Logs()
    load = _wrk.Load(threads=args.threads, connections=args.connections, duration_s=args.duration)
    try:
        with temp_database(kind) as database:
            print(f"\n=== {database.label}: {database.name}", flush=True)
            started = time.perf_counter()
            prepare_schema(database, logs)
            with _benches.prepared(database, logs, _citizens(args.scale)) as (db, venues, people, busy):
                print(f"  migrated, demo and bench rows in {time.perf_counter() - started:.0f} s", flush=True)
                hot = booking = None
                if database.kind == "postgres" and "rush" in args.groups:
                    print(f"\n[{database.label}] pgbench (before the servers start)", flush=True)
                    try:
                        hot = _benches.hot_row(database, db, venues, load)
                        booking = _benches.booking_tx(database, db, venues, load)
                    except _wrk.ToolMissing as exc:
                        print(f"  skipped: {exc}", flush=True)
                with ExitStack() as stack:
                    app = stack.enter_context(serve_app(database, logs, args.workers))
                    hello = stack.enter_context(serve_hello(logs, args.workers))
                    run = Run(
                        database, logs, load, args.warm, args.workers, db, venues, people, busy, app, hello, stack
                    )
                    run.profile = frozenset(p.strip() for p in args.profile.split(",") if p.strip())
                    if hot is not None:
                        _benches.add_pgbench(run, hot)
                    if booking is not None:
                        _benches.add_booking_tx(run, booking)
                    try:
                        _groups(run, args)
                    except BaseException:
                        logs.keep = True
                        raise
                    if run.problems:
                        logs.keep = True
                    return run.rows, run.problems, run.memory
    except (ServerFailed, _wrk.ToolMissing):
        logs.keep = True
        raise
    finally:
        logs.close()


def _groups(run: Run, args: argparse.Namespace) -> None:
    # The hello-world before the first group, between groups and after the last: each row's ratio is to
    # the mean of the two that bracket its group, so that a change of load on a shared machine during the
    # run moves the app and its yardstick alike.
    print(f"\n[{run.label}] yardstick", flush=True)
    _benches.measure_hello(run)
    for name in GROUPS:
        if name in args.groups:
            GROUPS[name](run)
            print(f"\n[{run.label}] yardstick", flush=True)
            _benches.measure_hello(run)
    _benches.finish_ratios(run)
    if "scale" in args.groups and args.scale > 1:
        _benches.scale(run, args.scale)
    run.memory["at the end"] = run.app.worker_rss_mb()
    run.memory["hello-world, at the end"] = run.hello.worker_rss_mb()
    if "servers" in args.groups and args.servers > 1:
        if run.database.kind == "postgres":
            _benches.servers(run, args.servers)
        else:
            print(f"\n[{run.label}] servers: PostgreSQL only", flush=True)


# --- output ------------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def main_table(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    headers = ["database", "what", "req/s", "p50 ms", "p99 ms", "vs", "ratio", "target", "verdict", "answers"]
    body = []
    for row in rows:
        if row.group in {"scale", "servers"}:
            continue
        r = row.result
        target = ""
        if row.target is not None:
            target = f">= {row.target:g}" + (f", p99 < {row.p99_target:g} ms" if row.p99_target else "")
        if row.pgbench is not None:
            answers = f"{row.pgbench.transactions} tx, {row.pgbench.failed} failed"
        else:
            answers = r.describe() if r else ""
        body.append(
            [
                row.db,
                row.label,
                _rps(row.rps),
                _fmt(r.p50_ms, 1) if r else _fmt(row.pgbench.latency_ms if row.pgbench else None, 1),
                _fmt(r.p99_ms, 1) if r else "",
                row.yardstick,
                _fmt(row.ratio, 3) if row.ratio is not None else "",
                target,
                _verdict(row),
                answers,
            ]
        )
    return headers, body


def _verdict(row: Row) -> str:
    """The verdict on the target, and the row's note beside it when it has both."""
    return "; ".join(part for part in (row.verdict, row.note) if part)


def summary_table(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    """One line per measurement, the databases side by side: the table of bench/README.md."""
    main = [r for r in rows if r.group not in {"scale", "servers"}]
    dbs = list(dict.fromkeys(r.db for r in main))
    headers = ["what", "target"]
    for db in dbs:
        headers += [f"{db} req/s", "p99 ms", "ratio", ""]
    names = list(dict.fromkeys(r.name for r in main))
    body = []
    for name in names:
        of = {db: [r for r in main if r.name == name and r.db == db] for db in dbs}
        first = next(r for r in main if r.name == name)
        target = ""
        if first.target is not None:
            target = f"≥ {first.target:g} × {first.yardstick}" + (
                f", p99 < {first.p99_target:g} ms" if first.p99_target else ""
            )
        label = first.label
        if name == "hello":
            label = f"hello-world `GET /` (mean of {max(len(v) for v in of.values())} runs)"
        line = [label, target]
        for db in dbs:
            found = of[db]
            if not found:
                line += ["", "", "", ""]
                continue
            rps = sum(r.rps for r in found) / len(found)
            p99s = [r.result.p99_ms if r.result else 0.0 for r in found]
            row = found[0]
            line += [
                _rps(rps),
                _fmt(max(p99s), 0) if row.result else "",
                _fmt(row.ratio) if row.ratio is not None and name != "hello" else "",
                _verdict(row),
            ]
        body.append(line)
    return headers, body


def scale_table(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    headers = ["database", "what", "req/s @1", "req/s @N", "p99 ms @1", "p99 ms @N", "cost ×", "raw ×", "B/answer @1"]
    headers += ["B/answer @N", "answer ×", "verdict"]
    body = []
    by = {(r.db, r.name): r for r in rows if r.group == "scale"}
    for row in rows:
        if row.group != "scale" or row.name == "hello" or row.name.endswith("@1"):
            continue
        base = by.get((row.db, row.name.split("@")[0] + "@1"))
        if base is None or base.result is None or row.result is None:
            continue
        n = row.extra.get("scale", "N")
        body.append(
            [
                row.db,
                row.label.rsplit(" @", 1)[0] + f" (×{n})",
                _rps(base.rps),
                _rps(row.rps),
                _fmt(base.result.p99_ms, 1),
                _fmt(row.result.p99_ms, 1),
                _fmt(row.extra.get("cost_growth")),
                _fmt(row.extra.get("raw_cost_growth")),
                f"{base.result.bytes_per_answer:,.0f}",
                f"{row.result.bytes_per_answer:,.0f}",
                _fmt(row.extra.get("size_growth")),
                row.verdict,
            ]
        )
    return headers, body


def servers_table(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    headers = ["database", "what", "1 server × N workers", "1 server × 1 worker", "N servers × 1 worker"]
    headers += ["N servers / 1 × N", "N servers / 1 × 1"]
    by = {(r.db, r.name): r for r in rows if r.group == "servers"}
    body = []
    for row in rows:
        if row.group != "servers" or not row.name.endswith("/many"):
            continue
        what = row.name.split("/")[0]
        one, single = by.get((row.db, f"{what}/one")), by.get((row.db, f"{what}/single"))
        n = row.extra.get("servers", "N")
        keys = [k for k in row.extra if k.startswith("vs_one_server_") and k != "vs_one_server_1_worker"]
        body.append(
            [
                row.db,
                row.label.split(" [")[0] + f" (N = {n})",
                _rps(one.rps) if one else "",
                _rps(single.rps) if single else "",
                _rps(row.rps),
                _fmt(row.extra.get(keys[0])) if keys else "",
                _fmt(row.extra.get("vs_one_server_1_worker")),
            ]
        )
    return headers, body


def memory_table(memory: dict[str, dict[str, list[float]]]) -> tuple[list[str], list[list[str]]]:
    headers = ["database", "when", "RSS per worker (MB)", "target", "verdict"]
    body = []
    for db, moments in memory.items():
        for when, values in moments.items():
            hello = when.startswith("hello")
            ok = all(v < MEMORY_TARGET_MB for v in values)
            body.append(
                [
                    db,
                    when,
                    ", ".join(f"{v:.0f}" for v in values),
                    "" if hello else f"< {MEMORY_TARGET_MB:g}",
                    "" if hello else ("met" if ok else "NOT met"),
                ]
            )
    return headers, body


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    cells = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i in (0, 1, len(r) - 1) else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    command = "bench/run_all.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    started = datetime.now(UTC)
    info = machine()
    cores, memory_gib = info.get("nproc"), info.get("memory_gib")
    print(
        f"{command.strip()}\nmachine: {cores} cores ({info.get('cpu', '?')}), {memory_gib} GiB, "
        f"load {load_average():.2f}; wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, "
        f"{args.workers} workers of {args.server}",
        flush=True,
    )
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rows: list[Row] = []
    problems: list[str] = []
    memory: dict[str, dict[str, list[float]]] = {}
    skipped = []
    for kind in kinds:
        try:
            db_rows, db_problems, db_memory = run_database(kind, args)
        except DatabaseUnavailable as exc:
            print(f"\n{kind}: skipped: {exc}", flush=True)
            skipped.append(kind)
            continue
        except (ServerFailed, _wrk.ToolMissing) as exc:
            print(f"\n{kind}: FAILED: {exc}", file=sys.stderr, flush=True)
            problems.append(f"{kind}: {exc}")
            continue
        rows += db_rows
        problems += db_problems
        if db_rows:
            memory[db_rows[0].db] = db_memory
    sections = [
        ("Summary", summary_table(rows)),
        ("Figures", main_table(rows)),
        ("Scale", scale_table(rows)),
        ("Servers", servers_table(rows)),
        ("Memory", memory_table(memory)),
    ]
    for title, (headers, body) in sections:
        if body:
            print(f"\n{title}")
            print_table(headers, body)
    finished = datetime.now(UTC)
    print(f"\n{len(problems)} problems" + "".join(f"\n  {p}" for p in problems))
    if not args.no_write and rows:
        RESULTS.mkdir(exist_ok=True)
        stem = started.strftime("%Y%m%dT%H%M%SZ")
        data: dict[str, Any] = {
            "command": command.strip(),
            "started": started.isoformat(),
            "finished": finished.isoformat(),
            "machine": info,
            "load_average_at_end": load_average(),
            "settings": {
                "threads": args.threads,
                "connections": args.connections,
                "duration_s": args.duration,
                "warm_up_s": args.warm,
                "workers": args.workers,
                "server": args.server,
                "scale": args.scale,
                "servers": args.servers,
                "groups": args.groups,
            },
            "rows": [row.as_json() for row in rows],
            "memory_mb": memory,
            "problems": problems,
        }
        (RESULTS / f"{stem}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        md = [f"{started:%Y-%m-%d %H:%M} UTC, `{command.strip()}`, {cores} cores, {memory_gib} GiB"]
        md += [f"\n#### {title}\n\n{markdown(*section)}" for title, section in sections if section[1]]
        (RESULTS / f"{stem}.md").write_text("\n".join(md) + "\n")
        print(f"written: bench/results/{stem}.json, bench/results/{stem}.md")
    if problems:
        return 1
    return 2 if skipped and args.db != "both" else 0


if __name__ == "__main__":
    sys.exit(main())
