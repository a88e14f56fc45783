"""Persistence for sync: the version counter, synced rows in bulk, the change
log, push batches and devices. Every function takes a tenant-bound session
(storage.unit_of_work.TenantUnitOfWork) and never a tenant id.

Rows cross this boundary as plain dicts of JSON values (ISO 8601 datetimes,
UUIDs as strings), the same shape devices receive in `data`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from storage.models import (
    ChangeLogEntry,
    Device,
    MediaAsset,
    Purchase,
    PushBatch,
    Receipt,
    Task,
    TaskAssignment,
    TaskEvent,
    TenantVersion,
)
from storage.types import UTCDateTime, utcnow

MODELS: dict[str, type[DeclarativeBase]] = {
    "task": Task,
    "task_assignment": TaskAssignment,
    "task_event": TaskEvent,
    "purchase": Purchase,
    "receipt": Receipt,
    "media_asset": MediaAsset,
}
SNAPSHOT_ORDER: tuple[str, ...] = tuple(MODELS)
HIDDEN_COLUMNS = frozenset({"tenant_id", "field_clocks"})


class ClientBound(Exception):
    """The client id already belongs to another user of the tenant."""


def _table(entity: str) -> Any:
    return MODELS[entity].__table__


def row_to_json(entity: str, row: Any) -> dict[str, Any]:
    """A row (ORM mapping) as the JSON `data` devices receive."""
    data: dict[str, Any] = {}
    for column in _table(entity).columns:
        if column.key in HIDDEN_COLUMNS:
            continue
        value = row[column.key]
        if isinstance(value, datetime):
            value = value.isoformat().replace("+00:00", "Z")
        elif isinstance(value, uuid.UUID):
            value = str(value)
        data[column.key] = value
    return data


def json_to_row(entity: str, data: dict[str, Any]) -> dict[str, Any]:
    """JSON values back to column values (datetimes and UUIDs parsed)."""
    row: dict[str, Any] = {}
    columns = _table(entity).columns
    for key, value in data.items():
        column = columns.get(key)
        if column is None:
            continue
        if value is not None and isinstance(column.type, UTCDateTime) and isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif value is not None and isinstance(column.type, Uuid) and isinstance(value, str):
            value = uuid.UUID(value)
        row[key] = value
    return row


def new_row(entity: str) -> dict[str, Any]:
    """A row of `entity` holding every column's Python-side default."""
    row: dict[str, Any] = {}
    for column in _table(entity).columns:
        default = column.default
        if column.key == "tenant_id":
            continue
        if default is None:
            row[column.key] = None
        elif default.is_callable:
            row[column.key] = default.arg(None)
        else:
            row[column.key] = default.arg
    return row


async def lock_version(session: AsyncSession) -> int:
    """The tenant's version, locked until the transaction ends (guarantee 3)."""
    version = await session.scalar(select(TenantVersion.version).with_for_update())
    if version is None:
        session.add(TenantVersion(version=0))
        await session.flush()
        return 0
    return int(version)


async def current_version(session: AsyncSession) -> int:
    return int(await session.scalar(select(TenantVersion.version)) or 0)


async def set_version(session: AsyncSession, version: int) -> None:
    await session.execute(update(TenantVersion).values(version=version))


async def load_rows(
    session: AsyncSession, entity: str, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Current rows by id, as column dicts including `field_clocks`."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    model: Any = MODELS[entity]
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        result = await session.execute(select(model.__table__).where(model.id.in_(chunk)))
        for row in result.mappings():
            found[row["id"]] = dict(row)
    return found


async def upsert_rows(session: AsyncSession, entity: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update whole rows in one statement per batch (keyed by tenant and id)."""
    if not rows:
        return
    model: Any = MODELS[entity]
    dialect = session.get_bind().dialect.name
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = set(model.__table__.columns.keys())
    keys = sorted({key for row in rows for key in row} & columns)
    statement = dialect_insert(model)
    updates = {key: statement.excluded[key] for key in keys if key not in ("tenant_id", "id")}
    statement = statement.on_conflict_do_update(index_elements=["tenant_id", "id"], set_=updates)
    filled = [{key: row.get(key) for key in keys} for row in rows]
    await session.execute(statement, filled)


async def append_log(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    if entries:
        await session.execute(insert(ChangeLogEntry), list(entries))


async def read_log(
    session: AsyncSession, after: int, limit: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """Up to `limit` change-log entries after a version, in version order.

    Answers (entries, the version read up to, whether more may follow).
    """
    statement = (
        select(ChangeLogEntry.__table__)
        .where(ChangeLogEntry.version > after)
        .order_by(ChangeLogEntry.version)
        .limit(limit)
    )
    rows = [dict(row) for row in (await session.execute(statement)).mappings()]
    scanned_to = rows[-1]["version"] if rows else after
    return rows, scanned_to, len(rows) == limit


async def note_pull(session: AsyncSession, client_id: str, user_id: uuid.UUID, cursor: int) -> None:
    """Remember how far a device has pulled (device sync health)."""
    device = await session.get(Device, (_tenant_of(session), client_id))
    if device is None or device.user_id != user_id:
        return
    device.cursor = cursor
    device.last_seen_at = utcnow()


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
    session: AsyncSession, task_id: uuid.UUID
) -> list[tuple[str, dict[str, Any]]]:
    """The task and every live row that hangs off it, as (entity, row)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for entity in SNAPSHOT_ORDER:
        model: Any = MODELS[entity]
        statement = select(model.__table__).where(_in_tasks(entity, {task_id}))
        if hasattr(model, "deleted_at"):
            statement = statement.where(model.deleted_at.is_(None))
        found.extend((entity, dict(row)) for row in (await session.execute(statement)).mappings())
    return found


async def assigned_task_ids(session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    result = await session.execute(
        select(TaskAssignment.task_id).where(
            TaskAssignment.user_id == user_id,
            TaskAssignment.active.is_(True),
            TaskAssignment.deleted_at.is_(None),
        )
    )
    return set(result.scalars())


async def find_batch(session: AsyncSession, client_id: str, batch_id: str) -> PushBatch | None:
    result = await session.execute(
        select(PushBatch).where(PushBatch.client_id == client_id, PushBatch.batch_id == batch_id)
    )
    return result.scalar_one_or_none()


async def save_batch(
    session: AsyncSession,
    client_id: str,
    batch_id: str,
    user_id: uuid.UUID,
    response: dict[str, Any],
) -> None:
    session.add(
        PushBatch(client_id=client_id, batch_id=batch_id, user_id=user_id, response=response)
    )


async def bind_device(
    session: AsyncSession, client_id: str, user_id: uuid.UUID, user_agent: str | None
) -> Device:
    """The device row for `client_id`, created for `user_id` on first use."""
    device = await session.get(Device, (_tenant_of(session), client_id))
    if device is None:
        device = Device(client_id=client_id, user_id=user_id, user_agent=user_agent)
        session.add(device)
        await session.flush()
    elif device.user_id != user_id:
        raise ClientBound(client_id)
    device.last_seen_at = utcnow()
    return device


def _tenant_of(session: AsyncSession) -> uuid.UUID:
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, uuid.UUID):
        raise RuntimeError("sync storage needs a tenant unit of work")
    return tenant_id
