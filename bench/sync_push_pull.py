"""Benchmark: push N task changes in batches and pull them back, on PostgreSQL.

syncd runs as its own `syncd serve` process, as deployed; the client is this
script, which encodes and decodes with orjson (the figures are the server's,
not a slow client's). Each figure sits beside a baseline measured in the same
run on the same database server:

- push vs asyncpg `copy_records_to_table` of the same rows (the raw ceiling),
  vs an idempotent `INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING`
  (what an idempotent bulk write costs without any sync logic), vs the same
  insert a batch per transaction (a push commits each batch), and vs every row
  syncd writes for a task creation (the task, its `created` timeline entry and
  a change-log entry for each), raw, into tables of the same shape, a batch per
  transaction: the floor of the writes the protocol asks for;
- a resent batch (answered from the stored first answer) vs its first send;
- pull vs a raw keyset query over the same change-log rows, in pages of the
  same size.

Run: `python bench/sync_push_pull.py [--changes 10000] [--batch 500]
[--dsn postgresql://postgres@127.0.0.1:5432/postgres] [--json out.json]`.
It creates and drops its own database. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from syncd_server import (  # noqa: E402
    ADMIN_EMAIL,
    PASSWORD,
    TENANT,
    fresh_database,
    prepare,
    server_env,
    serving,
)

from syncd.sync.cursor import Cursor  # noqa: E402


def changes_for(count: int) -> list[dict[str, Any]]:
    return [
        {
            "entity": "task",
            "id": str(uuid.uuid4()),
            "op": "upsert",
            "fields": {"title": f"Task {n}", "description": "x" * 120, "priority": "normal"},
            "hlc": f"{1764000000000 + n:013d}:0000:bench",
            "base_version": 0,
        }
        for n in range(count)
    ]


async def measure_syncd(
    env: dict[str, str], scratch: Path, changes: list[dict[str, Any]], batch: int
) -> dict[str, float]:
    async with serving(env, scratch) as server, aiohttp.ClientSession() as http:
        async with http.post(
            f"{server.base}/auth/login",
            json={"email": ADMIN_EMAIL, "password": PASSWORD},
            headers={"X-Tenant": TENANT},
        ) as login:
            token = (await login.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        async def push(body: dict[str, Any]) -> None:
            async with http.post(
                f"{server.base}/sync/push", data=orjson.dumps(body), headers=headers
            ) as response:
                text = await response.read()
                assert response.status == 200, text[:500]
                assert len(orjson.loads(text)["results"]) == len(body["changes"])

        batches = [changes[i : i + batch] for i in range(0, len(changes), batch)]
        started = time.perf_counter()
        for n, part in enumerate(batches):
            await push({"client_id": "bench", "batch_id": f"b{n}", "changes": part})
        push_s = time.perf_counter() - started
        started = time.perf_counter()
        await push({"client_id": "bench", "batch_id": "b0", "changes": batches[0]})
        resend_s = time.perf_counter() - started
        first_s = push_s / len(batches)
        cursor = Cursor.at(0).encode()  # the log from the start, not a snapshot
        pulled = 0
        started = time.perf_counter()
        while True:
            async with http.get(
                f"{server.base}/sync/pull",
                params={"since": cursor, "limit": "5000"},
                headers=headers,
            ) as response:
                page = orjson.loads(await response.read())
            pulled += len(page["changes"])
            cursor = page["cursor"]
            if not page["has_more"]:
                break
        pull_s = time.perf_counter() - started
        # Each new task comes with its "created" timeline entry: two log entries.
        assert pulled == 2 * len(changes), pulled
    return {
        "push_per_s": len(changes) / push_s,
        "pull_per_s": pulled / pull_s,
        "first_batch_s": first_s,
        "resent_batch_s": resend_s,
    }


@dataclass
class CreationWrites:
    """The column arrays of what syncd writes for one batch of task creations:
    the task rows, their `created` timeline entries, a change-log entry for each."""

    tasks: tuple[list[Any], ...]  # id, title, field_clocks, version
    events: tuple[list[Any], ...]  # id, task_id, payload, version
    log: tuple[list[Any], ...]  # version, entity, entity_id, task_id, data, hlc


def creation_writes(
    changes: list[dict[str, Any]], batch: int, user: uuid.UUID
) -> list[CreationWrites]:
    now = datetime.now(UTC).isoformat()
    out = []
    for start in range(0, len(changes), batch):
        part = changes[start : start + batch]
        ids = [c["id"] for c in part]
        task_ids = [uuid.UUID(i) for i in ids]
        event_ids = [uuid.uuid4() for _ in part]
        task_v = [2 * (start + n) + 1 for n in range(len(part))]
        event_v = [v + 1 for v in task_v]
        titles = [c["fields"]["title"] for c in part]
        clocks = [
            json.dumps({k: {"hlc": c["hlc"], "v": v, "by": "bench"} for k in c["fields"]})
            for c, v in zip(part, task_v, strict=True)
        ]
        payloads = [
            json.dumps({"task_id": i, "title": t}) for i, t in zip(ids, titles, strict=True)
        ]
        task_data = [
            json.dumps(
                {
                    "id": c["id"],
                    **c["fields"],
                    "status": "open",
                    "version": v,
                    "created_by": str(user),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            for c, v in zip(part, task_v, strict=True)
        ]
        event_data = [
            json.dumps({"id": str(e), "task_id": i, "kind": "created", "payload": p, "version": v})
            for e, i, p, v in zip(event_ids, ids, payloads, event_v, strict=True)
        ]
        out.append(
            CreationWrites(
                tasks=(task_ids, titles, clocks, task_v),
                events=(event_ids, task_ids, payloads, event_v),
                log=(
                    task_v + event_v,
                    ["task"] * len(part) + ["task_event"] * len(part),
                    task_ids + event_ids,
                    task_ids + task_ids,
                    task_data + event_data,
                    [c["hlc"] for c in part] * 2,
                ),
            )
        )
    return out


WRITE_TASKS = (
    "INSERT INTO bench_tasks (tenant_id, created_by, created_at, updated_at, status, priority,"
    " location, description, id, title, field_clocks, version)"
    " SELECT $1::uuid, $2::uuid, now(), now(), 'open', 'normal', '{}'::json, $3::text,"
    " u.id, u.title, u.clocks, u.version"
    " FROM unnest($4::uuid[], $5::text[], $6::json[], $7::bigint[])"
    " AS u(id, title, clocks, version)"
    " ON CONFLICT (tenant_id, id) DO UPDATE SET title = EXCLUDED.title,"
    " field_clocks = EXCLUDED.field_clocks, version = EXCLUDED.version"
)
WRITE_EVENTS = (
    "INSERT INTO bench_task_events (tenant_id, actor_id, server_time, kind, client_id, refused,"
    " id, task_id, payload, version)"
    " SELECT $1::uuid, $2::uuid, now(), 'created', 'bench', false, u.id, u.task_id, u.payload,"
    " u.version FROM unnest($3::uuid[], $4::uuid[], $5::json[], $6::bigint[])"
    " AS u(id, task_id, payload, version)"
    " ON CONFLICT (tenant_id, id) DO UPDATE SET version = EXCLUDED.version"
)
WRITE_LOG = (
    "INSERT INTO bench_change_log (tenant_id, user_id, created_at, client_id, op, version,"
    " entity, entity_id, task_id, data, hlc)"
    " SELECT $1::uuid, $2::uuid, now(), 'bench', 'upsert', u.version, u.entity, u.entity_id,"
    " u.task_id, u.data, u.hlc FROM unnest($3::bigint[], $4::text[], $5::uuid[], $6::uuid[],"
    " $7::json[], $8::text[]) AS u(version, entity, entity_id, task_id, data, hlc)"
)


async def measure_baselines(
    url: str, changes: list[dict[str, Any]], batch: int
) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE bench_rows (tenant_id uuid, id uuid, title text, description text,"
            " priority text, field_clocks jsonb, version bigint, PRIMARY KEY (tenant_id, id))"
        )
        # Tables of the same shape as syncd's (columns, keys, indexes), without
        # row-level security or foreign keys: the baselines' side of the scale.
        for name in ("tasks", "task_events", "change_log"):
            await conn.execute(f"CREATE TABLE bench_{name} (LIKE {name} INCLUDING ALL)")
        tenant = uuid.uuid4()
        rows = [
            (
                tenant,
                uuid.UUID(c["id"]),
                c["fields"]["title"],
                c["fields"]["description"],
                "normal",
                json.dumps({"title": {"hlc": c["hlc"], "v": n, "by": "bench"}}),
                n,
            )
            for n, c in enumerate(changes, 1)
        ]
        columns = ["tenant_id", "id", "title", "description", "priority", "field_clocks", "version"]
        arrays = [list(col) for col in zip(*rows, strict=True)]
        batches = [
            [list(col) for col in zip(*rows[i : i + batch], strict=True)]
            for i in range(0, len(rows), batch)
        ]
        bench_tenant = await conn.fetchval("SELECT id FROM tenants WHERE slug = $1", TENANT)
        user = await conn.fetchval(
            "SELECT id FROM users WHERE tenant_id = $1 LIMIT 1", bench_tenant
        )
        writes = creation_writes(changes, batch, user)
        description = changes[0]["fields"]["description"]
        await conn.execute("ANALYZE change_log")  # current statistics for the keyset read
        unnest = (
            "INSERT INTO bench_rows SELECT * FROM unnest($1::uuid[], $2::uuid[],"
            " $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::bigint[])"
            " ON CONFLICT DO NOTHING"
        )
        # Each baseline runs twice and keeps its faster run (warm caches and
        # statements): the comparison errs on the baselines' side.
        copy_s = unnest_s = batched_s = writes_s = keyset_s = float("inf")
        read = 0
        for _ in range(2):
            await conn.execute("TRUNCATE bench_rows")
            started = time.perf_counter()
            await conn.copy_records_to_table("bench_rows", records=rows, columns=columns)
            copy_s = min(copy_s, time.perf_counter() - started)
            await conn.execute("TRUNCATE bench_rows")
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute(unnest, *arrays)
            unnest_s = min(unnest_s, time.perf_counter() - started)
            # The same insert a batch at a time, one commit each, as a push commits.
            await conn.execute("TRUNCATE bench_rows")
            started = time.perf_counter()
            for part in batches:
                async with conn.transaction():
                    await conn.execute(unnest, *part)
            batched_s = min(batched_s, time.perf_counter() - started)
            # Every row syncd writes for a task creation, a batch per transaction.
            await conn.execute("TRUNCATE bench_tasks, bench_task_events, bench_change_log")
            started = time.perf_counter()
            for w in writes:
                async with conn.transaction():
                    await conn.execute(WRITE_TASKS, tenant, user, description, *w.tasks)
                    await conn.execute(WRITE_EVENTS, tenant, user, *w.events)
                    await conn.execute(WRITE_LOG, tenant, user, *w.log)
            writes_s = min(writes_s, time.perf_counter() - started)
            # Pull's baseline: the same change-log rows syncd served, read by a raw
            # keyset query in pages of the same size (no scope, no JSON, no HTTP).
            started = time.perf_counter()
            last, read = 0, 0
            while True:
                page = await conn.fetch(
                    "SELECT * FROM change_log WHERE tenant_id = $1 AND version > $2"
                    " ORDER BY version LIMIT 5000",
                    bench_tenant,
                    last,
                )
                if not page:
                    break
                read += len(page)
                last = page[-1]["version"]
            keyset_s = min(keyset_s, time.perf_counter() - started)
    finally:
        await conn.close()
    return {
        "copy_per_s": len(rows) / copy_s,
        "unnest_per_s": len(rows) / unnest_s,
        "unnest_batched_per_s": len(rows) / batched_s,
        "creation_writes_per_s": len(rows) / writes_s,
        "keyset_per_s": read / keyset_s,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "sync.json")
    args = parser.parse_args()
    changes = changes_for(args.changes)
    async with fresh_database(args.dsn) as url:
        env = server_env(
            url.replace("postgresql://", "postgresql+asyncpg://"),
            MAX_BODY_BYTES=str(16 * 1024 * 1024),
            MAX_BATCH_CHANGES=str(max(args.batch, 500)),
        )
        with tempfile.TemporaryDirectory(prefix="syncd-bench-") as scratch:
            env["SYNCD_VAR_DIR"] = scratch
            await prepare(env, Path(scratch))
            ours = await measure_syncd(env, Path(scratch), changes, args.batch)
        base = await measure_baselines(url, changes, args.batch)
    rows = [
        ("push (changes/s)", ours["push_per_s"], "COPY", base["copy_per_s"]),
        ("push (changes/s)", ours["push_per_s"], "INSERT unnest ON CONFLICT", base["unnest_per_s"]),
        (
            "push (changes/s)",
            ours["push_per_s"],
            "same, a commit per batch",
            base["unnest_batched_per_s"],
        ),
        (
            "push (changes/s)",
            ours["push_per_s"],
            "every row a creation writes",
            base["creation_writes_per_s"],
        ),
        ("pull (changes/s)", ours["pull_per_s"], "raw keyset, same rows", base["keyset_per_s"]),
        (
            "resent batch (batches/s)",
            1 / ours["resent_batch_s"],
            "first send (batches/s)",
            1 / ours["first_batch_s"],
        ),
    ]
    print(
        f"\nsyncd sync push/pull: {args.changes} task changes, batches of {args.batch}, "
        f"PostgreSQL, {platform.machine()} {platform.python_version()}"
    )
    print(f"{'measure':28} {'syncd':>12} {'baseline':30} {'value':>12} {'ratio':>7}")
    for label, value, base_label, base_value in rows:
        print(
            f"{label:28} {value:12,.0f} {base_label:30} {base_value:12,.0f} "
            f"{value / base_value:7.2f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "sync_push_pull",
                "changes": args.changes,
                "batch": args.batch,
                "syncd": ours,
                "baselines": base,
                "rows": [
                    {
                        "measure": r[0],
                        "value": r[1],
                        "baseline": r[2],
                        "baseline_value": r[3],
                        "ratio": r[1] / r[3],
                    }
                    for r in rows
                ],
            },
            indent=2,
        )
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
