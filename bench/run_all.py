"""Run every benchmark, print one table, write one JSON, update docs/benchmarks.md.

Each benchmark runs as its own subprocess (a clean process each), one after
another: push of creations and of edits beside their floor and pull, at
1,000, 10,000 and 100,000 changes; fan-out to 1,000 technicians' phones and
10 dashboards; a technician's pull beside an admin's in a tenant of 100,000
tasks; the Yjs relay against the node server; fan-out to 1,000 sockets of
one admin (context); and the PDF job sheets. Their JSON is collected into
`bench/results/all.json`, their figures printed as one table beside their
baselines, the load average at which each was measured, and the targets, and
the generated block of docs/benchmarks.md (between `<!-- bench:all -->` and
`<!-- /bench:all -->`) rewritten with the table and the machine it ran on.

Run: `python bench/run_all.py [--quick] [--only NAME[,NAME]] [--no-docs]
[--json PATH] [--dsn DSN]`. NAME is a script: sync_push_pull, fleet_fanout,
scoped_pull, yjs_relay, live_fanout, reports. `--quick` is a smoke run of a
minute or two (every script at a small size: this is what tests or CI may
run; its figures mean nothing). With `--only`, the other scripts' runs are
carried over from the previous JSON (and the table says from which date).
Exit code 2 when PostgreSQL or node is missing, 1 when a benchmark failed
(the docs are then left as they were).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from bench_report import (
    Row,
    carry_over,
    machine_description,
    render_text,
    rewrite_block,
    summary_block,
)
from bench_rows import readable, rows_of
from syncd_server import DEFAULT_DSN, ROOT

BENCH = Path(__file__).resolve().parent
DOCS = ROOT / "docs" / "benchmarks.md"
NAMES = ("sync_push_pull", "fleet_fanout", "scoped_pull", "yjs_relay", "live_fanout", "reports")
RUN_TIMEOUT_S = 3600  # one benchmark run; seeding and pulling 100,000 tasks take minutes


@dataclass(frozen=True)
class Run:
    """One subprocess: a benchmark script and its arguments."""

    name: str
    label: str
    args: tuple[str, ...] = ()


def plan(quick: bool, only: set[str]) -> list[Run]:
    changes = [1_000] if quick else [1_000, 10_000, 100_000]
    fleet = ("--technicians", "20", "--seconds", "3") if quick else ()
    tasks = ("--tasks", "2000", "--per-technician", "100") if quick else ()
    yjs = (
        ("--documents", "2", "--receivers", "4", "--steady", "50", "--flat", "200") if quick else ()
    )
    runs = [
        *(
            Run("sync_push_pull", f"push/pull {n:,} changes", ("--changes", str(n)))
            for n in changes
        ),
        Run("fleet_fanout", "fan-out to technicians and dashboards", fleet),
        Run("scoped_pull", "technician's and admin's pull", tasks),
        Run("yjs_relay", "Yjs relay", yjs),
        Run(
            "live_fanout", "fan-out to one admin's sockets", ("--sizes", "100" if quick else "1000")
        ),
        Run("reports", "job sheets", ("--repeat", "1" if quick else "9")),
    ]
    return [run for run in runs if run.name in only]


class Unavailable(Exception):
    """PostgreSQL or node is missing: nothing can be measured."""


def postgresql_version(dsn: str) -> str:
    async def ask() -> str:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            version: str = await conn.fetchval("SHOW server_version")
            return version
        finally:
            await conn.close()

    try:
        return asyncio.run(ask())
    except Exception as error:  # whatever the reason, nothing can be measured
        reason = " ".join(str(error).split()) or type(error).__name__
        raise Unavailable(f"PostgreSQL is not reachable at {dsn}: {reason}") from error


def node_version(required: bool) -> str | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if required:
            raise Unavailable("node and npm must be on PATH (the Yjs relay's baseline needs them)")
        return None
    answer = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return answer.stdout.strip() or None


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Interrupt a benchmark's process group (it drops its databases), then kill it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def execute(run: Run, dsn: str, scratch: Path) -> dict[str, Any]:
    """Run one benchmark in its own process; answers what happened and its JSON."""
    out = scratch / f"{run.name}-{len(list(scratch.iterdir()))}.json"
    script = (BENCH / f"{run.name}.py").relative_to(ROOT).as_posix()
    argv = [sys.executable, script, *run.args, "--dsn", dsn]
    print(f"\n=== {run.label}: python {shlex.join(argv[1:])}", flush=True)
    started = time.monotonic()
    # Its own process group, so that a timeout or Ctrl-C also ends the servers
    # and receivers it started.
    process = subprocess.Popen([*argv, "--json", str(out)], cwd=ROOT, start_new_session=True)  # noqa: S603
    try:
        code = process.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"{run.label}: no answer after {RUN_TIMEOUT_S} s, stopped", flush=True)
        stop_group(process)
        code = -1
    except KeyboardInterrupt:
        stop_group(process)
        raise
    result = json.loads(out.read_text()) if code == 0 and out.is_file() else None
    return {
        "benchmark": run.name,
        "label": run.label,
        "argv": argv[1:],
        "seconds": time.monotonic() - started,
        "returncode": code,
        "ok": result is not None,
        "result": result,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(NAMES)}")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "all.json")
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else set(NAMES)
    if unknown := only - set(NAMES):
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}; of: {', '.join(NAMES)}")
    runs = plan(args.quick, only)
    try:
        machine = machine_description(
            postgresql_version(args.dsn), node_version(required="yjs_relay" in only)
        )
    except Unavailable as error:
        print(f"run_all: {error}", file=sys.stderr)
        return 2
    command = shlex.join(["python", "bench/run_all.py", *sys.argv[1:]])
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="syncd-bench-all-") as scratch:
        done = [execute(run, args.dsn, Path(scratch)) for run in runs]
    load_end = os.getloadavg()
    previous = json.loads(args.json.read_text()) if args.json.is_file() else None
    carried, carried_note = (
        carry_over(previous, only, NAMES, readable) if only != set(NAMES) else ([], None)
    )
    shown = sorted([*done, *carried], key=lambda run: NAMES.index(run["benchmark"]))
    rows: list[Row] = [row for run in shown if run["ok"] for row in rows_of(run["result"])]
    failed = [run for run in done if not run["ok"]]
    print(f"\nsyncd benchmarks, {started:%Y-%m-%d %H:%M} UTC: {command}")
    print(f"load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end\n")
    if carried_note:
        print(carried_note)
    print(render_text(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "benchmark": "all",
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": {"start": load_start, "end": load_end},
        "machine": machine,
        "rows": [row.to_json() for row in rows],
        "failed": [run["label"] for run in failed],
        "runs": shown,
        "carried_over": carried_note,
    }
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    for run in failed:
        print(
            f"FAILED: {run['label']} (exit {run['returncode']}): python {shlex.join(run['argv'])}"
        )
    if failed:
        print("docs/benchmarks.md left as it was: a benchmark failed")
        return 1
    if not args.no_docs:
        block = summary_block(
            machine,
            f"{started:%Y-%m-%d}",
            (load_start[0], load_end[0]),
            command,
            rows,
            carried_note,
        )
        DOCS.write_text(rewrite_block(DOCS.read_text(), block))
        print(f"rewrote the generated block of {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
