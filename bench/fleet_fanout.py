"""Benchmark: live fan-out to a fleet of technicians' phones and a few dashboards.

A real `syncd serve` (PostgreSQL, fresh database, `syncd migrate` + `syncd
seed`) is given a fleet through its API: T technicians invited by the admin
(`POST /users/invite`, `POST /auth/accept-invite`), 5 tasks each, pushed by
the admin and assigned with `assign` actions. Each technician's phone holds a
`/sync/ws` socket with the technician's own token and a caught-up cursor, and
the admin has A dashboards open; receiver processes (bench/fanout_receiver.py,
several so that the clients are not the bottleneck) hold the sockets.

Then the office commits R edits a second (one `POST /sync/push` each: a
technician's task gets a new title, technicians in turn) for S seconds. Each
commit must reach the technician holding the task and every dashboard;
latency is from the push's send to the frame at the socket (the machine's
monotonic clock, shared by the processes), reported for every delivery and
per kind of socket; a delivery still missing when the drain times out is
counted, not waited for. Server CPU per delivery is the server process's CPU
time (/proc/<pid>/stat) from the first commit to the drain, over the
deliveries made. The per-user socket caps and the tenant's fair-use limits are
lifted through the server's environment (bench/server_limits.py).

Run: `python bench/fleet_fanout.py [--technicians 1000] [--admins 10]
[--tasks-per-technician 5] [--rate 10] [--seconds 30] [--receivers 4]
[--profile DIR] [--json out.json]`. Creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from fleet import (
    Clock,
    Technician,
    assigned_tasks,
    invite_technicians,
    push_steadily,
)
from receivers import Receivers, latencies, percentile, summary
from server_limits import FLEET_LIMITS, lifted_limits
from syncd_server import (
    DEFAULT_DSN,
    ROOT,
    Serving,
    fresh_database,
    prepare,
    raise_open_files_limit,
    server_env,
    serving,
    sign_in,
)

# The fleet's limits (1,000 phones and 10 dashboards are one over the default of
# 1,000 live sockets a tenant may hold).
FANOUT_LIMITS = dict(FLEET_LIMITS)


def fleet_sockets(
    technicians: list[Technician],
    tasks: dict[str, list[str]],
    admin_token: str,
    admins: int,
    cursor: str,
) -> list[dict[str, Any]]:
    """One phone per technician (its tasks are its scope) and the admin's dashboards."""
    phones = [
        {
            "token": t.token,
            "client_id": f"phone-{n}",
            "cursor": cursor,
            "kind": "technician",
            "scope": tasks[t.user_id],
        }
        for n, t in enumerate(technicians)
    ]
    dashboards = [
        {"token": admin_token, "client_id": f"dashboard-{n}", "cursor": cursor, "kind": "admin"}
        for n in range(admins)
    ]
    return phones + dashboards


def edits(technicians: list[Technician], tasks: dict[str, list[str]], base_version: int) -> Any:
    """`make(i)`: the i-th commit, a new title for a task of technician i mod T."""
    clock = Clock("pusher")

    def make(index: int) -> dict[str, Any]:
        owner = technicians[index % len(technicians)].user_id
        mine = tasks[owner]
        return {
            "entity": "task",
            "id": mine[(index // len(technicians)) % len(mine)],
            "op": "upsert",
            "fields": {"title": f"Replace pump seal (edit {index})"},
            "hlc": clock(),
            "base_version": base_version,
        }

    return make


async def run(server: Serving, args: argparse.Namespace) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        admin = await sign_in(http, server.base)
        started = time.monotonic()
        technicians = await invite_technicians(http, server.base, admin, args.technicians)
        tasks, cursor, version = await assigned_tasks(
            http, server.base, admin, technicians, args.tasks_per_technician
        )
        setup_s = time.monotonic() - started
        print(f"fleet set up through the API in {setup_s:.1f} s", flush=True)
        sockets = fleet_sockets(technicians, tasks, admin, args.admins, cursor)
        make = edits(technicians, tasks, version)
        receivers = Receivers()
        try:
            url = f"{server.ws_base}/sync/ws"
            connected = await receivers.start(url, sockets, args.receivers)
            print(f"{connected['connected']} sockets caught up", flush=True)
            warm = await push_steadily(http, server.base, admin, make, 5, args.rate)
            cpu_before = server.cpu_seconds()
            count = round(args.rate * args.seconds)
            pushes = await push_steadily(
                http, server.base, admin, lambda i: make(i + 5), count, args.rate
            )
            drained = await receivers.drain(
                warm.commits() + pushes.commits(), timeout_s=args.drain_timeout
            )
            cpu_used = server.cpu_seconds() - cpu_before
        finally:
            await receivers.stop()
    result = figures(args, setup_s, connected, pushes, drained, cpu_used)
    if pushes.failed or drained["closed"]:  # what the server said about it
        result["server_log_tail"] = server.log_tail(30).splitlines()
    return result


def figures(
    args: argparse.Namespace,
    setup_s: float,
    connected: dict[str, float],
    pushes: Any,
    drained: dict[str, Any],
    cpu_used: float,
) -> dict[str, Any]:
    by_kind = {
        kind: latencies(pushes.sent, drained["arrivals"].get(kind, {}))
        for kind in ("technician", "admin")
    }
    every = sorted(by_kind["technician"] + by_kind["admin"])
    commits = len(pushes.sent)
    # Expected from the measured commits only (the warm-up's are drained, not counted).
    expected = commits * (1 + args.admins)
    push_ms = sorted(pushes.durations_ms)
    return {
        "technicians": args.technicians,
        "admins": args.admins,
        "tasks_per_technician": args.tasks_per_technician,
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "receiver_processes": args.receivers,
        "setup_s": setup_s,
        "connected": connected["connected"],
        "connect_s": connected["seconds"],
        "commits": commits,
        "failed_pushes": pushes.failed,
        "push_p50_ms": percentile(push_ms, 50),
        "push_p99_ms": percentile(push_ms, 99),
        "deliveries": len(every),
        "expected_deliveries": expected,
        "missing": expected - len(every),
        "closed_early": drained["closed"],
        "close_codes": drained["close_codes"],
        **summary(every),
        "technician": {"deliveries": len(by_kind["technician"]), **summary(by_kind["technician"])},
        "admin": {"deliveries": len(by_kind["admin"]), **summary(by_kind["admin"])},
        "server_cpu_s": cpu_used,
        "server_cpu_us_per_delivery": cpu_used / max(1, len(every)) * 1e6,
        "load": os.getloadavg()[0],
    }


def report(r: dict[str, Any]) -> None:
    print(
        f"\nsyncd fleet fan-out over /sync/ws: {r['technicians']} technicians "
        f"({r['tasks_per_technician']} tasks each) + {r['admins']} dashboards, "
        f"{r['rate_per_s']:g} commits/s for {r['seconds']:g} s; {platform.machine()} "
        f"Python {platform.python_version()}; load average {r['load']:.2f}"
    )
    columns = ("p50 ms", "p95 ms", "p99 ms", "max ms")
    print(f"{'sockets':12} {'delivered':>13} " + " ".join(f"{c:>8}" for c in columns))
    for name, part in (("all", r), ("technician", r["technician"]), ("admin", r["admin"])):
        print(
            f"{name:12} {part['deliveries']:>13,} {part['p50_ms']:8.1f} {part['p95_ms']:8.1f} "
            f"{part['p99_ms']:8.1f} {part['max_ms']:8.1f}"
        )
    print(
        f"expected {r['expected_deliveries']:,}, missing {r['missing']:,}; server CPU "
        f"{r['server_cpu_us_per_delivery']:,.0f} us per delivery; push p50 "
        f"{r['push_p50_ms']:.1f} ms; {len(r['failed_pushes'])} pushes failed"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--technicians", type=int, default=1000)
    parser.add_argument("--admins", type=int, default=10, help="dashboard sockets of the admin")
    parser.add_argument("--tasks-per-technician", type=int, default=5)
    parser.add_argument("--rate", type=float, default=10.0, help="commits per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to commit")
    parser.add_argument("--receivers", type=int, default=4, help="receiver processes")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, stats here")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "fleet_fanout.json"
    )
    args = parser.parse_args()
    sockets = args.technicians + args.admins
    limit = raise_open_files_limit()
    if 2 * sockets + 1000 > limit:  # both ends of every socket are on this machine
        parser.error(f"{sockets} sockets need more open files than the hard limit {limit}")
    profile = None
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        profile = args.profile / "fleet_fanout.pstats"
    with tempfile.TemporaryDirectory(prefix="syncd-fleet-") as scratch:
        async with fresh_database(args.dsn) as url:
            env = server_env(url)
            lifted, unknown = lifted_limits(env, FANOUT_LIMITS)
            env.update(lifted)
            await prepare(env, Path(scratch))
            async with serving(env, Path(scratch), profile) as server:
                try:
                    result = await run(server, args)
                except Exception:
                    print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
                    raise
    result["limits_lifted"] = lifted
    result["limits_unknown_to_server"] = unknown
    report(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "fleet_fanout",
                "format": 2,
                "python": platform.python_version(),
                "result": result,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
