"""Reads of the change log and of the synced rows for pulls and the live feed:
the log after a version (whole, or a technician's share), snapshot pages, the
rows hanging off tasks, and a technician's assigned tasks.

Like storage.sync_store (whose models, connection and tenant helpers these
use), every function takes a tenant-bound session
(storage.unit_of_work.TenantUnitOfWork). On PostgreSQL the log readers let the
database write each pulled change's JSON (`CHANGE_JSON`); elsewhere (SQLite)
the entries are shaped here. storage.scoped_reads holds the PostgreSQL
statements of a technician's share.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Text, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChangeLogEntry, MediaAsset, Purchase, Receipt, Task, TaskAssignment
from storage.sync_store import MODELS, SNAPSHOT_ORDER, driver_connection, tenant_of


async def read_log(session: AsyncSession, after: int, limit: int) -> tuple[list[Any], int, bool]:
    """Up to `limit` change-log entries after a version, in version order, each
    with its row's JSON text as `data_json`.

    Answers (entries, the version read up to, whether more may follow).
    """
    if session.get_bind().dialect.name == "postgresql":
        found: list[Any] = await (await driver_connection(session)).fetch(
            "SELECT version, entity, entity_id, op, task_id, data::text AS data_json"
            " FROM change_log WHERE tenant_id = $1 AND version > $2 ORDER BY version LIMIT $3",
            tenant_of(session),
            after,
            limit,
        )
        return found, (found[-1]["version"] if found else after), len(found) == limit
    log = ChangeLogEntry
    statement = (
        select(
            log.version,
            log.entity,
            log.entity_id,
            log.op,
            log.task_id,
            log.assignee_id,
            # The row's JSON as stored, not decoded: a pull hands it on verbatim.
            cast(log.data, Text).label("data_json"),
        )
        .where(log.version > after)
        .order_by(log.version)
        .limit(limit)
    )
    rows = [dict(row) for row in (await session.execute(statement)).mappings()]
    scanned_to = rows[-1]["version"] if rows else after
    return rows, scanned_to, len(rows) == limit


async def read_scoped_log(
    session: AsyncSession,
    after: int,
    upto: int,
    task_ids: set[uuid.UUID],
    assignee: uuid.UUID,
    limit: int,
) -> list[Any]:
    """Up to `limit` entries after `after` and up to `upto`, in version order, of
    the given tasks or assigning `assignee` (a technician's share of the log,
    read by the indexes that lead with the task and with the assignee), each
    with its row's JSON text as `data_json`. The general statement (SQLite):
    storage.scoped_reads writes PostgreSQL's own."""
    log = ChangeLogEntry
    statement = (
        select(
            log.version,
            log.entity,
            log.entity_id,
            log.op,
            log.task_id,
            cast(log.data, Text).label("data_json"),
        )
        .where(
            log.version > after,
            log.version <= upto,
            or_(log.task_id.in_(task_ids), log.assignee_id == assignee),
        )
        .order_by(log.version)
        .limit(limit)
    )
    return [dict(row) for row in (await session.execute(statement)).mappings()]


# A pulled change as the database writes it: the same keys, order and text as
# `orjson.dumps` of {"version", "entity", "id", "op", "data"}, with the stored
# row JSON spliced in verbatim (PostgreSQL's uuid text is Python's `str(uuid)`).
# The entity and the op go in unquoted by the database: only the server writes
# them, an entity registry name and an op (lower-case words, nothing JSON would
# escape); quoting them (`to_json`) was a quarter of the database's work per page.
CHANGE_JSON = (
    """'{"version":' || version || ',"entity":"' || entity"""
    """ || '","id":"' || entity_id || '","op":"' || op"""
    """ || '","data":' || data::text || '}'"""
)


async def read_log_changes(
    session: AsyncSession, after: int, limit: int
) -> tuple[list[Any], int, bool]:
    """Up to `limit` changes after a version, in version order, ready to encode:
    each is an `orjson.Fragment` of the pulled change's JSON (what a reader who
    sees every row gets: admins, staff, the shared live feed).

    On PostgreSQL the database writes each change's JSON, so a page costs no
    Python work per change; elsewhere the entries are shaped here. Answers
    (changes, the version read up to, whether more may follow).
    """
    if session.get_bind().dialect.name != "postgresql":
        entries, scanned_to, full = await read_log(session, after, limit)
        return [pulled_from_log(entry) for entry in entries], scanned_to, full
    found = await (await driver_connection(session)).fetch(
        f"SELECT version, {CHANGE_JSON} FROM change_log"  # noqa: S608  (constant text)
        " WHERE tenant_id = $1 AND version > $2 ORDER BY version LIMIT $3",
        tenant_of(session),
        after,
        limit,
    )
    fragment = orjson.Fragment
    changes = [fragment(record[1]) for record in found]
    return changes, (found[-1][0] if found else after), len(found) == limit


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One change of the live feed: its pulled JSON, and what a technician's
    filter needs (the task it hangs off, the technician it assigns)."""

    task_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    change: Any  # an orjson.Fragment, or a dict holding one


async def read_feed(
    session: AsyncSession, after: int, limit: int
) -> tuple[list[FeedItem], int, bool]:
    """Up to `limit` changes after a version, for the tenant's live feed: each with
    its task and assignee, its JSON written by the database on PostgreSQL.
    Answers (items, the version read up to, whether more may follow)."""
    if session.get_bind().dialect.name != "postgresql":
        entries, scanned_to, full = await read_log(session, after, limit)
        items = [
            FeedItem(entry["task_id"], entry.get("assignee_id"), pulled_from_log(entry))
            for entry in entries
        ]
        return items, scanned_to, full
    found = await (await driver_connection(session)).fetch(
        f"SELECT version, task_id, assignee_id, {CHANGE_JSON} FROM change_log"  # noqa: S608
        " WHERE tenant_id = $1 AND version > $2 ORDER BY version LIMIT $3",
        tenant_of(session),
        after,
        limit,
    )
    fragment = orjson.Fragment
    items = [FeedItem(_uuid(record[1]), _uuid(record[2]), fragment(record[3])) for record in found]
    return items, (found[-1][0] if found else after), len(found) == limit


def _uuid(value: Any) -> uuid.UUID | None:
    """asyncpg's UUIDs as Python's (it hands back a subclass of its own)."""
    return None if value is None else uuid.UUID(bytes=value.bytes)


def pulled_from_log(entry: Any) -> Any:
    """A pulled change made of a `read_log` entry; its `data` is the stored JSON,
    passed on without decoding (encode answers holding it with orjson). An entry
    read with its whole change's JSON (`change_json`) gives that, as a Fragment."""
    if "change_json" in entry.keys():  # noqa: SIM118  (an asyncpg Record has no `in`)
        return orjson.Fragment(entry["change_json"])
    return {
        "version": entry["version"],
        "entity": entry["entity"],
        "id": str(entry["entity_id"]),
        "op": entry["op"],
        "data": orjson.Fragment(entry["data_json"]),
    }


async def snapshot_page(
    session: AsyncSession,
    entity: str,
    upto: int,
    after_id: uuid.UUID | None,
    limit: int,
    task_ids: set[uuid.UUID] | None,
) -> list[dict[str, Any]]:
    """Live rows of one entity at or below version `upto`, by id, within scope."""
    model: Any = MODELS[entity]
    statement = select(model.__table__).where(model.version <= upto).order_by(model.id).limit(limit)
    if hasattr(model, "deleted_at"):
        statement = statement.where(model.deleted_at.is_(None))
    if after_id is not None:
        statement = statement.where(model.id > after_id)
    if task_ids is not None:
        statement = statement.where(_in_tasks(entity, task_ids))
    result = await session.execute(statement)
    return [dict(row) for row in result.mappings()]


def _in_tasks(entity: str, task_ids: set[uuid.UUID]) -> Any:
    """The condition "this row hangs off one of these tasks".

    Media name their owner (a task, a purchase or a receipt) instead of a task.
    """
    if entity == "task":
        return Task.id.in_(task_ids)
    if entity != "media_asset":
        return MODELS[entity].task_id.in_(task_ids)  # type: ignore[attr-defined]
    purchases = select(Purchase.id).where(Purchase.task_id.in_(task_ids))
    receipts = select(Receipt.id).where(Receipt.task_id.in_(task_ids))
    return or_(
        (MediaAsset.owner_type == "task") & MediaAsset.owner_id.in_(task_ids),
        (MediaAsset.owner_type == "purchase") & MediaAsset.owner_id.in_(purchases),
        (MediaAsset.owner_type == "receipt") & MediaAsset.owner_id.in_(receipts),
    )


async def rows_of_task(
    session: AsyncSession, task_id: uuid.UUID, *, live_only: bool = True
) -> list[tuple[str, dict[str, Any]]]:
    """The task and every row that hangs off it, as (entity, row): the live ones,
    or with `live_only=False` the deleted ones too."""
    return (await rows_of_tasks(session, {task_id}, live_only=live_only)).get(task_id, [])


async def rows_of_tasks(
    session: AsyncSession, task_ids: set[uuid.UUID], *, live_only: bool = True
) -> dict[uuid.UUID, list[tuple[str, dict[str, Any]]]]:
    """`rows_of_task` for several tasks at once: one query per entity."""
    found: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]] = {task: [] for task in task_ids}
    if not task_ids:
        return found
    owners: dict[tuple[str, uuid.UUID], uuid.UUID] = {}  # a media owner's task
    for owner in (Purchase, Receipt):  # deleted owners too, as `_in_tasks` reads them
        named = select(owner.id, owner.task_id).where(owner.task_id.in_(task_ids))
        for row_id, task in (await session.execute(named)).all():
            if task is not None:
                owners[(owner.__tablename__[:-1], row_id)] = task
    for entity in SNAPSHOT_ORDER:
        model: Any = MODELS[entity]
        statement = select(model.__table__).where(_in_tasks(entity, task_ids))
        if live_only and hasattr(model, "deleted_at"):
            statement = statement.where(model.deleted_at.is_(None))
        for mapping in (await session.execute(statement)).mappings():
            row = dict(mapping)
            task = task_of_row(entity, row, owners)
            if task in found:
                found[task].append((entity, row))
    return found


def task_of_row(
    entity: str, row: dict[str, Any], owners: dict[tuple[str, uuid.UUID], uuid.UUID]
) -> uuid.UUID | None:
    """The task a row hangs off (a media asset through its owner: `owners` maps a
    purchase or receipt to its task)."""
    if entity == "task":
        return row["id"]  # type: ignore[no-any-return]
    if entity != "media_asset":
        return row.get("task_id")
    if row["owner_type"] == "task":
        return row["owner_id"]  # type: ignore[no-any-return]
    return owners.get((row["owner_type"], row["owner_id"]))


async def assigned_task_ids(session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    """The tasks assigned to a user (the scope of a technician: every pull, push
    and live session loads it).

    On PostgreSQL one statement on the session's own connection, and asyncpg's
    UUIDs left as they are (a subclass of Python's that compares and hashes as
    it does): converting a thousand cost more than the read, and so did the
    ORM's statement handling."""
    if session.get_bind().dialect.name == "postgresql":
        found = await (await driver_connection(session)).fetch(
            "SELECT task_id FROM task_assignments WHERE tenant_id = $1 AND user_id = $2"
            " AND active AND deleted_at IS NULL",
            tenant_of(session),
            user_id,
        )
        return {record[0] for record in found}
    result = await session.execute(
        select(TaskAssignment.task_id).where(
            TaskAssignment.user_id == user_id,
            TaskAssignment.active.is_(True),
            TaskAssignment.deleted_at.is_(None),
        )
    )
    return set(result.scalars())
