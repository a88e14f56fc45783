"""Benchmark: live fan-out of pushed changes to N WebSockets of one tenant.

A real `syncd serve` (PostgreSQL, fresh database, `syncd migrate` + `syncd
seed`) holds N sockets on `/sync/ws`, opened by receiver processes (asyncio +
aiohttp, bench/fanout_receiver.py) as the tenant's admin, each with its own
client id and the current cursor: one user's dashboards, the cheapest case
(every socket follows the shared tenant feed). bench/fleet_fanout.py measures
the fleet (technicians' phones). A separate client pushes one task creation
at a time through `POST /sync/push` at a steady rate. For every change and
every socket the latency is the time from the push's send to the frame
carrying that change at the socket, on the machine's monotonic clock (shared
by the processes).
Memory per idle connection is the server's VmRSS with N idle sockets minus
with none, over N. Each size gets a fresh server process.

Run: `python bench/live_fanout.py [--sizes 100,1000,5000] [--rate 10]
[--changes 20] [--receivers 2] [--profile DIR] [--json out.json]`.
It creates and drops its own database. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from fleet import current_cursor, push_steadily
from receivers import Receivers, latencies, percentile, summary
from server_limits import lifted_limits
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
    task_change,
)


def admin_sockets(token: str, cursor: str, count: int, prefix: str) -> list[dict[str, Any]]:
    """`count` dashboards of one admin: every change is in their scope."""
    return [
        {"token": token, "client_id": f"{prefix}-{n}", "cursor": cursor, "kind": "admin"}
        for n in range(count)
    ]


def creation(index: int) -> dict[str, Any]:
    return task_change(f"fan-out {index}", client="pusher")


async def measure(
    env: dict[str, str], cwd: Path, size: int, args: argparse.Namespace
) -> dict[str, Any]:
    profile = args.profile / f"live_fanout_{size}.pstats" if args.profile else None
    async with serving(env, cwd, profile) as server, aiohttp.ClientSession() as http:
        token = await sign_in(http, server.base)
        url = f"{server.ws_base}/sync/ws"
        await warm_up(http, server, token, url)
        await asyncio.sleep(1)
        rss_empty = server.rss_kib()
        receivers = Receivers()
        try:
            cursor = await current_cursor(http, server.base, token)
            sockets = admin_sockets(token, cursor, size, "fan")
            connected = await receivers.start(url, sockets, min(args.receivers, size))
            await asyncio.sleep(2)  # let the hello pulls and their garbage settle
            rss_idle = server.rss_kib()
            cpu_before = server.cpu_seconds()
            pushes = await push_steadily(
                http, server.base, token, creation, args.changes, args.rate
            )
            drained = await receivers.drain(pushes.commits(), timeout_s=args.drain_timeout)
            cpu_used = server.cpu_seconds() - cpu_before
        except Exception:
            print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
            raise
        finally:
            await receivers.stop()
    delivered = latencies(pushes.sent, drained["arrivals"].get("admin", {}))
    push_ms = sorted(pushes.durations_ms)
    return {
        "sockets": size,
        "connected": connected["connected"],
        "connect_s": connected["seconds"],
        "changes": args.changes,
        "rate_per_s": args.rate,
        "failed_pushes": pushes.failed,
        "push_p50_ms": percentile(push_ms, 50),
        "push_max_ms": push_ms[-1] if push_ms else float("nan"),
        "deliveries": len(delivered),
        "expected_deliveries": size * args.changes,
        "missing": drained["missing"].get("admin", 0),
        "closed_early": drained["closed"],
        "close_codes": drained["close_codes"],
        **summary(delivered),
        "latency_from": "the push's send",
        "rss_empty_kib": rss_empty,
        "rss_idle_kib": rss_idle,
        "kib_per_idle_socket": (rss_idle - rss_empty) / size,
        "server_cpu_s": cpu_used,
        "server_cpu_us_per_delivery": cpu_used / max(1, len(delivered)) * 1e6,
        "load": os.getloadavg()[0],
    }


async def warm_up(http: aiohttp.ClientSession, server: Serving, token: str, url: str) -> None:
    """Load every code path once (a few sockets, a few pushes) before the empty RSS."""
    receivers = Receivers()
    try:
        cursor = await current_cursor(http, server.base, token)
        await receivers.start(url, admin_sockets(token, cursor, 10, "warm"), 1)
        pushes = await push_steadily(http, server.base, token, creation, 3, 20)
        await receivers.drain(pushes.commits(), timeout_s=30)
    finally:
        await receivers.stop()


def report(results: list[dict[str, Any]]) -> None:
    print(
        f"\nsyncd live fan-out over /sync/ws: PostgreSQL, {platform.machine()} "
        f"Python {platform.python_version()}"
    )
    header = (
        f"{'sockets':>8} {'delivered':>15} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'KiB/idle socket':>16} {'connect s':>10} {'CPU us/delivery':>16} "
        f"{'pushes ok':>10} {'push p50 ms':>12} {'load':>6}"
    )
    print(header)
    for r in results:
        delivered = f"{r['deliveries']}/{r['expected_deliveries']}"
        pushed = f"{r['changes'] - len(r['failed_pushes'])}/{r['changes']}"
        print(
            f"{r['sockets']:>8} {delivered:>15} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
            f"{r['max_ms']:8.1f} {r['kib_per_idle_socket']:16.1f} {r['connect_s']:10.1f} "
            f"{r['server_cpu_us_per_delivery']:16.0f} "
            f"{pushed:>10} {r['push_p50_ms']:12.1f} {r['load']:6.2f}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="socket counts, comma-separated")
    parser.add_argument("--rate", type=float, default=10.0, help="pushes per second")
    parser.add_argument("--changes", type=int, default=20, help="changes pushed per size")
    parser.add_argument("--receivers", type=int, default=4, help="receiver processes")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, stats here")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "live_fanout.json"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    limit = raise_open_files_limit()
    if max(sizes) + 1000 > limit:
        parser.error(f"{max(sizes)} sockets need more open files than the hard limit {limit}")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="syncd-fanout-") as scratch:
        async with fresh_database(args.dsn) as url:
            # Every socket here is the demo admin's (one user, N dashboards): lift the
            # per-user socket cap (default 8) and the tenant's fair-use limits.
            env = server_env(url)
            lifted, _ = lifted_limits(env)
            env.update(lifted)
            await prepare(env, Path(scratch))
            for size in sizes:
                print(f"measuring {size} sockets ...", flush=True)
                results.append(await measure(env, Path(scratch), size, args))
    report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "live_fanout",
                "format": 2,
                "python": platform.python_version(),
                "receiver_processes": args.receivers,
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
