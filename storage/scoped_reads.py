"""A technician's share of the synced rows, read by the indexes that lead with the task.

A technician's pull reads the snapshot of their tasks, and, when an
assignment moves a task into or out of their scope, every row of that task.
On PostgreSQL each read is one statement per entity on the session's own
connection (its transaction, role and row-level security), with the task ids
as one array parameter (`task_id = ANY($2)`): the text is the same whatever
the number of tasks, so the statement is prepared once per connection, and
nothing renders a parameter per task in Python on each call (an `IN` list's
expansion did, and with the ORM's row handling it was most of a technician's
pull). Elsewhere (SQLite) storage.log_reads's statements serve.

Rows come back as dicts of column values, as storage.log_reads's readers
give them, without the hidden columns (no reader of these sends them), and
with asyncpg's UUIDs left as they are: a subclass of Python's that compares
and hashes as it does (converting each one cost more than the rest of the
read).
"""

from __future__ import annotations

import functools
import uuid
from typing import Any, NamedTuple

import orjson
from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, String, Uuid
from sqlalchemy.ext.asyncio import AsyncSession

from storage import log_reads
from storage import sync_store as store
from storage.types import UTCDateTime

Rows = dict[uuid.UUID, list[tuple[str, dict[str, Any]]]]


class Entry(NamedTuple):
    """One change-log entry of a technician's share, as their pull needs it (a
    tuple: a page makes thousands)."""

    version: int
    task_id: uuid.UUID | None
    assignee_id: uuid.UUID | None  # the technician an assignment's entry names
    active: bool  # for an assignment's entry: whether it assigns (or unassigns)
    change: Any  # the pulled change (on PostgreSQL an orjson.Fragment of its JSON)


# Each entry's pulled JSON written by the database (storage.log_reads.CHANGE_JSON:
# tests/integration/test_scoped_reads.py holds it to the whole log's text). Only
# an assignment's entry is read inside (`active`): the others' JSON goes out
# whole, and is carried once.
_SCOPED_LOG = (
    "SELECT version, task_id, assignee_id,"  # noqa: S608  (constant text)
    " CASE WHEN assignee_id IS NOT NULL THEN (data->>'active')::boolean END AS active,"
    f" {log_reads.CHANGE_JSON} AS change_json"
    " FROM change_log WHERE tenant_id = $1 AND version > $2 AND version <= $3"
    " AND (task_id = ANY($4::uuid[]) OR assignee_id = $5)"
    " ORDER BY version LIMIT $6"
)


async def read_log(
    session: AsyncSession,
    after: int,
    upto: int,
    task_ids: set[uuid.UUID],
    assignee: uuid.UUID,
    limit: int,
) -> list[Entry]:
    """Up to `limit` entries after `after` and up to `upto`, in version order, of
    the given tasks or assigning `assignee` (a technician's share of the log,
    read by the indexes that lead with the task and with the assignee)."""
    if session.get_bind().dialect.name != "postgresql":
        found = await log_reads.read_scoped_log(session, after, upto, task_ids, assignee, limit)
        entries = []
        for entry in found:
            data = orjson.loads(entry["data_json"]) if entry["entity"] == "task_assignment" else {}
            named = uuid.UUID(data["user_id"]) if data.get("user_id") else None
            change = log_reads.pulled_from_log(entry)
            entries.append(
                Entry(entry["version"], entry["task_id"], named, bool(data.get("active")), change)
            )
        return entries
    connection = await store.driver_connection(session)
    records = await connection.fetch(
        _SCOPED_LOG, store.tenant_of(session), after, upto, list(task_ids), assignee, limit
    )
    fragment = orjson.Fragment
    return [Entry(r[0], r[1], r[2], bool(r[3]), fragment(r[4])) for r in records]


@functools.cache
def _columns(entity: str) -> str:
    table = store.MODELS[entity].__table__
    keys = [c.key for c in table.columns if c.key not in store.HIDDEN_COLUMNS]
    return ", ".join(f't."{key}"' for key in keys)


@functools.cache
def _in_tasks(entity: str) -> str:
    """The SQL condition "this row hangs off one of the tasks in $2" (the tenant: $1).

    Media name their owner (a task, a purchase or a receipt) instead of a task;
    deleted purchases and receipts still own theirs.
    """
    if entity == "task":
        return "t.id = ANY($2::uuid[])"
    if entity != "media_asset":
        return "t.task_id = ANY($2::uuid[])"
    owned = "SELECT o.id FROM {table} AS o WHERE o.tenant_id = $1 AND o.task_id = ANY($2::uuid[])"
    return (
        "((t.owner_type = 'task' AND t.owner_id = ANY($2::uuid[]))"
        f" OR (t.owner_type = 'purchase' AND t.owner_id IN ({owned.format(table='purchases')}))"
        f" OR (t.owner_type = 'receipt' AND t.owner_id IN ({owned.format(table='receipts')})))"
    )


def _has_deleted_at(entity: str) -> bool:
    return "deleted_at" in store.MODELS[entity].__table__.columns


async def snapshot_page(
    session: AsyncSession,
    entity: str,
    upto: int,
    after_id: uuid.UUID | None,
    limit: int,
    task_ids: set[uuid.UUID],
) -> list[dict[str, Any]]:
    """Live rows of one entity at or below version `upto`, by id after `after_id`,
    hanging off one of `task_ids` (storage.log_reads.snapshot_page in a scope)."""
    if session.get_bind().dialect.name != "postgresql":
        return await log_reads.snapshot_page(session, entity, upto, after_id, limit, task_ids)
    table = store.MODELS[entity].__tablename__
    live = " AND t.deleted_at IS NULL" if _has_deleted_at(entity) else ""
    sql = (
        f'SELECT {_columns(entity)} FROM "{table}" AS t'  # noqa: S608  (names from the models)
        f" WHERE t.tenant_id = $1 AND {_in_tasks(entity)} AND t.version <= $3{live}"
        " AND ($4::uuid IS NULL OR t.id > $4) ORDER BY t.id LIMIT $5"
    )
    connection = await store.driver_connection(session)
    found = await connection.fetch(
        sql,
        store.tenant_of(session),
        list(task_ids),
        upto,
        after_id,
        limit,
    )
    return [dict(record) for record in found]


async def rows_of_tasks(
    session: AsyncSession, task_ids: set[uuid.UUID], *, live_only: bool
) -> Rows:
    """Each task's row and every row that hangs off it, as (entity, row) in the
    snapshot's entity order, by id within an entity: the live ones, or with
    `live_only=False` the deleted ones too (log_reads.rows_of_tasks)."""
    if session.get_bind().dialect.name != "postgresql":
        return await log_reads.rows_of_tasks(session, task_ids, live_only=live_only)
    found: Rows = {task: [] for task in task_ids}
    if not task_ids:
        return found
    connection = await store.driver_connection(session)
    tenant_id = store.tenant_of(session)
    wanted = list(task_ids)
    owners = await _owners(connection, tenant_id, wanted)
    for entity in store.SNAPSHOT_ORDER:
        table = store.MODELS[entity].__tablename__
        live = " AND t.deleted_at IS NULL" if live_only and _has_deleted_at(entity) else ""
        sql = (
            f'SELECT {_columns(entity)} FROM "{table}" AS t'  # noqa: S608  (names from the models)
            f" WHERE t.tenant_id = $1 AND {_in_tasks(entity)}{live} ORDER BY t.id"
        )
        for record in await connection.fetch(sql, tenant_id, wanted):
            row = dict(record)
            task = log_reads.task_of_row(entity, row, owners)
            if task in found:
                found[task].append((entity, row))
    return found


class Moved(NamedTuple):
    """A row an assignment brings, with its `data` as the JSON text devices receive."""

    entity: str
    id: uuid.UUID
    version: int
    data: str  # the bytes of orjson.dumps(sync_store.row_to_json(entity, row)), as text


MovedRows = dict[uuid.UUID, list[Moved]]


async def moved_rows_of_tasks(session: AsyncSession, upto: dict[uuid.UUID, int]) -> MovedRows:
    """The live rows of each task of `upto` (`rows_of_tasks(live_only=True)`) at
    or below the task's version there (a later row comes in its own entry), each
    with its pulled `data` as JSON text. Media are read at every version (the
    caller filters again). On PostgreSQL the database writes the text, but for
    the JSON and floating-point columns: they are read as the row's reader reads
    them, and written by orjson (see `_data_sql`)."""
    task_ids = set(upto)
    if session.get_bind().dialect.name != "postgresql":
        rows = await log_reads.rows_of_tasks(session, task_ids, live_only=True)
        return {
            task: [_moved(entity, row) for entity, row in found if row["version"] <= upto[task]]
            for task, found in rows.items()
        }
    found: MovedRows = {task: [] for task in task_ids}
    if not task_ids:
        return found
    connection = await store.driver_connection(session)
    tenant_id = store.tenant_of(session)
    wanted = list(task_ids)
    versions = [upto[task] for task in wanted]
    owners = await _owners(connection, tenant_id, wanted)
    for entity in store.SNAPSHOT_ORDER:
        table = store.MODELS[entity].__tablename__
        live = " AND t.deleted_at IS NULL" if _has_deleted_at(entity) else ""
        pieces, split = _data_sql(entity)
        first = 4 if entity == "media_asset" else 3
        select = f'SELECT t.id, t.version, {_task_key(entity)}, {pieces} FROM "{table}" AS t'  # noqa: S608
        if entity == "media_asset":
            sql = f"{select} WHERE t.tenant_id = $1 AND {_in_tasks(entity)}{live} ORDER BY t.id"
            params: tuple[Any, ...] = (tenant_id, wanted)
        else:  # each task's rows up to its version
            sql = (
                f"{select} JOIN unnest($2::uuid[], $3::bigint[]) AS w(task, upto)"
                f" ON {_task_key(entity)} = w.task AND t.version <= w.upto"
                f" WHERE t.tenant_id = $1{live} ORDER BY t.id"
            )
            params = (tenant_id, wanted, versions)
        for record in await connection.fetch(sql, *params):
            if entity == "media_asset":
                task = record[2] if record[3] == "task" else owners.get((record[3], record[2]))
            else:
                task = record[2]
            if task not in found:
                continue
            text = _joined(record, first) if split else record[-1]
            found[task].append(Moved(entity, record[0], record[1], text))
    return found


def _moved(entity: str, row: dict[str, Any]) -> Moved:
    data = orjson.dumps(store.row_to_json(entity, row)).decode()
    return Moved(entity, row["id"], row["version"], data)


async def _owners(
    connection: Any, tenant_id: uuid.UUID, wanted: list[uuid.UUID]
) -> dict[tuple[str, uuid.UUID], uuid.UUID]:
    """The task of each purchase and receipt of the tasks (deleted ones too): the
    task of the media they own."""
    owners: dict[tuple[str, uuid.UUID], uuid.UUID] = {}
    if "media_asset" in store.SNAPSHOT_ORDER:
        for owner_type, table in (("purchase", "purchases"), ("receipt", "receipts")):
            named = await connection.fetch(
                f'SELECT id, task_id FROM "{table}"'  # noqa: S608  (a constant name)
                " WHERE tenant_id = $1 AND task_id = ANY($2::uuid[])",
                tenant_id,
                wanted,
            )
            for record in named:
                owners[(owner_type, record[0])] = record[1]
    return owners


def _task_key(entity: str) -> str:
    """The columns naming a row's task: 2 of them for media (owner id, type)."""
    if entity == "task":
        return "t.id"
    if entity == "media_asset":
        return "t.owner_id, t.owner_type"
    return "t.task_id"


# A timestamp as Python's `isoformat()` writes it in UTC, "+00:00" as "Z": the
# microseconds only when there are some (one `to_char` of the two formats).
_TIME_SQL = (
    "CASE WHEN t.{c} IS NULL THEN 'null' ELSE '\"' || to_char(t.{c} AT TIME ZONE 'UTC',"
    " CASE WHEN date_trunc('second', t.{c}) = t.{c} THEN 'YYYY-MM-DD\"T\"HH24:MI:SS'"
    " ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US' END) || 'Z\"' END"
)


@functools.cache
def _data_sql(entity: str) -> tuple[str, bool]:
    """SQL writing a row's pulled `data` as orjson writes `row_to_json(entity,
    row)`, and whether it leaves columns to Python.

    Text, UUIDs, integers, booleans and timestamps are written by the database
    in the very bytes orjson gives (tests/integration/test_scoped_reads.py holds
    them to it). A JSON column (jsonb: spaced, its numbers as written) and a
    float (PostgreSQL writes 1.0 as "1") are not: each is read as the row's
    reader reads it, between two pieces the database wrote, and written by
    orjson (`_joined`). With no such column the SQL is one column of the whole
    text.
    """
    parts: list[str] = []  # SQL pieces of the current run of text
    columns: list[str] = []
    opening = "{"
    for column in store.MODELS[entity].__table__.columns:
        if column.key in store.HIDDEN_COLUMNS:
            continue
        key = f"'{opening}{orjson.dumps(column.key).decode()}:'"
        opening = ","
        kind = _kind(column)
        if kind in ("json", "float"):
            parts.append(key)
            columns.append(" || ".join(parts))
            columns.append(f"t.{column.key}")
            parts = []
            continue
        parts.append(key)
        parts.append(_VALUE_SQL[kind].format(c=column.key))
    parts.append("'}'")
    columns.append(" || ".join(parts))
    return ", ".join(columns), len(columns) > 1


_VALUE_SQL = {
    "text": "COALESCE(to_json(t.{c})::text, 'null')",
    "uuid": "COALESCE('\"' || t.{c}::text || '\"', 'null')",
    "int": "COALESCE(t.{c}::text, 'null')",
    "bool": "COALESCE(t.{c}::text, 'null')",
    "time": _TIME_SQL,
}


def _kind(column: Any) -> str:
    kind = column.type
    for sql_type, name in (
        (UTCDateTime, "time"),
        (Uuid, "uuid"),
        (Boolean, "bool"),
        (Float, "float"),
        (JSON, "json"),
        (BigInteger, "int"),
        (Integer, "int"),
        (String, "text"),
    ):
        if isinstance(kind, sql_type):
            return name
    raise TypeError(f"no JSON writing known for {column.key}: {kind!r}")


def _joined(record: Any, first: int) -> str:
    """The pieces the database wrote from column `first` on, with the JSON and
    float values between them written by orjson (as after `row_to_json`)."""
    dumps = orjson.dumps
    pieces = record[first:]
    text = [pieces[0]]
    for n in range(1, len(pieces), 2):
        text.append(dumps(pieces[n]).decode())
        text.append(pieces[n + 1])
    return "".join(text)
