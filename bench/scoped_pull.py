"""Benchmark: a technician's pull beside an admin's, in a tenant of many tasks.

A real `syncd serve` on a fresh PostgreSQL database. K technicians are invited
through the API; syncd itself creates one task and assigns it (the template),
and bench/tenant_seed.py copies what it wrote into N tasks, each assigned to
one of the technicians in turn (N / K each: 100,000 tasks, 1,000 per
technician by default), with raw SQL under the tenant role. Then, with
`GET /sync/pull` in pages of 5,000:

- from cursor 0: the compacted snapshot, then the log after it (empty here:
  nothing commits during the pull), as a phone signing in for the first time;
- the log from version 0: the whole history, as a phone that was offline
  since before the tenant's history reads its backlog;

for one technician (their 1,000 tasks and what hangs off them) and for the
admin (everything). The figure is changes delivered per second; the ratio is
the technician's rate over the admin's. The technician's two pulls must end in
the same rows (a check that the seeded data behaves as syncd's own does).

Each of the four pulls runs `--repeat` times (default 3), in turns, and its
figure is the median run: one run of a technician's 4,000 changes lasts a
fraction of a second, and a neighbour's burst on a shared machine moved it
by half. Before the first, each reader pulls one page of one change, not
timed: the server's first statements of each kind (compiling and preparing
them on a new process) are a cost of starting the server, not of a pull.

Run: `python bench/scoped_pull.py [--tasks 100000] [--per-technician 1000]
[--repeat 3] [--profile DIR] [--json out.json]`. Creates and drops its own database.
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
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import tenant_seed
from bench_report import render_text
from bench_rows import pull_rows
from fleet import SCHEMA, Clock, assignment, bearer, invite_technicians, push_all, task_creation
from server_limits import lifted_limits
from syncd_server import DEFAULT_DSN, ROOT, TENANT, fresh_database, prepare, server_env, serving
from syncd_server import sign_in as admin_sign_in

sys.path.insert(0, str(ROOT))
from syncd.sync.cursor import Cursor

PAGE = "5000"


async def pull(
    http: aiohttp.ClientSession,
    base: str,
    token: str,
    since: str | None,
    keep: bool,
    page_size: str = PAGE,
) -> tuple[float, int, list[dict[str, Any]], int]:
    """Every page from `since` (None: from 0); the seconds, how many changes, the
    changes themselves if `keep`, the pages."""
    changes: list[dict[str, Any]] = []
    count = pages = 0
    started = time.perf_counter()
    while True:
        params = {"limit": page_size, "schema": str(SCHEMA)} | ({"since": since} if since else {})
        async with http.get(f"{base}/sync/pull", params=params, headers=bearer(token)) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"pull: {response.status} {body[:300]!r}")
        page = orjson.loads(body)
        if page_size != PAGE:  # a warm-up: one page
            return time.perf_counter() - started, len(page["changes"]), [], 1
        count += len(page["changes"])
        if keep:
            changes += page["changes"]
        pages += 1
        since = page["cursor"]
        if not page["has_more"]:
            return time.perf_counter() - started, count, changes, pages


def replica(changes: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """What a phone holds after applying `changes` in order."""
    held: dict[tuple[str, str], Any] = {}
    for change in changes:
        key = (change["entity"], change["id"])
        if change["op"] == "upsert":
            held[key] = change["data"]
        else:
            held.pop(key, None)
    return held


async def seed_tenant(
    http: aiohttp.ClientSession, base: str, url: str, admin: str, args: argparse.Namespace
) -> tuple[str, float]:
    """The fleet and its tasks; answers the measured technician's token and the
    seconds seeding took."""
    count = max(1, args.tasks // args.per_technician)
    technicians = await invite_technicians(http, base, admin, count + 1)
    template_tech = technicians.pop()  # holds the template task only
    clock = Clock("office")
    task_id = str(uuid.uuid4())
    created, cursor_1 = await push_all(
        http, base, admin, [task_creation(task_id, 0, clock())], "office"
    )
    action = assignment(task_id, template_tech.user_id, clock(), created[0]["version"])
    _, cursor_2 = await push_all(http, base, admin, [action], "office")
    spans = [Cursor.decode(c) for c in (cursor_1, cursor_2)]
    assert spans[0] is not None
    assert spans[1] is not None
    phases = [(0, spans[0].version), (spans[0].version, spans[1].version)]
    owners = [uuid.UUID(technicians[n % count].user_id) for n in range(args.tasks)]
    conn = await asyncpg.connect(url)
    try:
        tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE slug = $1", TENANT)
        started = time.perf_counter()
        template = await tenant_seed.capture(
            conn, tenant_id, uuid.UUID(task_id), uuid.UUID(template_tech.user_id), phases
        )
        await tenant_seed.seed(conn, tenant_id, template, owners, spans[1].version)
        seeded_s = time.perf_counter() - started
    finally:
        await conn.close()
    return technicians[0].token, seeded_s


async def run(server: Any, url: str, args: argparse.Namespace) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        admin = await admin_sign_in(http, server.base)
        technician, seeded_s = await seed_tenant(http, server.base, url, admin, args)
        print(f"seeded {args.tasks:,} tasks in {seeded_s:.1f} s", flush=True)
        readers = (("technician", technician), ("admin", admin))
        starts = (("snapshot", None), ("log", Cursor.at(0).encode()))
        for _, token in readers:  # not timed: the server's first statements of each kind
            for _, since in starts:
                await pull(http, server.base, token, since, False, page_size="1")
        runs: dict[str, list[dict[str, Any]]] = {}
        held = {}
        for turn in range(args.repeat):
            for who, token in readers:
                for how, since in starts:
                    mine = who == "technician" and turn == 0
                    seconds, count, changes, pages = await pull(
                        http, server.base, token, since, mine
                    )
                    runs.setdefault(f"{who}_{how}", []).append(
                        {"changes": count, "pages": pages, "s": seconds, "load": os.getloadavg()[0]}
                    )
                    if mine:
                        held[how] = replica(changes)
                    print(f"{who} {how}: {count:,} changes in {seconds:.2f} s", flush=True)
        figures: dict[str, Any] = {}
        counts: dict[str, Any] = {}
        for key, made in runs.items():
            middle = sorted(made, key=lambda run: run["changes"] / run["s"])[len(made) // 2]
            figures[key] = {"value": middle["changes"] / middle["s"], "load": middle["load"]}
            counts[key] = {**middle, "runs_per_s": [run["changes"] / run["s"] for run in made]}
    return {
        "figures": figures,
        "counts": counts,
        "seeded_s": seeded_s,
        "technician_snapshot_equals_log": held["snapshot"] == held["log"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--per-technician", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each pull (the median)")
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, stats here")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "scoped_pull.json"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syncd-pull-") as scratch:
        async with fresh_database(args.dsn) as url:
            env = server_env(url)
            # Tokens outlive the run (seeding and pulls can outlast the default 900 s).
            env.update(lifted_limits(env, {"ACCESS_TOKEN_TTL_SECONDS": 86_400})[0])
            await prepare(env, Path(scratch))
            profile = None
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                profile = args.profile / "scoped_pull.pstats"
            async with serving(env, Path(scratch), profile) as server:
                try:
                    measured = await run(server, url, args)
                except Exception:
                    print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
                    raise
    result = {
        "benchmark": "scoped_pull",
        "format": 2,
        "python": platform.python_version(),
        "tasks": args.tasks,
        "per_technician": args.per_technician,
        "repeat": args.repeat,
        **measured,
    }
    print(f"\nsyncd pull, tenant of {args.tasks:,} tasks ({args.per_technician:,} per technician)")
    print(render_text(pull_rows(result)))
    if not measured["technician_snapshot_equals_log"]:
        print("WARNING: the technician's snapshot and log pulls ended in different rows")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
