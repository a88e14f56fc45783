"""Benchmark: push task creations and then edits to them, beside their floor; pull back.

syncd runs as its own `syncd serve` process, as deployed; the client is this
script (orjson on both sides: the figures are the server's, not a slow
client's). On a fresh PostgreSQL database the admin pushes N task creations
(title, description, priority, location) in batches of 500, then N edits to
those tasks (a new title, priority and description each, based on the version
the creation answered), in batches of 500; then pulls the log back from
version 0. Beside each push figure, in the same run on the same database
server, its floor (bench/push_floor.py): exactly the rows syncd wrote for
those batches (task rows, `created` timeline entries, change-log entries, the
push_batches row, the tenant counter), written raw into tables of the same
shape under the same row-level security and foreign keys, a transaction per
batch of the same size. Each floor runs twice and keeps its faster run. Also:
a resent batch (answered from the stored first answer) against a first send,
and, as context only, the older single-table baselines (bench/push_context.py).

The server's own CPU time per pushed change is printed too (from /proc): it
holds under a loaded machine, where the throughput figures do not.

Run: `python bench/sync_push_pull.py [--changes 10000] [--batch 500]
[--dsn postgresql://postgres@127.0.0.1:5432/postgres] [--json out.json]`.
It creates and drops its own database. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import push_floor  # noqa: E402
from bench_report import reading, render_text  # noqa: E402
from bench_rows import sync_rows  # noqa: E402
from fleet import Clock, answer_of, sending_json, task_creation  # noqa: E402
from push_context import measure_context  # noqa: E402
from syncd_server import TENANT, fresh_database, prepare, server_env, serving, sign_in  # noqa: E402

from syncd.sync.cursor import Cursor  # noqa: E402


def creations(count: int, clock: Clock) -> list[dict[str, Any]]:
    return [task_creation(str(uuid.uuid4()), n, clock()) for n in range(count)]


def edits(created: list[dict[str, Any]], versions: list[int], clock: Clock) -> list[dict[str, Any]]:
    """A new title, priority and description for each task, based on the version
    its creation answered (the device saw its own write)."""
    return [
        {
            "entity": "task",
            "id": change["id"],
            "op": "upsert",
            "fields": {
                "title": change["fields"]["title"] + " (seal ordered)",
                "priority": "high",
                "description": "Seal ordered from the supplier; fit it on the next visit.",
            },
            "hlc": clock(),
            "base_version": version,
        }
        for change, version in zip(created, versions, strict=True)
    ]


class Pusher:
    """The admin's device pushing batches and noting the versions each spans."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.headers = http, base, sending_json(token)
        self.version = 0  # the tenant's version after the last push (fresh database)

    async def push(self, batch_id: str, changes: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"client_id": "bench", "batch_id": batch_id, "changes": changes, "schema": 2}
        async with self.http.post(
            f"{self.base}/sync/push", data=orjson.dumps(body), headers=self.headers
        ) as response:
            answer: dict[str, Any] = await answer_of(response)
        assert len(answer["results"]) == len(changes)
        return answer

    async def all(
        self, prefix: str, changes: list[dict[str, Any]], batch: int
    ) -> tuple[float, list[int], list[tuple[int, int, str]]]:
        """Push in batches; the seconds, each change's version, each batch's span."""
        versions: list[int] = []
        spans: list[tuple[int, int, str]] = []
        started = time.perf_counter()
        for n, start in enumerate(range(0, len(changes), batch)):
            answer = await self.push(f"{prefix}{n}", changes[start : start + batch])
            refused = [r for r in answer["results"] if r["status"] != "applied"]
            assert not refused, refused[0]
            versions += [r["version"] for r in answer["results"]]
            reached = Cursor.decode(answer["cursor"])
            assert reached is not None
            spans.append((self.version, reached.version, f"{prefix}{n}"))
            self.version = reached.version
        return time.perf_counter() - started, versions, spans


def cpu_seconds(pid: int) -> float | None:
    """The process's CPU time so far (user and system; Linux's /proc, else None)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_change(pid: int, before: float | None, count: int) -> float | None:
    """The server's CPU microseconds per change since `before` (robust to the
    machine's load, which the throughput figures are not)."""
    after = cpu_seconds(pid)
    if before is None or after is None:
        return None
    return round((after - before) / count * 1e6, 1)


async def pull_log(http: aiohttp.ClientSession, base: str, token: str) -> tuple[float, int]:
    cursor = Cursor.at(0).encode()  # the log from the start, not a snapshot
    pulled = 0
    started = time.perf_counter()
    while True:
        async with http.get(
            f"{base}/sync/pull",
            params={"since": cursor, "limit": "5000", "schema": "2"},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            page = orjson.loads(await response.read())
        pulled += len(page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            return time.perf_counter() - started, pulled


async def measure(
    env: dict[str, str], scratch: Path, url: str, count: int, batch: int
) -> dict[str, Any]:
    clock = Clock("bench")
    created = creations(count, clock)
    conn = await asyncpg.connect(url)
    try:
        async with serving(env, scratch) as server, aiohttp.ClientSession() as http:
            token = await sign_in(http, server.base)
            tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE slug = $1", TENANT)
            pusher = Pusher(http, server.base, token)
            pid, cpu = server.process.pid, {}
            before = cpu_seconds(pid)
            create_s, versions, spans = await pusher.all("c", created, batch)
            cpu["creations"] = cpu_per_change(pid, before, count)
            figures = {"creations": reading(count / create_s)}
            made = await push_floor.capture(conn, tenant_id, spans)
            started = time.perf_counter()
            await pusher.push("c0", created[:batch])
            figures["resent_batch"] = reading(1 / (time.perf_counter() - started))
            figures["first_batch"] = {**figures["creations"], "value": len(spans) / create_s}
            before = cpu_seconds(pid)
            edit_s, _, spans = await pusher.all("e", edits(created, versions, clock), batch)
            cpu["edits"] = cpu_per_change(pid, before, count)
            figures["edits"] = reading(count / edit_s)
            edited = await push_floor.capture(conn, tenant_id, spans, updated=("tasks",))
            pull_s, pulled = await pull_log(http, server.base, token)
            # A creation is two log entries (the task, its `created` entry), an edit one.
            assert pulled == 3 * count, pulled
            figures["pull"] = reading(pulled / pull_s)
        await push_floor.clone_tables(conn)
        made_s = edited_s = float("inf")
        for _ in range(2):
            await push_floor.reset(conn, tenant_id)
            made_s = min(made_s, await push_floor.replay(conn, tenant_id, made))
            edited_s = min(edited_s, await push_floor.replay(conn, tenant_id, edited))
        figures["creations_floor"] = reading(count / made_s)
        figures["edits_floor"] = reading(count / edited_s)
        figures.update(await measure_context(conn, tenant_id, created, batch))
    finally:
        await conn.close()
    return {"figures": figures, "pulled": pulled, "server_cpu_us_per_change": cpu}


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "sync.json")
    args = parser.parse_args()
    async with fresh_database(args.dsn) as url:
        env = server_env(
            url.replace("postgresql://", "postgresql+asyncpg://"),
            MAX_BODY_BYTES=str(16 * 1024 * 1024),
            MAX_BATCH_CHANGES=str(max(args.batch, 500)),
        )
        with tempfile.TemporaryDirectory(prefix="syncd-bench-") as scratch:
            env["SYNCD_VAR_DIR"] = scratch
            await prepare(env, Path(scratch))
            measured = await measure(env, Path(scratch), url, args.changes, args.batch)
    result = {
        "benchmark": "sync_push_pull",
        "format": 2,
        "changes": args.changes,
        "batch": args.batch,
        **measured,
    }
    print(f"\nsyncd push/pull: {args.changes:,} task creations then as many edits, PostgreSQL")
    print(render_text(sync_rows(result)))
    cpu = measured["server_cpu_us_per_change"]
    print(f"server CPU per change (us): creations {cpu['creations']}, edits {cpu['edits']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
