"""Context for the push and pull figures: the older, simpler baselines.

None of these writes what a push writes, so none is a floor (bench/push_floor.py
is): they show how far a single-table bulk write goes on this database server.
The pushed tasks' (id, title, description, priority, clocks, version) rows go
into a plain table with no row-level security or foreign keys: by asyncpg
`copy_records_to_table` (the raw ceiling), by one idempotent `INSERT ... SELECT
unnest(...) ON CONFLICT DO NOTHING` for all of them at once, and by the same
insert a batch per transaction. Pull's baseline is a raw keyset read of the
change-log rows syncd served, in pages of the same size (no scope, no JSON, no
HTTP). Each runs twice and keeps its faster run: the comparison errs on the
baselines' side.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg
from bench_report import reading

UNNEST = (
    "INSERT INTO bench_rows SELECT * FROM unnest($1::uuid[], $2::uuid[],"
    " $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::bigint[])"
    " ON CONFLICT DO NOTHING"
)
COLUMNS = ["tenant_id", "id", "title", "description", "priority", "field_clocks", "version"]


async def measure_context(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, changes: list[dict[str, Any]], batch: int
) -> dict[str, dict[str, float]]:
    await conn.execute(
        "CREATE TABLE bench_rows (tenant_id uuid, id uuid, title text, description text,"
        " priority text, field_clocks jsonb, version bigint, PRIMARY KEY (tenant_id, id))"
    )
    tenant = uuid.uuid4()
    rows = [
        (
            tenant,
            uuid.UUID(c["id"]),
            c["fields"]["title"],
            c["fields"]["description"],
            c["fields"]["priority"],
            json.dumps({"title": {"hlc": c["hlc"], "v": n, "by": "bench"}}),
            n,
        )
        for n, c in enumerate(changes, 1)
    ]
    arrays = [list(col) for col in zip(*rows, strict=True)]
    batches = [
        [list(col) for col in zip(*rows[i : i + batch], strict=True)]
        for i in range(0, len(rows), batch)
    ]
    await conn.execute("ANALYZE change_log")  # current statistics for the keyset read
    copy_s = unnest_s = batched_s = keyset_s = float("inf")
    read = 0
    for _ in range(2):
        await conn.execute("TRUNCATE bench_rows")
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_rows", records=rows, columns=COLUMNS)
        copy_s = min(copy_s, time.perf_counter() - started)
        await conn.execute("TRUNCATE bench_rows")
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(UNNEST, *arrays)
        unnest_s = min(unnest_s, time.perf_counter() - started)
        await conn.execute("TRUNCATE bench_rows")
        started = time.perf_counter()
        for part in batches:
            async with conn.transaction():
                await conn.execute(UNNEST, *part)
        batched_s = min(batched_s, time.perf_counter() - started)
        started = time.perf_counter()
        last, read = 0, 0
        while True:
            page = await conn.fetch(
                "SELECT * FROM change_log WHERE tenant_id = $1 AND version > $2"
                " ORDER BY version LIMIT 5000",
                tenant_id,
                last,
            )
            if not page:
                break
            read += len(page)
            last = page[-1]["version"]
        keyset_s = min(keyset_s, time.perf_counter() - started)
    return {
        "copy": reading(len(rows) / copy_s),
        "unnest": reading(len(rows) / unnest_s),
        "unnest_batched": reading(len(rows) / batched_s),
        "keyset": reading(read / keyset_s),
    }
