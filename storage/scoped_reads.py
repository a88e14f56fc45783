"""A technician's share of the synced rows, read by the indexes that lead with the task.

A technician's pull reads their share of the log (`read_share`), the snapshot
of their tasks, and, when an assignment takes a task out of their scope,
every row of that task (the rows an assignment brings: storage.moved_rows).
On PostgreSQL each read is one statement (per entity) on the session's own
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
from sqlalchemy.ext.asyncio import AsyncSession

from storage import log_reads
from storage import sync_ledger as ledger
from storage import sync_store as store

MAX_VERSION = 2**63 - 1

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
# whole, and is carried once. The bound is the lesser of $3 and the tenant's
# version, read in the same statement (one snapshot): it comes first, as a row
# of its own at version -1 (entries are above any cursor, >= 0), so that an
# empty page has it too; the two sorted parts are merged, not sorted again.
_UPTO = (
    "(SELECT LEAST($3::bigint, COALESCE("
    "(SELECT v.version FROM tenant_versions AS v WHERE v.tenant_id = $1), 0)))"
)
_SCOPED_LOG = (
    "SELECT * FROM ((SELECT -1::bigint AS version, NULL::uuid AS task_id,"  # noqa: S608
    " NULL::uuid AS assignee_id, NULL::boolean AS active, NULL::text AS change_json,"
    f" {_UPTO} AS upto)"
    " UNION ALL (SELECT version, task_id, assignee_id,"
    " CASE WHEN assignee_id IS NOT NULL THEN (data->>'active')::boolean END,"
    f" {log_reads.CHANGE_JSON}, NULL::bigint"
    f" FROM change_log WHERE tenant_id = $1 AND version > $2 AND version <= {_UPTO}"
    " AND (task_id = ANY($4::uuid[]) OR assignee_id = $5)"
    " ORDER BY version LIMIT $6)) AS page ORDER BY version"
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
    return (await read_share(session, after, task_ids, assignee, limit, upto))[1]


async def read_share(
    session: AsyncSession,
    after: int,
    task_ids: set[uuid.UUID],
    assignee: uuid.UUID,
    limit: int,
    upto: int = MAX_VERSION,
) -> tuple[int, list[Entry]]:
    """The tenant's version (at most `upto`), and `read_log` up to it: the entries
    a page of a technician's log holds, and the version a page that holds them
    all has read up to (versions follow commit order: no later commit can add an
    entry at or below it)."""
    if session.get_bind().dialect.name != "postgresql":
        upto = min(upto, await ledger.current_version(session))
        found = await log_reads.read_scoped_log(session, after, upto, task_ids, assignee, limit)
        entries = []
        for entry in found:
            data = orjson.loads(entry["data_json"]) if entry["entity"] == "task_assignment" else {}
            named = uuid.UUID(data["user_id"]) if data.get("user_id") else None
            change = log_reads.pulled_from_log(entry)
            entries.append(
                Entry(entry["version"], entry["task_id"], named, bool(data.get("active")), change)
            )
        return upto, entries
    connection = await store.driver_connection(session)
    records = await connection.fetch(
        _SCOPED_LOG, store.tenant_of(session), after, upto, list(task_ids), assignee, limit
    )
    fragment, make = orjson.Fragment, tuple.__new__  # (Entry's own __new__ is Python's)
    bound, *found = records
    entries = [make(Entry, (r[0], r[1], r[2], r[3] is True, fragment(r[4]))) for r in found]
    return bound[5], entries


@functools.cache
def _columns(entity: str) -> str:
    table = store.MODELS[entity].__table__
    keys = [c.key for c in table.columns if c.key not in store.HIDDEN_COLUMNS]
    return ", ".join(f't."{key}"' for key in keys)


@functools.cache
def in_tasks_sql(entity: str) -> str:
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


def has_deleted_at(entity: str) -> bool:
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
    live = " AND t.deleted_at IS NULL" if has_deleted_at(entity) else ""
    sql = (
        f'SELECT {_columns(entity)} FROM "{table}" AS t'  # noqa: S608  (names from the models)
        f" WHERE t.tenant_id = $1 AND {in_tasks_sql(entity)} AND t.version <= $3{live}"
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
        live = " AND t.deleted_at IS NULL" if live_only and has_deleted_at(entity) else ""
        sql = (
            f'SELECT {_columns(entity)} FROM "{table}" AS t'  # noqa: S608  (names from the models)
            f" WHERE t.tenant_id = $1 AND {in_tasks_sql(entity)}{live} ORDER BY t.id"
        )
        for record in await connection.fetch(sql, tenant_id, wanted):
            row = dict(record)
            task = log_reads.task_of_row(entity, row, owners)
            if task in found:
                found[task].append((entity, row))
    return found


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
