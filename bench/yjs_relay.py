"""Benchmark: one Yjs update stream relayed by syncd and by the reference node server.

The same clients (node, unmodified yjs 13 + y-websocket `WebsocketProvider`,
bench/node/yjs_relay.js: one sender, K receivers) run against:

- syncd's `/sync/yjs/task:<uuid>:notes` (a real `syncd serve` on a fresh
  PostgreSQL database; each update is validated and stored in its own
  transaction before it is relayed), and
- `@y/websocket-server` (the y-websocket server split out of y-websocket,
  in-memory documents, no persistence), started with its own `bin`.

Each server gets a fresh document. Figures per server: updates/s relayed when
the sender sends as fast as it can (until every receiver has every update),
and p50/p99 latency from the sender's transaction to each receiver at a steady
rate; plus the server's CPU time. The ratio is syncd over node.

Run: `python bench/yjs_relay.py [--receivers 10] [--updates 2000]
[--latency-updates 300] [--rate 50] [--servers node,syncd] [--profile DIR]
[--json out.json]`. Installs the pinned
npm packages of bench/node with `npm ci` when missing; creates and drops its
own database. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from syncd_server import (
    DEFAULT_DSN,
    ROOT,
    cpu_seconds,
    free_port,
    fresh_database,
    prepare,
    server_env,
    serving,
    sign_in,
    stop,
    task_change,
)

NODE_DIR = Path(__file__).resolve().parent / "node"
CLIENTS = NODE_DIR / "yjs_relay.js"
NODE_SERVER = NODE_DIR / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"


async def npm_ci(npm: str) -> None:
    """Install bench/node's locked packages unless they are there."""
    if NODE_SERVER.is_file() and (NODE_DIR / "node_modules" / "y-websocket").is_dir():
        return
    process = await asyncio.create_subprocess_exec(
        npm,
        "ci",
        "--no-audit",
        "--no-fund",
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 300)
    if process.returncode != 0:
        raise RuntimeError(f"npm ci failed:\n{output.decode()[-2000:]}")


@contextlib.asynccontextmanager
async def node_server(node: str) -> AsyncIterator[tuple[int, int]]:
    """`@y/websocket-server` on a free port; answers (port, pid) until the block ends."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_SERVER),
        cwd=NODE_DIR,
        env={**os.environ, "HOST": "127.0.0.1", "PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"http://127.0.0.1:{port}/") as response:
                        if response.status == 200:
                            break
                if process.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError("the node y-websocket server did not start")
                await asyncio.sleep(0.2)  # not listening yet: poll again
        yield port, process.pid
    finally:
        await stop(process)


async def run_clients(node: str, pid: int, config: dict[str, Any]) -> dict[str, Any]:
    """Run the node clients against one server; their figures plus the server's CPU time."""
    before = cpu_seconds(pid)
    process = await asyncio.create_subprocess_exec(
        node,
        str(CLIENTS),
        json.dumps(config),
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await asyncio.wait_for(process.communicate(), config["timeout_ms"] / 1000 + 30)
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    done = [line for line in lines if line.get("event") == "done"]
    if process.returncode != 0 or not done:
        raise RuntimeError(f"the node clients failed: {lines} {errors.decode()[-2000:]}")
    result: dict[str, Any] = done[-1]
    result["server_cpu_s"] = cpu_seconds(pid) - before
    result["closed"] = [line for line in lines if line.get("event") == "closed"]
    return result


async def create_task(http: aiohttp.ClientSession, base: str, token: str) -> str:
    """A task to edit (its notes are the document); answers its id."""
    change = task_change("Yjs relay benchmark")
    body = {"client_id": "bench", "batch_id": uuid.uuid4().hex, "changes": [change]}
    async with http.post(
        f"{base}/sync/push", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        answer = await response.json()
        if response.status != 200 or answer["results"][0]["status"] != "applied":
            raise RuntimeError(f"could not create the task: {answer}")
    task_id: str = change["id"]
    return task_id


def client_config(
    args: argparse.Namespace, url: str, doc: str, token: str | None
) -> dict[str, Any]:
    return {
        "url": url,
        "doc": doc,
        "token": token,
        "receivers": args.receivers,
        "updates": args.updates,
        "latency_updates": args.latency_updates,
        "rate": args.rate,
        "warmup": args.warmup,
        "timeout_ms": args.timeout * 1000,
    }


def summary(name: str, result: dict[str, Any]) -> dict[str, Any]:
    throughput, latency = result["throughput"], result["latency"]
    return {
        "server": name,
        "updates_per_s": throughput["updates_per_s"],
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "max_ms": latency["max_ms"],
        "server_cpu_s": result["server_cpu_s"],
        "server_cpu_us_per_update": result["server_cpu_s"]
        / (throughput["updates"] + latency["updates"])
        * 1e6,
        "converged": result["converged"],
        "raw": result,
    }


def report(args: argparse.Namespace, rows: list[dict[str, Any]], ratio: float | None) -> None:
    print(
        f"\nYjs relay: 1 sender, {args.receivers} receivers (node yjs + y-websocket clients), "
        f"{args.updates} updates flat out, {args.latency_updates} at {args.rate:g}/s; "
        f"{platform.machine()} Python {platform.python_version()}"
    )
    print(
        f"{'server':28} {'updates/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'CPU us/update':>14} {'converged':>10}"
    )
    for row in rows:
        print(
            f"{row['server']:28} {row['updates_per_s']:10,.0f} {row['p50_ms']:8.2f} "
            f"{row['p99_ms']:8.2f} {row['max_ms']:8.2f} {row['server_cpu_us_per_update']:14,.0f} "
            f"{row['converged']!s:>10}"
        )
    if ratio is not None:
        print(f"throughput ratio syncd/node: {ratio:.2f}")


async def measure_syncd(args: argparse.Namespace, node: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="syncd-yjs-") as scratch:
        async with fresh_database(args.dsn) as database:
            # Every client is the same user: lift the per-user socket cap above them.
            env = server_env(database, YJS_MAX_SOCKETS_PER_USER=str(args.receivers + 20))
            await prepare(env, Path(scratch))
            profile = args.profile / "yjs_relay_syncd.pstats" if args.profile else None
            async with (
                serving(env, Path(scratch), profile) as server,
                aiohttp.ClientSession() as http,
            ):
                try:
                    token = await sign_in(http, server.base)
                    doc = f"task:{await create_task(http, server.base, token)}:notes"
                    print("measuring syncd ...", flush=True)
                    config = client_config(args, f"{server.ws_base}/sync/yjs", doc, token)
                    result = await run_clients(node, server.process.pid, config)
                except Exception:
                    print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
                    raise
                return summary("syncd /sync/yjs", result)
    raise AssertionError("unreachable")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--receivers", type=int, default=10, help="receiving clients (K)")
    parser.add_argument("--updates", type=int, default=2000, help="updates sent flat out")
    parser.add_argument("--latency-updates", type=int, default=300, help="updates at --rate")
    parser.add_argument("--rate", type=float, default=50.0, help="updates per second")
    parser.add_argument("--warmup", type=int, default=20, help="updates before measuring")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per server")
    parser.add_argument("--servers", default="node,syncd", help="which servers to measure")
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--profile", type=Path, help="run syncd under cProfile, stats here")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "yjs_relay.json")
    args = parser.parse_args()
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        parser.error("node and npm must be on PATH")
    await npm_ci(npm)
    servers = set(args.servers.split(","))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    rows = []
    if "node" in servers:
        async with node_server(node) as (port, pid):
            url = f"ws://127.0.0.1:{port}"
            print("measuring the node y-websocket server ...", flush=True)
            config = client_config(args, url, f"bench-{uuid.uuid4()}", None)
            result = await run_clients(node, pid, config)
            rows.append(summary("@y/websocket-server (node)", result))
    if "syncd" in servers:
        rows.append(await measure_syncd(args, node))
    ratio = rows[1]["updates_per_s"] / rows[0]["updates_per_s"] if len(rows) == 2 else None
    report(args, rows, ratio)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "yjs_relay",
                "python": platform.python_version(),
                "receivers": args.receivers,
                "updates": args.updates,
                "latency_updates": args.latency_updates,
                "rate_per_s": args.rate,
                "servers": rows,
                "throughput_ratio_syncd_over_node": ratio,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
