"""Benchmark: Yjs updates relayed by syncd and by the reference node server.

The same clients (node, unmodified yjs 13 + y-websocket `WebsocketProvider`,
bench/node/yjs_clients.js) run against:

- syncd's `/sync/yjs/task:<uuid>:notes` (a real `syncd serve` on a fresh
  PostgreSQL database; each update is validated and stored before it is
  relayed), and
- `@y/websocket-server` (the y-websocket server split out of y-websocket,
  in-memory documents, no persistence), started with its own `bin`.

D documents, each with one sender and K receivers; the senders run in S node
processes and the receivers in R more (bench/yjs_clients.py), so that the
clients are not the bottleneck. Each update carries its send time (the
machine's monotonic clock, shared by the processes), so every receiver
measures each update's latency. Phases, after a warm-up: steady (U updates
per document at a typing rate) and flat out (V updates per document as fast
as the senders can). Per phase and server: the server process's CPU time
(/proc/<pid>/stat) over the updates sent, latency p50/p99 over every
delivery, throughput. The ratio is syncd over node.

Run: `python bench/yjs_relay.py [--documents 4] [--receivers 10]
[--sender-processes 2] [--receiver-processes 4] [--steady 250] [--rate 20]
[--flat 1000] [--servers node,syncd] [--profile DIR] [--json out.json]`.
Installs the pinned npm packages of bench/node with `npm ci` when missing;
creates and drops its own database. Prints a table, writes JSON.
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
from bench_report import render_text
from bench_rows import yjs_rows
from fleet import Clock, push_all, task_creation
from server_limits import lifted_limits
from syncd_server import (
    DEFAULT_DSN,
    ROOT,
    free_port,
    fresh_database,
    prepare,
    server_env,
    serving,
    sign_in,
    stop,
)
from yjs_clients import YjsClients

NODE_DIR = Path(__file__).resolve().parent / "node"
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


def doc_names(count: int) -> list[str]:
    return [f"bench-{uuid.uuid4()}" for _ in range(count)]


async def task_docs(http: aiohttp.ClientSession, base: str, token: str, count: int) -> list[str]:
    """A task per document (its notes are the document), created through the API."""
    clock = Clock("bench")
    ids = [str(uuid.uuid4()) for _ in range(count)]
    await push_all(
        http, base, token, [task_creation(i, n, clock()) for n, i in enumerate(ids)], "bench"
    )
    return [f"task:{i}:notes" for i in ids]


async def measure(
    args: argparse.Namespace, node: str, url: str, token: str | None, docs: list[str], pid: int
) -> dict[str, Any]:
    """The phases against one server."""
    clients = YjsClients(node)
    try:
        await clients.start(
            url, token, docs, args.sender_processes, args.receiver_processes, args.receivers
        )
        await clients.phase("warm", args.warmup, 0, pid, args.timeout)
        steady = await clients.phase("steady", args.steady, args.rate, pid, args.timeout)
        steady["load"] = os.getloadavg()[0]
        flat = await clients.phase("flat", args.flat, 0, pid, args.timeout)
        flat["load"] = os.getloadavg()[0]
        converged = await clients.converged()
    finally:
        await clients.stop()
    return {"steady": steady, "flat": flat, "converged": converged, "closed": clients.closed}


async def measure_node(args: argparse.Namespace, node: str) -> dict[str, Any]:
    async with node_server(node) as (port, pid):
        print("measuring the node y-websocket server ...", flush=True)
        url = f"ws://127.0.0.1:{port}"
        found = await measure(args, node, url, None, doc_names(args.documents), pid)
        return {"server": "node", "name": "@y/websocket-server (node)", **found}


async def measure_syncd(args: argparse.Namespace, node: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="syncd-yjs-") as scratch:
        async with fresh_database(args.dsn) as database:
            env = server_env(database)
            # Every client is the same user: lift the per-user caps above them.
            env.update(lifted_limits(env)[0])
            await prepare(env, Path(scratch))
            profile = args.profile / "yjs_relay_syncd.pstats" if args.profile else None
            async with (
                serving(env, Path(scratch), profile) as server,
                aiohttp.ClientSession() as http,
            ):
                try:
                    token = await sign_in(http, server.base)
                    docs = await task_docs(http, server.base, token, args.documents)
                    print("measuring syncd ...", flush=True)
                    url = f"{server.ws_base}/sync/yjs"
                    found = await measure(args, node, url, token, docs, server.process.pid)
                except Exception:
                    print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
                    raise
                return {"server": "syncd", "name": "syncd /sync/yjs", **found}
    raise AssertionError("unreachable")


def report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    print(
        f"\nYjs relay: {args.documents} documents, 1 sender and {args.receivers} receivers each "
        f"({args.sender_processes} sender and {args.receiver_processes} receiver processes); "
        f"steady {args.steady}/document at {args.rate:g}/s, flat out {args.flat}/document"
    )
    print(
        f"{'server':28} {'phase':7} {'CPU us/update':>14} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'updates/s':>10} {'delivered':>15} {'load':>6}"
    )
    for row in rows:
        for phase in ("steady", "flat"):
            r = row[phase]
            delivered = f"{r['deliveries']}/{r['expected_deliveries']}"
            print(
                f"{row['name']:28} {phase:7} {r['cpu_us_per_update']:14,.0f} {r['p50_ms']:8.2f} "
                f"{r['p99_ms']:8.2f} {r['updates_per_s']:10,.0f} {delivered:>15} {r['load']:6.2f}"
            )
        print(f"{row['name']:28} converged: {row['converged']}, 4xxx closes: {len(row['closed'])}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--documents", type=int, default=4)
    parser.add_argument("--receivers", type=int, default=10, help="receivers per document")
    parser.add_argument("--sender-processes", type=int, default=2)
    parser.add_argument("--receiver-processes", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=20, help="updates per document first")
    parser.add_argument("--steady", type=int, default=250, help="updates per document at --rate")
    parser.add_argument("--rate", type=float, default=20.0, help="updates/s per document")
    parser.add_argument("--flat", type=int, default=1000, help="updates per document flat out")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per phase")
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
        rows.append(await measure_node(args, node))
    if "syncd" in servers:
        rows.append(await measure_syncd(args, node))
    report(args, rows)
    result = {
        "benchmark": "yjs_relay",
        "format": 2,
        "python": platform.python_version(),
        "documents": args.documents,
        "receivers_per_document": args.receivers,
        "sender_processes": args.sender_processes,
        "receiver_processes": args.receiver_processes,
        "steady_per_document": args.steady,
        "rate_per_document": args.rate,
        "flat_per_document": args.flat,
        "servers": rows,
    }
    print(render_text(yjs_rows(result)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
