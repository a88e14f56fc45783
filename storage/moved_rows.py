"""The rows an assignment brings to a technician, with their pulled JSON.

When a page of a technician's log assigns them a task, they receive the task's
live rows as they stood at the assignment. On PostgreSQL the rows of every
entity and every task of the page come in one statement (a `UNION ALL` of one
branch per entity, by the indexes that lead with the task), on the session's
own connection, and the database writes each row's `data` as the JSON text
devices receive, but for the JSON and floating-point columns (see
`_data_sql`). Elsewhere (SQLite) storage.log_reads.rows_of_tasks serves, and
the text is written here.
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
from storage.scoped_reads import has_deleted_at, in_tasks_sql
from storage.types import UTCDateTime


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
    with its pulled `data` as JSON text, in the snapshot's entity order, by id
    within an entity. Media are read at every version (the caller filters
    again)."""
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
    wanted = list(task_ids)
    versions = [upto[task] for task in wanted]
    records = await connection.fetch(_moved_sql(), store.tenant_of(session), wanted, versions)
    entities = store.SNAPSHOT_ORDER
    kinds = [_data_sql(entity)[2] for entity in entities]
    for record in records:
        given = found.get(record[3])
        if given is None:  # (a medium of a purchase or receipt of no task of these)
            continue
        n = record[0]
        text = record[4] if record[4] is not None else _joined(record[5], kinds[n])
        given.append(Moved(entities[n], record[1], record[2], text))
    return found


def _moved(entity: str, row: dict[str, Any]) -> Moved:
    data = orjson.dumps(store.row_to_json(entity, row)).decode()
    return Moved(entity, row["id"], row["version"], data)


@functools.cache
def _moved_sql() -> str:
    """One branch per entity, each row as (entity's position in the snapshot
    order, id, version, task, its `data` text or NULL, the pieces of that text
    or NULL): $1 the tenant, $2 the tasks, $3 each task's version."""
    branches = []
    for n, entity in enumerate(store.SNAPSHOT_ORDER):
        table = store.MODELS[entity].__tablename__
        live = " AND t.deleted_at IS NULL" if has_deleted_at(entity) else ""
        whole, pieces, _ = _data_sql(entity)
        select = (
            f"SELECT {n}, t.id, t.version, {_task_of(entity)}, {whole}, {pieces}"  # noqa: S608
            f' FROM "{table}" AS t'
        )
        if entity == "media_asset":
            branches.append(f"{select} WHERE t.tenant_id = $1 AND {in_tasks_sql(entity)}{live}")
        else:  # each task's rows up to its version
            branches.append(
                f"{select} JOIN unnest($2::uuid[], $3::bigint[]) AS w(task, upto)"
                f" ON {_task_of(entity)} = w.task AND t.version <= w.upto"
                f" WHERE t.tenant_id = $1{live}"
            )
    return " UNION ALL ".join(f"({branch})" for branch in branches) + " ORDER BY 1, 2"


def _task_of(entity: str) -> str:
    """SQL of the task a row hangs off (a medium's through its owner, deleted
    purchases and receipts too)."""
    if entity == "task":
        return "t.id"
    if entity != "media_asset":
        return "t.task_id"
    owner = "(SELECT o.task_id FROM {table} AS o WHERE o.tenant_id = $1 AND o.id = t.owner_id)"
    return (
        "CASE t.owner_type WHEN 'task' THEN t.owner_id"
        f" WHEN 'purchase' THEN {owner.format(table='purchases')}"
        f" WHEN 'receipt' THEN {owner.format(table='receipts')} END"
    )


# A timestamp as Python's `isoformat()` writes it in UTC, "+00:00" as "Z": the
# microseconds only when there are some (one `to_char` of the two formats).
_TIME_SQL = (
    "CASE WHEN t.{c} IS NULL THEN 'null' ELSE '\"' || to_char(t.{c} AT TIME ZONE 'UTC',"
    " CASE WHEN date_trunc('second', t.{c}) = t.{c} THEN 'YYYY-MM-DD\"T\"HH24:MI:SS'"
    " ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US' END) || 'Z\"' END"
)


@functools.cache
def _data_sql(entity: str) -> tuple[str, str, tuple[str, ...]]:
    """SQL writing a row's pulled `data` as orjson writes `row_to_json(entity,
    row)`: (the whole text, or NULL; the text in pieces, or NULL; the kinds of
    the columns the pieces leave to Python).

    Text, UUIDs, integers, booleans and timestamps are written by the database
    in the very bytes orjson gives (tests/integration/test_scoped_reads.py holds
    them to it). A JSON column (jsonb: spaced, its numbers as written) and a
    float (PostgreSQL writes 1.0 as "1") are not: each comes as its text between
    two pieces the database wrote, is read back as the row's reader reads it
    (orjson.loads, float) and written by orjson (`_joined`). With no such column
    the whole text is one column, and the pieces NULL; else the other way round.
    """
    parts: list[str] = []  # SQL pieces of the current run of text
    pieces: list[str] = []
    kinds: list[str] = []
    opening = "{"
    for column in store.MODELS[entity].__table__.columns:
        if column.key in store.HIDDEN_COLUMNS:
            continue
        key = f"'{opening}{orjson.dumps(column.key).decode()}:'"
        opening = ","
        kind = _kind(column)
        parts.append(key)
        if kind in ("json", "float"):
            pieces.append(" || ".join(parts))
            pieces.append(f"t.{column.key}::text")
            kinds.append(kind)
            parts = []
            continue
        parts.append(_VALUE_SQL[kind].format(c=column.key))
    parts.append("'}'")
    pieces.append(" || ".join(parts))
    if not kinds:
        return pieces[0], "NULL::text[]", ()
    return "NULL::text", f"ARRAY[{', '.join(pieces)}]", tuple(kinds)


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


def _joined(pieces: list[str | None], kinds: tuple[str, ...]) -> str:
    """The pieces the database wrote, with the JSON and float values between
    them (as text) read back and written by orjson (as after `row_to_json`)."""
    dumps, loads = orjson.dumps, orjson.loads
    text = [pieces[0]]
    for n, kind in enumerate(kinds, 1):
        piece = pieces[2 * n - 1]
        if piece is None:
            text.append("null")
        elif kind == "json":
            text.append(dumps(loads(piece)).decode())
        else:
            text.append(dumps(float(piece)).decode())
        text.append(pieces[2 * n])
    return "".join(text)  # type: ignore[arg-type]
