"""The floor of a push: exactly the rows syncd wrote, written again raw.

After syncd has applied a push benchmark's batches, `capture` reads back,
batch by batch, every row those batches wrote (by the versions each batch's
answer spans): the task rows, their timeline entries, the change-log entries,
the push_batches row, and the number of versions the tenant's counter moved.
`clone_tables` makes `floor_*` tables of the same shape as syncd's (columns,
defaults, keys, indexes, foreign keys pointing at each other's clones or at
`tenants`, row-level security forced with the same policies), and `replay`
writes the captured rows into them with the same batch boundaries, one
transaction per batch, under the same role and tenant setting a tenant unit of
work uses (storage/unit_of_work.py): the database work of the push with no
sync logic at all. A column that holds one value in every row of a batch is
sent once, as syncd's bulk insert does; new rows are inserted, changed rows
updated by key.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

TENANT_ROLE = "syncd_tenant"
TABLES = ("tenant_versions", "tasks", "task_events", "change_log", "push_batches")
PREFIX = "floor_"
_REFERENCES = re.compile(r"REFERENCES (\w+)\(")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    key: tuple[str, ...]


async def describe(conn: asyncpg.Connection, name: str) -> Table:
    """Columns, their SQL types and the primary key of a table."""
    columns = await conn.fetch(
        "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute"
        " WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        name,
    )
    key = await conn.fetchval(
        "SELECT array_agg(a.attname ORDER BY k.n) FROM pg_index i"
        " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = $1::text::regclass AND i.indisprimary",
        name,
    )
    return Table(
        name,
        tuple(c["attname"] for c in columns),
        tuple(c["type"] for c in columns),
        tuple(key or ()),
    )


async def clone_tables(conn: asyncpg.Connection, tables: tuple[str, ...] = TABLES) -> None:
    """`floor_<name>` for each table: same shape, keys, row-level security."""
    for name in tables:
        await conn.execute(f"CREATE TABLE {PREFIX}{name} (LIKE {name} INCLUDING ALL)")
    for name in tables:
        keys = await conn.fetch(
            "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint"
            " WHERE conrelid = $1::text::regclass AND contype = 'f'",
            name,
        )
        for found in keys:
            definition = _REFERENCES.sub(
                lambda m: f"REFERENCES {PREFIX if m[1] in tables else ''}{m[1]}(",
                found["definition"],
            )
            await conn.execute(f"ALTER TABLE {PREFIX}{name} ADD {definition}")
        await conn.execute(f"ALTER TABLE {PREFIX}{name} ENABLE ROW LEVEL SECURITY")
        await conn.execute(f"ALTER TABLE {PREFIX}{name} FORCE ROW LEVEL SECURITY")
        policies = await conn.fetch(
            "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies"
            " WHERE schemaname = current_schema() AND tablename = $1",
            name,
        )
        for p in policies:
            roles = ", ".join(p["roles"])
            using = f" USING ({p['qual']})" if p["qual"] else ""
            check = f" WITH CHECK ({p['with_check']})" if p["with_check"] else ""
            await conn.execute(
                f"CREATE POLICY {p['policyname']} ON {PREFIX}{name} AS {p['permissive']}"
                f" FOR {p['cmd']} TO {roles}{using}{check}"
            )
        await conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {PREFIX}{name} TO {TENANT_ROLE}"
        )


@dataclass
class Write:
    """Rows of one table for one batch: inserted, or updated by key."""

    table: Table
    rows: list[tuple[Any, ...]]
    update: bool = False

    def statement(self) -> tuple[str, list[Any]]:
        """One statement and its arguments: arrays per column, or one value for a
        column every row shares."""
        params: list[Any] = []
        selects: list[str] = []
        arrays: list[str] = []
        for index, kind in enumerate(self.table.types):
            values = [row[index] for row in self.rows]
            if all(v == values[0] for v in values):
                params.append(values[0])
                selects.append(f"${len(params)}::{kind}")
            else:
                params.append(values)
                arrays.append(f"${len(params)}::{kind}[]")
                selects.append(f"u.c{index}")
        if not arrays and len(self.rows) != 1:
            raise ValueError(f"{len(self.rows)} identical rows for {self.table.name}")
        names = [f"c{i}" for i, _ in enumerate(self.table.columns) if f"u.c{i}" in selects]
        source = f" FROM unnest({', '.join(arrays)}) AS u({', '.join(names)})" if arrays else ""
        target = PREFIX + self.table.name
        if not self.update:
            columns = ", ".join(self.table.columns)
            return f"INSERT INTO {target} ({columns}) SELECT {', '.join(selects)}{source}", params
        value = dict(zip(self.table.columns, selects, strict=True))
        sets = ", ".join(f"{c} = {value[c]}" for c in self.table.columns if c not in self.table.key)
        where = " AND ".join(f"t.{c} = {value[c]}" for c in self.table.key)
        return f"UPDATE {target} AS t SET {sets}{source} WHERE {where}", params


@dataclass
class Batch:
    """What one pushed batch wrote: its versions and rows, table by table."""

    versions: int
    writes: list[Write]
    job_numbers: int = 0  # the tasks it created, each given the tenant's next job number


async def capture(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    spans: list[tuple[int, int, str]],
    updated: tuple[str, ...] = (),
) -> list[Batch]:
    """The rows each batch wrote, by its versions (low, high] and batch id; rows of
    the tables named in `updated` existed before and are replayed as updates."""
    tables = {name: await describe(conn, name) for name in TABLES}
    batches = []
    for low, high, batch_id in spans:
        writes = []
        for name in ("tasks", "task_events", "change_log"):
            table = tables[name]
            rows = await conn.fetch(
                f"SELECT {', '.join(table.columns)} FROM {name}"
                " WHERE tenant_id = $1 AND version > $2 AND version <= $3 ORDER BY version",
                tenant_id,
                low,
                high,
            )
            if rows:
                writes.append(Write(table, [tuple(r) for r in rows], name in updated))
        table = tables["push_batches"]
        row = await conn.fetchrow(
            f"SELECT {', '.join(table.columns)} FROM push_batches"
            " WHERE tenant_id = $1 AND batch_id = $2",
            tenant_id,
            batch_id,
        )
        writes.append(Write(table, [tuple(row)]))
        created = await conn.fetchval(
            "SELECT count(*) FROM tasks WHERE tenant_id = $1 AND version > $2"
            " AND version <= $3 AND created_at = updated_at",
            tenant_id,
            low,
            high,
        )
        batches.append(Batch(high - low, writes, 0 if "tasks" in updated else int(created)))
    return batches


async def reset(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> None:
    """Empty the floor tables; the tenant's counter row at 0."""
    await conn.execute(f"TRUNCATE {', '.join(PREFIX + name for name in TABLES)}")
    await conn.execute(
        f"INSERT INTO {PREFIX}tenant_versions (tenant_id, version) VALUES ($1, 0)", tenant_id
    )


async def replay(conn: asyncpg.Connection, tenant_id: uuid.UUID, batches: list[Batch]) -> float:
    """Write `batches` into the floor tables, a transaction each, under the tenant
    role; answers the seconds it took."""
    statements = [[w.statement() for w in batch.writes] for batch in batches]
    started = time.perf_counter()
    for batch, writes in zip(batches, statements, strict=True):
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true)",
                TENANT_ROLE,
                str(tenant_id),
            )
            # The counter moves (and its row stays locked) as a push's does.
            await conn.fetchval(
                f"UPDATE {PREFIX}tenant_versions SET version = version + $2,"
                " job_number = job_number + $3 WHERE tenant_id = $1 RETURNING version",
                tenant_id,
                batch.versions,
                batch.job_numbers,
            )
            for sql, params in writes:
                await conn.execute(sql, *params)
    return time.perf_counter() - started
