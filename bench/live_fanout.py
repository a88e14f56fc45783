"""Benchmark: live fan-out of pushed changes to N WebSockets of one tenant.

A real `syncd serve` (PostgreSQL, fresh database, `syncd migrate` + `syncd
seed`) holds N sockets on `/sync/ws`, opened by receiver processes (asyncio +
aiohttp) as the tenant's admin, each with its own client id and the current
cursor. A separate client pushes one task change at a time through `POST
/sync/push` at a steady rate. For every change and every socket the latency is
the time from the push's answer (the commit) to the frame carrying that change
at the socket, on the machine's monotonic clock (shared by the processes).
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
import platform
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
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

RECEIVER = Path(__file__).resolve().parent / "fanout_receiver.py"
LINE_LIMIT = 1 << 28  # the arrivals line of 5,000 sockets is several MiB


@dataclass
class Receivers:
    """Receiver processes, each holding a share of the sockets."""

    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(self, config: dict[str, Any], count: int, processes: int) -> dict[str, float]:
        base, extra = divmod(count, processes)
        shares = [base + (1 if i < extra else 0) for i in range(processes)]
        first = 0
        for share in (s for s in shares if s):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(RECEIVER),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
            )
            self.processes.append(process)
            await self.tell(process, {**config, "count": share, "first": first})
            first += share
        ready = await asyncio.gather(*(self.read(p) for p in self.processes))
        return {
            "connected": sum(r["connected"] for r in ready),
            "seconds": max(r["seconds"] for r in ready),
        }

    async def drain(self, changes: list[str], timeout_s: float) -> dict[str, Any]:
        """Wait until every socket has every change (or the timeout); merge the arrivals."""
        for process in self.processes:
            await self.tell(process, {"drain": changes, "timeout_s": timeout_s})
        answers = await asyncio.gather(*(self.read(p) for p in self.processes))
        arrivals: dict[str, list[float]] = {}
        for answer in answers:
            for change_id, times in answer["arrivals"].items():
                arrivals.setdefault(change_id, []).extend(times)
        return {
            "arrivals": arrivals,
            "closed": sum(a["closed"] for a in answers),
            "close_codes": sorted({c for a in answers for c in a["close_codes"]}),
        }

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None and process.stdin is not None:
                process.stdin.close()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        self.processes.clear()

    @staticmethod
    async def tell(process: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message).encode() + b"\n")
        await process.stdin.drain()

    @staticmethod
    async def read(process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"a receiver exited ({await process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("event") == "error":
            raise RuntimeError(f"a receiver failed: {answer['message']}")
        return answer


async def current_cursor(http: aiohttp.ClientSession, base: str, token: str) -> str:
    """The cursor after the whole current state (what a device holds once synced)."""
    cursor: str | None = None
    while True:
        params = {"limit": "1000"} | ({"since": cursor} if cursor else {})
        async with http.get(
            f"{base}/sync/pull", params=params, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            page = await response.json()
        cursor = page["cursor"]
        if not page["has_more"]:
            assert cursor is not None
            return cursor


@dataclass
class Pushes:
    """What the pushing client saw: answer times of applied changes, push durations, failures."""

    acked: dict[str, float] = field(default_factory=dict)
    durations_ms: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


async def push_steadily(
    http: aiohttp.ClientSession, base: str, token: str, count: int, rate: float
) -> Pushes:
    """Push `count` single-change batches, one every 1/rate s, without waiting for answers."""
    pushes = Pushes()
    headers = {"Authorization": f"Bearer {token}"}

    async def push(index: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        change = task_change(f"fan-out {index}", client="pusher")
        body = {"client_id": "pusher", "batch_id": uuid.uuid4().hex, "changes": [change]}
        sent_at = time.monotonic()
        async with http.post(f"{base}/sync/push", json=body, headers=headers) as response:
            answer = await response.json()
            acked_at = time.monotonic()
        pushes.durations_ms.append((acked_at - sent_at) * 1000)
        if response.status != 200 or answer["results"][0]["status"] != "applied":
            pushes.failed.append(f"{response.status} {answer.get('code', '')}".strip())
        else:
            pushes.acked[change["id"]] = acked_at

    start = time.monotonic() + 0.1
    await asyncio.gather(*(push(i, start + i / rate) for i in range(count)))
    return pushes


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def measure(
    env: dict[str, str], cwd: Path, size: int, args: argparse.Namespace
) -> dict[str, Any]:
    profile = args.profile / f"live_fanout_{size}.pstats" if args.profile else None
    async with serving(env, cwd, profile) as server, aiohttp.ClientSession() as http:
        token = await sign_in(http, server.base)
        config = {"url": f"{server.ws_base}/sync/ws", "token": token}
        await warm_up(http, server, token, config)
        await asyncio.sleep(1)
        rss_empty = server.rss_kib()
        receivers = Receivers()
        try:
            config["cursor"] = await current_cursor(http, server.base, token)
            connected = await receivers.start(config, size, min(args.receivers, size))
            await asyncio.sleep(2)  # let the hello pulls and their garbage settle
            rss_idle = server.rss_kib()
            cpu_before = server.cpu_seconds()
            pushes = await push_steadily(http, server.base, token, args.changes, args.rate)
            drained = await receivers.drain(list(pushes.acked), timeout_s=args.drain_timeout)
            cpu_used = server.cpu_seconds() - cpu_before
        except Exception:
            print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
            raise
        finally:
            await receivers.stop()
    latencies = sorted(
        (at - pushes.acked[change_id]) * 1000
        for change_id, times in drained["arrivals"].items()
        if change_id in pushes.acked
        for at in times
    )
    expected = size * len(pushes.acked)
    push_ms = sorted(pushes.durations_ms)
    return {
        "sockets": size,
        "connected": connected["connected"],
        "connect_s": connected["seconds"],
        "changes": args.changes,
        "rate_per_s": args.rate,
        "failed_pushes": pushes.failed,
        "push_p50_ms": percentile(push_ms, 50),
        "push_max_ms": push_ms[-1],
        "deliveries": len(latencies),
        "expected_deliveries": expected,
        "closed_early": drained["closed"],
        "close_codes": drained["close_codes"],
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "mean_ms": statistics.fmean(latencies) if latencies else float("nan"),
        "rss_empty_kib": rss_empty,
        "rss_idle_kib": rss_idle,
        "kib_per_idle_socket": (rss_idle - rss_empty) / size,
        "server_cpu_s": cpu_used,
        "server_cpu_us_per_delivery": cpu_used / max(1, len(latencies)) * 1e6,
    }


async def warm_up(
    http: aiohttp.ClientSession, server: Serving, token: str, config: dict[str, Any]
) -> None:
    """Load every code path once (a few sockets, a few pushes) before the empty RSS."""
    receivers = Receivers()
    try:
        cursor = await current_cursor(http, server.base, token)
        await receivers.start({**config, "cursor": cursor, "prefix": "warm"}, 10, 1)
        pushes = await push_steadily(http, server.base, token, 3, 20)
        await receivers.drain(list(pushes.acked), timeout_s=30)
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
        f"{'pushes ok':>10} {'push p50 ms':>12}"
    )
    print(header)
    for r in results:
        delivered = f"{r['deliveries']}/{r['expected_deliveries']}"
        pushed = f"{r['changes'] - len(r['failed_pushes'])}/{r['changes']}"
        print(
            f"{r['sockets']:>8} {delivered:>15} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
            f"{r['max_ms']:8.1f} {r['kib_per_idle_socket']:16.1f} {r['connect_s']:10.1f} "
            f"{r['server_cpu_us_per_delivery']:16.0f} "
            f"{pushed:>10} {r['push_p50_ms']:12.1f}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="socket counts, comma-separated")
    parser.add_argument("--rate", type=float, default=10.0, help="pushes per second")
    parser.add_argument("--changes", type=int, default=20, help="changes pushed per size")
    parser.add_argument("--receivers", type=int, default=2, help="receiver processes")
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
            # per-user socket cap above N, which the default (8) would enforce.
            env = server_env(url, WS_MAX_SOCKETS_PER_USER=str(max(sizes) + 20))
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
